#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the AWS emulator: AWS on a busy day.

    fault_proxy.py --upstream http://127.0.0.1:PORT [--throttle 0.15] [--server-error 0.03]
                   [--lost 0.05] [--seed 1]

Prints the port it listens on (loopback), then serves until killed. For each AWS request
(the service is read from the SigV4 credential scope), with the given probabilities:

- throttle: answers as AWS throttles, without forwarding (S3 503 SlowDown, EC2 503
  RequestLimitExceeded, IAM 400 Throttling);
- server-error: answers 500 InternalError without forwarding;
- lost: forwards, lets the emulator act, then resets the client's connection instead of
  answering (the response is lost after AWS acted).

`GET /__faults` returns the counts as JSON. Requests to /moto-api pass untouched.
Standard library only.
"""

import argparse
import http.client
import io
import json
import random
import re
import socket
import struct
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

THROTTLE = {
    "s3": (503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"),
    "ec2": (503, "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>fault</RequestID></Response>"),
    "iam": (400, "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>"),
}
SERVER_ERROR = {
    "s3": (500, "<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"),
    "ec2": (500, "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred.</Message></Error></Errors><RequestID>fault</RequestID></Response>"),
    "iam": (500, "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>Internal failure</Message></Error><RequestId>fault</RequestId></ErrorResponse>"),
}
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--throttle", type=float, default=0.0)
    ap.add_argument("--server-error", type=float, default=0.0)
    ap.add_argument("--lost", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    up = urllib.parse.urlparse(args.upstream)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    counts = {"requests": 0, "throttled": 0, "server_error": 0, "lost": 0, "by_operation": {}, "calls": {}}

    def pick():
        with lock:
            r = rng.random()
        if r < args.throttle:
            return "throttled"
        if r < args.throttle + args.server_error:
            return "server_error"
        if r < args.throttle + args.server_error + args.lost:
            return "lost"
        return "ok"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def answer(self, status, headers, payload):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def handle_any(self):
            payload = self.body()
            if self.path.startswith("/__faults"):
                with lock:
                    data = json.dumps(counts).encode()
                return self.answer(200, [("Content-Type", "application/json")], data)
            m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", self.headers.get("Authorization", ""))
            service = m.group(1) if m else None
            action = re.search(rb"Action=([A-Za-z]+)", payload)
            op = action.group(1).decode() if action else f"{self.command} {service}"
            fault = pick() if service in THROTTLE and not self.path.startswith("/moto-api") else "ok"
            with lock:
                counts["requests"] += 1
                counts["calls"][op] = counts["calls"].get(op, 0) + 1
                if fault != "ok":
                    counts[fault] += 1
                    key = f"{fault} {op}"
                    counts["by_operation"][key] = counts["by_operation"].get(key, 0) + 1
            if fault == "throttled":
                status, xml = THROTTLE[service]
                return self.answer(status, [("Content-Type", "text/xml")], xml.encode())
            if fault == "server_error":
                status, xml = SERVER_ERROR[service]
                return self.answer(status, [("Content-Type", "text/xml")], xml.encode())
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Content-Length"] = str(len(payload))
            conn.request(self.command, self.path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if fault == "lost":
                # The emulator acted; the client never hears: reset the connection.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                # The file objects hold the socket open: close them all so it really closes (RST).
                self.wfile.close()
                self.rfile.close()
                self.connection.close()
                self.wfile = io.BytesIO()  # the server flushes it after every request
                return
            self.answer(resp.status, resp.getheaders(), data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
