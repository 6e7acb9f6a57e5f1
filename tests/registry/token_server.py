#!/usr/bin/env python3
"""A registry token service (the Docker Hub kind of auth), on 127.0.0.1, for tests.

    token_server.py KEY.pem CERT.pem USER:PASS ISSUER PORT_FILE

GET /token?service=S&scope=repository:NAME:ACTIONS answers {"token": JWT, "access_token": JWT}.
With Basic credentials equal to USER:PASS the token grants the actions asked for; with wrong
credentials it answers 401; with none it grants nothing (an anonymous token). JWTs are RS256,
signed with `openssl dgst`, and carry the certificate in `x5c`, which the registry checks
against its rootcertbundle. The port it listens on is written to PORT_FILE.
"""
import base64
import http.server
import json
import os
import subprocess
import sys
import time
import urllib.parse

key, cert, creds, issuer, port_file = sys.argv[1:6]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


with open(cert) as f:
    pem = f.read()
der = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))


def sign(claims):
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input,
                         capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        granted = False
        if auth.startswith("Basic "):
            if base64.b64decode(auth[6:]).decode() != creds:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            granted = True
        access = []
        for scope in q.get("scope", []):
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) == 3 and granted:
                    access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
        now = int(time.time())
        token = sign({"iss": issuer, "sub": creds.split(":")[0] if granted else "", "aud": q.get("service", [""])[0],
                      "exp": now + 300, "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
