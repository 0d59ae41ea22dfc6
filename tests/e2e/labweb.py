#!/usr/bin/env python3
"""labweb.py - a public web server for the NAT lab's proxy-only sites, and
the raw clients that measure what a proxy does to its traffic
(tests/e2e/natlab.sh, test_natlab.sh). Python 3 standard library only.

  serve    HTTP/1.1 server (http.server subclass, one thread per connection):
           GET  /hello             "hello CLIENT-IP\\n"
           GET  /stream?n=N&ms=M   chunked; N chunks "chunk I T\\n", one
                                   every M ms; T = time.time() at sending
           GET  /idle?secs=S       chunked; "start T\\n", then nothing for S
                                   seconds, then "end T\\n" (a long poll)
           POST /post              reads Content-Length bytes as they come;
                                   a body made of lines "piece I T\\n" gets
                                   "got BYTES lag MAX_S lags L0,L1,...\\n"
                                   back: Li = arrival - T of piece i, MAX_S
                                   the largest of them
           GET  /upgrade           offered "Upgrade: tund-relay/1" with
                                   "Connection: upgrade": 101, then echoes
                                   bytes until EOF (10 s idle limit); not
                                   offered: 426 "no upgrade offered (...)"
           One log line per request on stdout: client, method, path, and
           the Upgrade header as received ("-" when absent).
  get      GET URL through --proxy; prints "STATUS BODY"
  connect  CONNECT --target HOST:PORT through --proxy; prints the status,
           then (when 200) the first line the target sent through the tunnel
  upgrade  GET URL through --proxy offering tund-relay/1; prints the status,
           and "echo ok" / "echo failed" when it was 101
  post     POST URL through --proxy with Content-Length, the body written in
           --pieces pieces --gap-ms apart; prints the server's answer

Times are time.time(): the namespaces of one lab share the host's clock.
Every wait is bounded (socket timeouts, --lifetime, secs <= 600).
"""

import argparse
import http.server
import socket
import sys
import threading
import time
import urllib.parse

UPGRADE_PROTO = "tund-relay/1"


# ---------------------------------------------------------------- server


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "labweb/1"

    def log_message(self, fmt, *args):
        pass  # one line per request, from note(), instead

    def note(self):
        print("%s %s %s upgrade=%s" % (self.client_address[0], self.command, self.path,
                                       self.headers.get("Upgrade", "-")), flush=True)

    def fixed(self, status, body, extra=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def chunked_start(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.flush()

    def chunked_end(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        self.note()
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path == "/hello":
            self.fixed(200, "hello %s\n" % self.client_address[0])
        elif url.path == "/stream":
            n, ms = min(int(q.get("n", 5)), 1000), min(int(q.get("ms", 500)), 10000)
            self.chunked_start()
            for i in range(n):
                if i:
                    time.sleep(ms / 1000.0)
                self.chunk("chunk %d %.6f\n" % (i, time.time()))
            self.chunked_end()
        elif url.path == "/idle":
            secs = min(float(q.get("secs", 1)), 600.0)
            self.chunked_start()
            self.chunk("start %.6f\n" % time.time())
            time.sleep(secs)
            self.chunk("end %.6f\n" % time.time())
            self.chunked_end()
        elif url.path == "/upgrade":
            self.upgrade()
        else:
            self.fixed(404, "no such path\n")

    def upgrade(self):
        offered = [p.strip() for p in self.headers.get("Upgrade", "").split(",")]
        conn = [t.strip().lower() for t in self.headers.get("Connection", "").split(",")]
        if UPGRADE_PROTO not in offered or "upgrade" not in conn:
            self.fixed(426, "no upgrade offered (Upgrade: %s, Connection: %s)\n" %
                       (self.headers.get("Upgrade", "-"), self.headers.get("Connection", "-")),
                       [("Upgrade", UPGRADE_PROTO), ("Connection", "Upgrade")])
            return
        self.send_response(101)
        self.send_header("Upgrade", UPGRADE_PROTO)
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        self.connection.settimeout(10)
        try:
            for _ in range(10000):
                data = self.rfile.read1(65536)
                if not data:
                    break
                self.wfile.write(data)
                self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True

    def do_POST(self):
        self.note()
        left = int(self.headers.get("Content-Length", "0"))
        total, lags, buf = 0, [], b""
        self.connection.settimeout(30)
        while left > 0:
            data = self.rfile.read1(min(left, 65536))
            if not data:
                break
            now = time.time()
            left -= len(data)
            total += len(data)
            buf += data
            *lines, buf = buf.split(b"\n")
            for line in lines:
                w = line.split()
                if len(w) == 3 and w[0] == b"piece":
                    lags.append(now - float(w[2]))
        self.fixed(200, "got %d lag %.3f lags %s\n" % (
            total, max(lags, default=0.0), ",".join("%.3f" % x for x in lags)))


def serve(args):
    httpd = http.server.ThreadingHTTPServer((args.addr, args.port), Handler)
    httpd.daemon_threads = True
    print("labweb: serving http on %s:%d" % (args.addr, args.port), flush=True)
    threading.Timer(args.lifetime, httpd.shutdown).start()
    httpd.serve_forever()
    return 0


# --------------------------------------------------------------- clients


def dial(proxy, timeout):
    host, port = proxy.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_head(sock):
    """Reads up to the end of the response head; returns (status, head, rest)."""
    buf = b""
    for _ in range(1000):
        if b"\r\n\r\n" in buf:
            break
        data = sock.recv(4096)
        if not data:
            break
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    words = head.split(b" ", 2)
    status = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
    return status, head.decode("latin-1"), rest


def read_body(sock, head, rest):
    """The body of a response with Content-Length (or up to EOF)."""
    n = None
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            n = int(v)
    for _ in range(10000):
        if n is not None and len(rest) >= n:
            break
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    return rest.decode("latin-1")


def client_get(args):
    with dial(args.proxy, args.timeout) as s:
        host = urllib.parse.urlsplit(args.url).netloc
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" %
                   (args.url, host)).encode())
        status, head, rest = read_head(s)
        print(status, read_body(s, head, rest).strip())
    return 0 if status == 200 else 1


def client_connect(args):
    with dial(args.proxy, args.timeout) as s:
        s.sendall(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (args.target, args.target)).encode())
        status, _, rest = read_head(s)
        print(status)
        if status != 200:
            return 1
        for _ in range(100):
            if b"\n" in rest:
                break
            data = s.recv(4096)
            if not data:
                break
            rest += data
        print(rest.split(b"\n")[0].decode("latin-1"))
    return 0


