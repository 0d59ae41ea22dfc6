#!/usr/bin/env python3
"""tcpsession.py - a long-lived TCP session for the lab: proof that a
connection inside the tunnel survives path changes.

  tcpsession.py serve PORT
      accepts connections and echoes every byte back.
  tcpsession.py run HOST PORT SECONDS
      connects once, then every 50 ms sends a numbered 64-byte line and
      checks that the echoes come back complete and in order. Prints one
      line: "ok N lines, longest wait W ms" and exits 0, or "error: ..."
      (reset, wrong bytes, a wait over 30 s) and exits 1.
"""
import socket
import sys
import threading
import time


def serve(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(8)

    def echo(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                c.sendall(b)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def run(host, port, seconds):
    s = socket.create_connection((host, port), timeout=30)
    s.settimeout(30)
    end = time.monotonic() + seconds
    n = 0
    worst = 0.0
    buf = b""
    try:
        while time.monotonic() < end:
            line = ("%08d " % n).encode() + b"x" * 54 + b"\n"
            t = time.monotonic()
            s.sendall(line)
            while len(buf) < len(line):
                chunk = s.recv(4096)
                if not chunk:
                    print("error: connection closed by the far end after %d lines" % n)
                    return 1
                buf += chunk
            if buf[:len(line)] != line:
                print("error: line %d came back as %r" % (n, buf[:len(line)]))
                return 1
            buf = buf[len(line):]
            worst = max(worst, time.monotonic() - t)
            n += 1
            time.sleep(0.05)
    except OSError as e:
        print("error: %s after %d lines" % (e, n))
        return 1
    s.close()
    print("ok %d lines, longest wait %d ms" % (n, worst * 1000))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        sys.exit(run(sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
