#!/usr/bin/env python3
"""natprobe.py - the NAT lab's self-check (tests/e2e/natlab.sh).

Two roles, python3 standard library only:

  serve  on a public "probe" host with two addresses A, B and two UDP ports
         p1, p2 (four sockets) plus one TCP port on A. It answers and
         reflects; it keeps no state between datagrams.
  check  on a site host behind a lab NAT router: measures the router's
         mapping and filtering behaviour against the probe server and
         compares it with what the declared NAT type must do. Prints one
         summary line; exit status 0 when the behaviour matches, 1 when it
         does not, 2 on a usage error.

Protocol (ASCII words separated by single spaces, one message per datagram):

  host -> server  "natprobe1 MAP NONCE"
  server -> host  "natprobe1 SEEN NONCE IP PORT"      from the socket asked;
                  IP:PORT is the source the server saw (the NAT mapping)
  host -> server  "natprobe1 PUNCH NONCE"             sent to (X, P)
  server -> host  "natprobe1 FROM NONCE X P"          from (X, P): a reply
                  "natprobe1 FROM NONCE X Q"          from (X, other port)
                  "natprobe1 FROM NONCE Y P"          from (other address, P)
  TCP to A:tcp    server writes "natprobe1 SEEN - IP PORT\\n" and closes.

A third role, "map", asks one server socket for the mapping of one host
port and prints it as "IP PORT" (exit 1 when nothing answers): a quick
"does UDP from here to there work" for tests.

The check uses two host source ports chosen by the caller: one only for the
mapping measurement (it talks to A:p1, A:p2 and B:p1), one only for the
filtering measurement (it talks to A:p1 alone), so the mapping probes never
open the filter that is being measured. Negative results are absences, so
every wait is a fixed short window; replies and reflections are sent back to
back by the server, so once the reply from A:p1 has arrived the other two
are either a few microseconds behind it or never coming.

Every loop is bounded: the server by --lifetime, the check by deadlines.
"""

import argparse
import os
import selectors
import socket
import sys
import time

MAGIC = "natprobe1"
MAX_DGRAM = 512

# What each declared type must show: mapping kind and which of the three
# unsolicited-or-not sources reach the host (reply from A:p1, A:p2, B:p1).
EXPECT = {
    "none": ("identity", (True, True, True)),
    "full-cone": ("eim", (True, True, True)),
    "address-restricted": ("eim", (True, True, False)),
    "port-restricted": ("eim", (True, False, False)),
    "symmetric": ("per-destination", (True, False, False)),
    "udp-blocked": ("blocked", (False, False, False)),
}

FILTER_WORDS = {
    (True, True, True): "any source",
    (True, True, False): "same address, any port",
    (True, False, False): "replies only",
    (False, False, False): "nothing",
}


def now():
    return time.monotonic()


# ---------------------------------------------------------------- server


def serve(args):
    if len(args.addr) != 2 or len(args.port) != 2:
        print("natprobe serve: need exactly two --addr and two --port", file=sys.stderr)
        return 2
    socks = {}
    sel = selectors.DefaultSelector()
    for a in args.addr:
        for p in args.port:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((a, p))
            s.setblocking(False)
            socks[(a, p)] = s
            sel.register(s, selectors.EVENT_READ, ("udp", (a, p)))
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((args.addr[0], args.tcp_port))
    lst.listen(64)
    lst.setblocking(False)
    sel.register(lst, selectors.EVENT_READ, ("tcp", None))
    print("natprobe: serving udp %s x %s, tcp %s:%d" %
          (args.addr, args.port, args.addr[0], args.tcp_port), flush=True)

    deadline = now() + args.lifetime
    while now() < deadline:
        for key, _ in sel.select(timeout=1.0):
            kind, local = key.data
            if kind == "tcp":
                tcp_answer(lst)
            else:
                udp_answer(socks, local, args)
    return 0


def tcp_answer(lst):
    try:
        conn, peer = lst.accept()
    except OSError:
        return
    try:
        conn.settimeout(1.0)
        conn.sendall(("%s SEEN - %s %d\n" % (MAGIC, peer[0], peer[1])).encode())
    except OSError:
        pass
    finally:
        conn.close()


def send_quiet(sock, text, dest):
    try:
        sock.sendto(text.encode(), dest)
    except OSError:
        pass


