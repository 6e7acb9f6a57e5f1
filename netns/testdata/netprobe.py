#!/usr/bin/python3
"""Test servers and clients for netns_test.sh: everything it sends stays on addresses the test
made (inside its network namespaces and bridges) or on 127.0.0.1.

  netprobe.py serve tcp:PORT|udp:PORT ...   answer "ok PORT" on each (until killed); prints
                                            "ready" once every port is bound
  netprobe.py tcp HOST PORT [SERVED]        connect, expect "ok SERVED" (SERVED defaults to
                                            PORT; it differs through a port mapping); exit 0
                                            only then
  netprobe.py udp HOST PORT                 send a datagram, expect "ok PORT" within a second
"""
import socket
import sys
import threading


def listen_tcp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    return s


def listen_udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def serve_tcp(s, port):
    while True:
        conn, _ = s.accept()
        try:
            conn.sendall(b"ok %d\n" % port)
        finally:
            conn.close()


def serve_udp(s, port):
    while True:
        _, peer = s.recvfrom(2048)
        s.sendto(b"ok %d\n" % port, peer)


def main():
    mode = sys.argv[1]
    if mode == "serve":
        threads = []
        for spec in sys.argv[2:]:
            proto, port = spec.split(":")
            port = int(port)
            # Bound before "ready" is printed: a client started after it finds the port open.
            sock = listen_tcp(port) if proto == "tcp" else listen_udp(port)
            target = serve_tcp if proto == "tcp" else serve_udp
            t = threading.Thread(target=target, args=(sock, port), daemon=True)
            t.start()
            threads.append(t)
        print("ready", flush=True)
        for t in threads:
            t.join()
        return 0
    host, port = sys.argv[2], int(sys.argv[3])
    served = int(sys.argv[4]) if len(sys.argv) > 4 else port
    expected = b"ok %d\n" % served
    try:
        if mode == "tcp":
            with socket.create_connection((host, port), timeout=2) as s:
                got = s.recv(64)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(1)
                s.sendto(b"hello", (host, port))
                got, _ = s.recvfrom(64)
    except OSError as e:
        print("%s %s:%d: %s" % (mode, host, port, e), file=sys.stderr)
        return 1
    return 0 if got == expected else 1


if __name__ == "__main__":
    sys.exit(main())
