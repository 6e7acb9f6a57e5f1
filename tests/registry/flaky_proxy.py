#!/usr/bin/env python3
"""A proxy in front of a registry, on 127.0.0.1, that breaks blob downloads on purpose.

    flaky_proxy.py UPSTREAM_PORT PORT_FILE LOG_FILE CUTS

It forwards every request to 127.0.0.1:UPSTREAM_PORT. The first CUTS responses to a blob GET
are cut off (the connection closed) after 64 KiB of their body, as a registry that dies
mid-blob; CUTS=-1 cuts every one. Each request is logged as "METHOD PATH RANGE" to LOG_FILE.
The port it listens on is written to PORT_FILE. It serves until killed.
"""
import http.client
import http.server
import sys
import threading

upstream_port = int(sys.argv[1])
port_file, log_file, cuts = sys.argv[2], sys.argv[3], int(sys.argv[4])
lock = threading.Lock()
state = {"cuts": cuts}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.forward()

    def do_GET(self):
        self.forward()

    def forward(self):
        with lock:
            with open(log_file, "a") as f:
                f.write(f"{self.command} {self.path} {self.headers.get('Range', '-')}\n")
        conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, headers=headers)
        resp = conn.getresponse()
        body = resp.read() if self.command == "GET" else b""
        cut = False
        if self.command == "GET" and "/blobs/" in self.path and resp.status in (200, 206) and len(body) > 65536:
            with lock:
                if state["cuts"] != 0:
                    cut = True
                    state["cuts"] -= 1 if state["cuts"] > 0 else 0
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close" if cut else "keep-alive")
        self.end_headers()
        if cut:
            self.wfile.write(body[:65536])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
        conn.close()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.rename(port_file + ".tmp", port_file)
server.serve_forever()