def client_upgrade(args):
    with dial(args.proxy, args.timeout) as s:
        host = urllib.parse.urlsplit(args.url).netloc
        s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n" %
                   (args.url, host, UPGRADE_PROTO)).encode())
        status, head, rest = read_head(s)
        if status != 101:
            print(status, read_body(s, head, rest).strip())
            return 0
        probe = b"tund-relay echo %f\n" % time.time()
        s.sendall(probe)
        got = rest
        for _ in range(100):
            if len(got) >= len(probe):
                break
            data = s.recv(4096)
            if not data:
                break
            got += data
        print(status, "echo ok" if got == probe else "echo failed")
    return 0


def client_post(args):
    # Fixed-width pieces, so Content-Length is known before the times are.
    piece = b"piece %06d %017.6f\n"
    size = len(piece % (0, 0.0)) * args.pieces
    host = urllib.parse.urlsplit(args.url).netloc
    with dial(args.proxy, args.timeout) as s:
        s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: text/plain\r\n"
                   "Content-Length: %d\r\nConnection: close\r\n\r\n" % (args.url, host, size)).encode())
        sent = 0
        for i in range(args.pieces):
            if i:
                time.sleep(args.gap_ms / 1000.0)
            data = piece % (i, time.time())
            s.sendall(data)
            sent += len(data)
        assert sent == size
        status, head, rest = read_head(s)
        print(status, read_body(s, head, rest).strip())
    return 0 if status == 200 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--addr", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--lifetime", type=float, default=3600.0)
    for name in ("get", "connect", "upgrade", "post"):
        c = sub.add_parser(name)
        c.add_argument("--proxy", required=True, help="HOST:PORT")
        c.add_argument("--timeout", type=float, default=5.0)
        if name == "connect":
            c.add_argument("--target", required=True, help="HOST:PORT")
        else:
            c.add_argument("url")
        if name == "post":
            c.add_argument("--pieces", type=int, default=5)
            c.add_argument("--gap-ms", type=int, default=300)
    args = ap.parse_args()
    fn = {"serve": serve, "get": client_get, "connect": client_connect,
          "upgrade": client_upgrade, "post": client_post}[args.cmd]
    try:
        return fn(args)
    except OSError as e:
        print("labweb %s: %s" % (args.cmd, e), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