def udp_answer(socks, local, args):
    sock = socks[local]
    # Drain what is queued, but never loop without bound.
    for _ in range(64):
        try:
            data, peer = sock.recvfrom(MAX_DGRAM)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        words = data.decode("ascii", "replace").split(" ")
        if len(words) != 3 or words[0] != MAGIC or not words[2].isalnum():
            continue
        verb, nonce = words[1], words[2]
        if verb == "MAP":
            send_quiet(sock, "%s SEEN %s %s %d" % (MAGIC, nonce, peer[0], peer[1]), peer)
        elif verb == "PUNCH":
            a, p = local
            other_port = args.port[1] if p == args.port[0] else args.port[0]
            other_addr = args.addr[1] if a == args.addr[0] else args.addr[0]
            for src in ((a, p), (a, other_port), (other_addr, p)):
                send_quiet(socks[src], "%s FROM %s %s %d" % (MAGIC, nonce, src[0], src[1]), peer)


# ----------------------------------------------------------------- check


def udp_socket(sport):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.setblocking(False)
    return s


def recv_words(sock, sel, until):
    """The datagrams (as word lists, with their sender) that are queued as
    soon as any is, or none if nothing arrives before the monotonic time
    until."""
    out = []
    left = until - now()
    if left <= 0 or not sel.select(timeout=left):
        return out
    for _ in range(64):
        try:
            data, peer = sock.recvfrom(MAX_DGRAM)
        except (BlockingIOError, InterruptedError):
            break
        out.append((data.decode("ascii", "replace").split(" "), peer))
    return out


def measure_mapping(args, nonce):
    """Sends MAP from one port to A:p1, A:p2, B:p1; returns the source each
    saw, as a list of (ip, port) or None, in that order."""
    a, b = args.server
    p1, p2 = args.port
    targets = [(a, p1), (a, p2), (b, p1)]
    seen = [None, None, None]
    sock = udp_socket(args.map_sport)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        for _ in range(2):
            for i, t in enumerate(targets):
                if seen[i] is None:
                    send_quiet(sock, "%s MAP %s" % (MAGIC, nonce), t)
            until = now() + args.wait_ms / 1000.0
            while now() < until and None in seen:
                for words, peer in recv_words(sock, sel, until):
                    if (len(words) == 5 and words[0] == MAGIC and words[1] == "SEEN"
                            and words[2] == nonce and peer in targets
                            and words[4].isdigit()):
                        seen[targets.index(peer)] = (words[3], int(words[4]))
            if None not in seen:
                break
    finally:
        sel.close()
        sock.close()
    return seen


def measure_filtering(args, nonce):
    """Sends PUNCH from a fresh port to A:p1 only; returns which of A:p1
    (the reply), A:p2 and B:p1 reached the host."""
    a, b = args.server
    p1, p2 = args.port
    sources = [(a, p1), (a, p2), (b, p1)]
    got = [False, False, False]
    sock = udp_socket(args.filter_sport)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        for _ in range(2):
            send_quiet(sock, "%s PUNCH %s" % (MAGIC, nonce), (a, p1))
            # Wait a full window; the rest of the burst is microseconds
            # behind whatever arrives first, so a slow server extends the
            # window once, to one full window after that first arrival.
            window = args.wait_ms / 1000.0
            until = now() + window
            extended = False
            while now() < until:
                for words, peer in recv_words(sock, sel, until):
                    if (len(words) == 5 and words[0] == MAGIC and words[1] == "FROM"
                            and words[2] == nonce and peer in sources
                            and (words[3], words[4]) == (peer[0], str(peer[1]))):
                        got[sources.index(peer)] = True
                        if not extended:
                            until = max(until, now() + window)
                            extended = True
                if all(got):
                    break
            if any(got):
                break
    finally:
        sel.close()
        sock.close()
    return tuple(got)


def measure_tcp(args):
    """The source address and port the server saw over TCP, or None."""
    try:
        limit = max(1.0, 4 * args.wait_ms / 1000.0)
        with socket.create_connection((args.server[0], args.tcp_port), timeout=limit) as s:
            s.settimeout(limit)
            data = b""
            for _ in range(8):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    words = data.decode("ascii", "replace").split()
    if len(words) == 5 and words[0] == MAGIC and words[1] == "SEEN" and words[4].isdigit():
        return (words[3], int(words[4]))
    return None


def map_once(args):
    """One MAP from --sport to --server:--port (sent up to three times);
    prints the mapping the server saw as "IP PORT", or exits 1."""
    nonce = os.urandom(6).hex()
    dest = (args.server, args.port)
    sock = udp_socket(args.sport)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    try:
        for _ in range(3):
            send_quiet(sock, "%s MAP %s" % (MAGIC, nonce), dest)
            until = now() + args.wait_ms / 1000.0
            while now() < until:
                for words, peer in recv_words(sock, sel, until):
                    if (peer == dest and len(words) == 5 and words[0] == MAGIC
                            and words[1] == "SEEN" and words[2] == nonce):
                        print(words[3], words[4])
                        return 0
    finally:
        sel.close()
        sock.close()
    print("natprobe map: no answer from %s:%d" % dest, file=sys.stderr)
    return 1


