#!/usr/bin/env python3
"""Deterministic HTTP server for the adaptor corpus.

Used by both the recorder (record.mjs, node + the kit) and the Rust harness, so that the
expected states match: fixed Date and Server headers, no varying values in bodies.

Usage: python3 server.py [PORT]   (PORT defaults to $CORPUS_PORT, else 0 = any free port)
Prints `listening <port>` on the first line of stdout once it accepts connections.

Every response waits 2 ms first: language-http logs a request (`GET … - 200 in <n>ms`) only
when its measured duration (whole milliseconds) is not 0, so a faster answer would drop the
expected log line now and then.
"""

import gzip
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def parse_multipart(body, content_type):
    """Field names and values of a multipart/form-data body (the boundary varies by client)."""
    boundary = None
    for part in content_type.split(";"):
        part = part.strip()
        if part.startswith("boundary="):
            boundary = part[len("boundary="):].strip('"')
    if boundary is None:
        return {}
    fields = {}
    for chunk in body.split(b"--" + boundary.encode()):
        chunk = chunk.strip(b"\r\n")
        if not chunk or chunk == b"--":
            continue
        head, _, value = chunk.partition(b"\r\n\r\n")
        name = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition"):
                for item in line.split(";"):
                    item = item.strip()
                    if item.startswith("name="):
                        name = item[len("name="):].strip('"')
        if name is not None:
            fields[name] = value.decode("utf-8", "replace")
    return fields


class Handler(BaseHTTPRequestHandler):
    def version_string(self):
        return "corpus"

    def date_time_string(self, timestamp=None):
        return "Mon, 01 Jan 2024 00:00:00 GMT"

    def log_message(self, format, *args):
        pass

    def send(self, status, body, content_type="application/json", extra=None):
        time.sleep(0.002)
        if not isinstance(body, bytes):
            if content_type == "application/json":
                body = json.dumps(body, separators=(",", ":")).encode()
            else:
                body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def echo(self):
        url = urlsplit(self.path)
        raw = self.read_body()
        ct = self.headers.get("Content-Type") or ""
        if ct.startswith("application/json"):
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode("utf-8", "replace")
        elif ct.startswith("multipart/form-data"):
            body = parse_multipart(raw, ct)
            ct = "multipart/form-data"
        elif ct.startswith("application/x-www-form-urlencoded"):
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = raw.decode("utf-8", "replace")
        self.send(200, {
            "method": self.command,
            "path": url.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in parse_qs(url.query).items()},
            "contentType": ct,
            "custom": self.headers.get("X-Custom"),
            "body": body,
        })

    def route(self):
        path = urlsplit(self.path).path
        if path.startswith("/echo"):
            return self.echo()
        if path == "/json":
            return self.send(200, {"hello": "world", "n": 1})
        if path == "/items":
            return self.send(200, {"items": [
                {"id": 1, "name": "alpha", "tags": ["a", "b"]},
                {"id": 2, "name": "beta", "tags": ["b"]},
                {"id": 3, "name": "gamma", "tags": []},
            ]})
        if path == "/text":
            return self.send(200, "plain text", "text/plain")
        if path == "/csv":
            return self.send(200, "name,age\nann,30\nbob,41\n", "text/csv")
        if path == "/redirect":
            return self.send(302, "", "text/plain", {"Location": "/json"})
        if path == "/redirect-twice":
            return self.send(301, "", "text/plain", {"Location": "/redirect"})
        if path == "/gzip":
            data = gzip.compress(b'{"zipped":true,"list":[1,2,3]}', mtime=0)
            return self.send(200, data, "application/json", {"Content-Encoding": "gzip"})
        if path == "/auth":
            return self.send(200, {"authorization": self.headers.get("Authorization")})
        if path == "/missing":
            return self.send(404, {"error": "nope"})
        if path == "/fail":
            return self.send(500, {"error": "boom"})
        if path == "/created":
            self.read_body()
            return self.send(201, {"created": True})
        return self.send(404, {"error": "no route " + path})

    do_GET = route
    do_POST = route
    do_PUT = route
    do_PATCH = route
    do_DELETE = route


def main():
    port = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CORPUS_PORT", "0"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print("listening %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
