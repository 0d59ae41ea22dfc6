#!/usr/bin/env python3
"""connect_probe.py - time to the first reply through a freshly started tund.

Run inside the client's namespace. Starts tund (the command after "--"),
then sends one small UDP datagram every INTERVAL ms to the recorder's echo
port at TARGET until the first echo comes back, and prints the milliseconds
from tund's start to that reply. Sends that fail (no route yet, because
the TUN device is still coming up) are retried; the first packet that
reaches the TUN therefore goes out within INTERVAL of the device being
ready, so the figure is an upper bound on "first packet to first reply".
Stops tund (SIGTERM) before exiting. Bounded by --timeout.
"""
import argparse
import select
import signal
import socket
import subprocess
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--target", required=True)
ap.add_argument("--port", type=int, default=7007)
ap.add_argument("--interval-ms", type=float, default=2.0)
ap.add_argument("--timeout", type=float, default=8.0)
ap.add_argument("--log", required=True)
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd

log = open(a.log, "ab")
t0 = time.monotonic()
proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
result = None
first_sent = None
seq = 0
try:
    while time.monotonic() - t0 < a.timeout:
        try:
            s.sendto(b"probe %d" % seq, (a.target, a.port))
            if first_sent is None:
                first_sent = time.monotonic()
        except OSError:
            pass
        seq += 1
        r, _, _ = select.select([s], [], [], a.interval_ms / 1000)
        if r:
            try:
                s.recvfrom(2048)
                result = time.monotonic()
                break
            except OSError:
                pass
        if proc.poll() is not None:
            break
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
if result is None:
    print("timeout")
    sys.exit(1)
print("%.1f %.1f" % ((result - t0) * 1000, (result - (first_sent or t0)) * 1000))