def classify_mapping(seen, args):
    if all(s is None for s in seen):
        return "blocked"
    if any(s is None for s in seen):
        return "partial"
    ips = {s[0] for s in seen}
    ports = [s[1] for s in seen]
    if len(ips) != 1:
        return "address-varies"
    if len(set(ports)) == 1:
        if ports[0] == args.map_sport and seen[0][0] == args.host_ip:
            return "identity"
        return "eim"
    if ports[0] != ports[1] and ports[0] != ports[2]:
        return "per-destination"
    return "partly-dependent"


def describe_mapping(kind, seen):
    ports = ", ".join(str(s[1]) if s else "-" for s in seen)
    ip = next((s[0] for s in seen if s), "-")
    return {
        "identity": "no translation (%s port %s)" % (ip, ports.split(",")[0]),
        "eim": "same for every destination (%s:%s)" % (ip, ports.split(",")[0]),
        "per-destination": "varies per destination (%s ports %s)" % (ip, ports),
        "blocked": "no UDP answer",
        "partial": "only some destinations answered (ports %s)" % ports,
        "address-varies": "public address varies (%s)" % seen,
        "partly-dependent": "partly destination-dependent (ports %s)" % ports,
    }[kind]


def check(args):
    if args.type not in EXPECT:
        print("natprobe check: unknown type %r" % args.type, file=sys.stderr)
        return 2
    t0 = now()
    nonce = os.urandom(6).hex()
    seen = measure_mapping(args, nonce + "m")
    got = measure_filtering(args, nonce + "f")
    tcp = measure_tcp(args)

    want_map, want_filter = EXPECT[args.type]
    kind = classify_mapping(seen, args)
    problems = []
    if kind != want_map:
        problems.append("mapping is %s, %s needs %s" % (kind, args.type, want_map))
    if kind not in ("blocked", "partial") and any(s and s[0] != args.expect_ip for s in seen):
        problems.append("public address %s, expected %s" %
                        (next(s[0] for s in seen if s), args.expect_ip))
    if got != want_filter:
        names = ("reply from A:p1", "A:p2", "B:p1")
        diff = ["%s %s" % (n, "passed" if g else "blocked")
                for n, g, w in zip(names, got, want_filter) if g != w]
        problems.append("filtering wrong: " + ", ".join(diff))
    if tcp is None:
        problems.append("TCP to the probe failed")
    elif tcp[0] != args.expect_ip:
        problems.append("TCP seen from %s, expected %s" % (tcp[0], args.expect_ip))

    tcp_text = "TCP seen from %s" % tcp[0] if tcp else "TCP failed"
    if args.type == "udp-blocked":
        text = "no UDP crosses (mapping: %s, filtering: %s), %s" % (
            describe_mapping(kind, seen), FILTER_WORDS.get(got, str(got)), tcp_text)
    else:
        text = "mapping %s, filtering: %s, %s" % (
            describe_mapping(kind, seen), FILTER_WORDS.get(got, str(got)), tcp_text)
    ms = int((now() - t0) * 1000)
    if problems:
        print("natlab: site %s %s: %s  [MISMATCH: %s] (%d ms)" %
              (args.site, args.type, text, "; ".join(problems), ms))
        return 1
    print("natlab: site %s %s: %s  [ok] (%d ms)" % (args.site, args.type, text, ms))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--addr", action="append", required=True)
    s.add_argument("--port", action="append", type=int, required=True)
    s.add_argument("--tcp-port", type=int, required=True)
    s.add_argument("--lifetime", type=float, default=6 * 3600, help="seconds")
    c = sub.add_parser("check")
    c.add_argument("--site", required=True)
    c.add_argument("--type", required=True)
    c.add_argument("--server", action="append", required=True, help="A then B")
    c.add_argument("--port", action="append", type=int, required=True, help="p1 then p2")
    c.add_argument("--tcp-port", type=int, required=True)
    c.add_argument("--expect-ip", required=True, help="public address the probe must see")
    c.add_argument("--host-ip", required=True, help="the host's own address")
    c.add_argument("--map-sport", type=int, required=True)
    c.add_argument("--filter-sport", type=int, required=True)
    c.add_argument("--wait-ms", type=int, default=250)
    m = sub.add_parser("map")
    m.add_argument("--server", required=True)
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--sport", type=int, default=0)
    m.add_argument("--wait-ms", type=int, default=200)
    args = ap.parse_args()
    if args.cmd == "serve":
        return serve(args)
    if args.cmd == "map":
        return map_once(args)
    if len(args.server) != 2 or len(args.port) != 2:
        print("natprobe check: need two --server and two --port", file=sys.stderr)
        return 2
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
