#!/usr/bin/env python3
"""rtspcam.py - the demo recorder's camera: a small RTSP server (RFC 2326)
that hands one live H.264 stream to any number of players.

ffmpeg does the video: it encodes a test pattern and sends it as RTP (and
RTCP) to this program over the loopback, and writes the stream's session
description to an SDP file. This program answers the RTSP requests players
send (OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, SET_PARAMETER,
TEARDOWN) and copies every RTP and RTCP packet from ffmpeg to each playing
client: interleaved on the RTSP connection (RTP/AVP/TCP, what most VMS
clients use through firewalls) or as UDP datagrams to the ports the client
named (RTP/AVP). ffmpeg's RTSP output cannot serve players itself: it only
pushes to a server.

Deliberately small: one stream with one track, no authentication, no
seeking. Packets are forwarded unchanged, so every client sees ffmpeg's
sequence numbers, timestamps and SSRC. A player that joins mid-stream gets
video from the next key frame on (the packet carrying its sequence
parameter set; the demo tells ffmpeg to make a key frame every second), so
its decoder never sees a frame it cannot decode.
A slow TCP client loses packets (a bounded queue per client) rather than
holding up the others. A client's session ends when its RTSP connection
closes.

Usage: rtspcam.py --sdp FILE [--listen ADDR:PORT] [--path /live]
                  [--rtp-port 5004] [--name TEXT]
"""

import argparse
import os
import queue
import select
import socket
import struct
import sys
import threading

MAX_LINE = 4096        # bytes in one request or header line
MAX_HEADERS = 64       # header lines in one request
MAX_BODY = 65536       # bytes of a request body (skipped)
MAX_CLIENTS = 32       # RTSP connections at once
QUEUE_PACKETS = 2000   # per TCP client: about 5 s of this stream
SESSION_TIMEOUT = 60   # seconds, announced in the Session header


def log(*args):
    print("rtspcam:", *args, file=sys.stderr, flush=True)


def starts_key_frame(pkt):
    """True for an RTP packet whose H.264 payload (RFC 6184) begins with a
    sequence parameter set (NAL type 7), alone or first in a STAP-A (type
    24): x264 puts one before every key frame."""
    if len(pkt) < 12 or pkt[0] >> 6 != 2:
        return False
    off = 12 + 4 * (pkt[0] & 0x0F)
    if pkt[0] & 0x10:                       # header extension
        if len(pkt) < off + 4:
            return False
        off += 4 + 4 * struct.unpack("!H", pkt[off + 2:off + 4])[0]
    if len(pkt) <= off:
        return False
    nal = pkt[off] & 0x1F
    if nal == 24:                           # STAP-A: 16-bit size, then the NAL
        return len(pkt) > off + 3 and pkt[off + 3] & 0x1F == 7
    return nal == 7


class Hub:
    """Receives ffmpeg's RTP (port P) and RTCP (port P+1) and fans them out."""

    def __init__(self, rtp_port):
        self.lock = threading.Lock()
        self.clients = set()
        self.socks = []
        for port in (rtp_port, rtp_port + 1):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", port))
            self.socks.append(s)

    def add(self, client):
        with self.lock:
            self.clients.add(client)

    def remove(self, client):
        with self.lock:
            self.clients.discard(client)

    def run(self):
        while True:
            ready, _, _ = select.select(self.socks, [], [])
            for s in ready:
                data = s.recv(65536)
                kind = 0 if s is self.socks[0] else 1
                with self.lock:
                    targets = list(self.clients)
                for c in targets:
                    c.offer(kind, data)


class Client:
    """One RTSP connection and the session set up on it."""

    def __init__(self, conn, addr, args, hub, sdp_text):
        self.conn = conn
        self.addr = addr
        self.args = args
        self.hub = hub
        self.sdp_text = sdp_text
        self.wlock = threading.Lock()
        self.session = os.urandom(6).hex()
        self.mode = None          # "tcp" or "udp" after SETUP
        self.channels = (0, 1)    # interleaved channels for RTP, RTCP
        self.udp = None           # our UDP socket pair for RTP/AVP
        self.udp_dest = None      # (client RTP port, client RTCP port)
        self.queue = queue.Queue(QUEUE_PACKETS)
        self.dropped = 0
        self.keyed = False        # a key frame has started for this client

    # ---------------------------------------------------------- media

    def offer(self, kind, data):
        if kind == 0 and not self.keyed:
            if not starts_key_frame(data):
                return
            self.keyed = True
        if self.mode == "udp":
            try:
                self.udp[kind].sendto(data, (self.addr[0], self.udp_dest[kind]))
            except OSError:
                pass   # unreachable for now: RTP over UDP is lossy anyway
            return
        try:
            self.queue.put_nowait((kind, data))
        except queue.Full:
            self.dropped += 1

    def sender(self):
        while True:
            item = self.queue.get()
            if item is None:
                return
            kind, data = item
            frame = struct.pack("!cBH", b"$", self.channels[kind], len(data)) + data
            try:
                with self.wlock:
                    self.conn.sendall(frame)
            except OSError:
                return

    # -------------------------------------------------------- requests

    def read_request(self, f):
        """(method, url, headers) or None at the end of the connection;
        interleaved packets from the client (RTCP receiver reports) are
        skipped."""
        while True:
            first = f.read(1)
            if not first:
                return None
            if first == b"$":
                head = f.read(3)
                if len(head) < 3:
                    return None
                f.read(struct.unpack("!H", head[1:3])[0])
                continue
            if first in b"\r\n":
                continue
            line = first + f.readline(MAX_LINE)
            break
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("RTSP/"):
            raise ValueError("bad request line %r" % line[:80])
        headers = {}
        for _ in range(MAX_HEADERS):
            h = f.readline(MAX_LINE)
            if not h:
                return None
            h = h.decode("latin-1").strip()
            if not h:
                break
            name, _, value = h.partition(":")
            headers[name.strip().lower()] = value.strip()
        else:
            raise ValueError("too many header lines")
        length = int(headers.get("content-length", "0") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        f.read(length)
        return parts[0], parts[1], headers

    def reply(self, cseq, status, headers=(), body=b""):
        lines = ["RTSP/1.0 %s" % status, "CSeq: %s" % cseq, "Server: tund-demo-rtspcam"]
        lines += list(headers)
        if body:
            lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        with self.wlock:
            self.conn.sendall(data)

    def path_ok(self, url):
        # rtsp://host[:port]/live, /live/, /live/track0 all name the stream.
        rest = url.split("://", 1)[-1]
        path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        return path.rstrip("/") == self.args.path or path.startswith(self.args.path + "/")

    def setup(self, cseq, headers):
        transport = headers.get("transport", "")
        for offer in transport.split(","):
            fields = [x.strip() for x in offer.split(";")]
            params = dict(x.split("=", 1) for x in fields[1:] if "=" in x)
            if fields[0] == "RTP/AVP/TCP":
                a, _, b = params.get("interleaved", "0-1").partition("-")
                self.channels = (int(a), int(b or int(a) + 1))
                self.mode = "tcp"
                t = "RTP/AVP/TCP;unicast;interleaved=%d-%d" % self.channels
                break
            if fields[0] in ("RTP/AVP", "RTP/AVP/UDP") and "client_port" in params:
                a, _, b = params["client_port"].partition("-")
                self.udp_dest = (int(a), int(b or int(a) + 1))
                self.udp = self.udp_pair()
                self.mode = "udp"
                t = "RTP/AVP;unicast;client_port=%d-%d;server_port=%d-%d" % (
                    self.udp_dest + tuple(s.getsockname()[1] for s in self.udp))
                break
        else:
            self.reply(cseq, "461 Unsupported Transport")
            return
        self.reply(cseq, "200 OK", ["Transport: " + t,
                                    "Session: %s;timeout=%d" % (self.session, SESSION_TIMEOUT)])

    def udp_pair(self):
        # RTP on an even port and RTCP on the next one (RFC 3550 section 11).
        for _ in range(50):
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            a.bind((self.conn.getsockname()[0], 0))
            port = a.getsockname()[1]
            if port % 2 == 0 and port < 65535:
                b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    b.bind((self.conn.getsockname()[0], port + 1))
                    return (a, b)
                except OSError:
                    b.close()
            a.close()
        raise OSError("no free pair of UDP ports")

    def handle(self, method, url, headers):
        cseq = headers.get("cseq", "0")
        sess = ["Session: %s" % self.session]
        if method == "OPTIONS":
            self.reply(cseq, "200 OK", ["Public: OPTIONS, DESCRIBE, SETUP, PLAY, "
                                        "GET_PARAMETER, SET_PARAMETER, TEARDOWN"])
        elif not self.path_ok(url):
            self.reply(cseq, "404 Not Found")
        elif method == "DESCRIBE":
            self.reply(cseq, "200 OK", ["Content-Type: application/sdp",
                                        "Content-Base: %s/" % url.rstrip("/")],
                       self.sdp_text.encode())
        elif method == "SETUP":
            self.setup(cseq, headers)
        elif method == "PLAY":
            if self.mode is None:
                self.reply(cseq, "455 Method Not Valid in This State")
                return True
            self.reply(cseq, "200 OK", sess + ["Range: npt=0.000-"])
            self.hub.add(self)
            log("%s:%d playing over %s" % (self.addr[0], self.addr[1], self.mode))
        elif method in ("GET_PARAMETER", "SET_PARAMETER"):
            self.reply(cseq, "200 OK", sess)
        elif method == "TEARDOWN":
            self.reply(cseq, "200 OK", sess)
            return False
        else:
            self.reply(cseq, "501 Not Implemented")
        return True

    def run(self):
        threading.Thread(target=self.sender, daemon=True).start()
        f = self.conn.makefile("rb")
        try:
            while True:
                req = self.read_request(f)
                if req is None or not self.handle(*req):
                    break
        except (OSError, ValueError) as e:
            log("%s:%d: %s" % (self.addr[0], self.addr[1], e))
        finally:
            self.hub.remove(self)
            self.queue.put(None)
            for s in self.udp or ():
                s.close()
            self.conn.close()
            log("%s:%d done (%d packets dropped)" % (self.addr[0], self.addr[1], self.dropped))


def describe(sdp_file, name):
    """ffmpeg's SDP turned into the one players get: any address, the
    stream's name, and a control URL for the one track."""
    with open(sdp_file) as f:
        src = f.read().splitlines()
    out = []
    for line in src:
        if line.startswith("c="):
            line = "c=IN IP4 0.0.0.0"
        elif line.startswith("s="):
            line = "s=" + name
        elif line.startswith("m="):
            kind, _, rest = line[2:].split(" ", 2)
            out.append("a=control:*")
            line = "m=%s 0 %s" % (kind, rest)
        elif line.startswith("a=control:"):
            continue
        out.append(line)
    out.append("a=control:track0")
    return "\r\n".join(out) + "\r\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sdp", required=True, help="ffmpeg's -sdp_file")
    p.add_argument("--listen", default="0.0.0.0:8554")
    p.add_argument("--path", default="/live")
    p.add_argument("--rtp-port", type=int, default=5004)
    p.add_argument("--name", default="camera 1")
    args = p.parse_args()
    args.path = "/" + args.path.strip("/")

    hub = Hub(args.rtp_port)
    threading.Thread(target=hub.run, daemon=True).start()
    host, _, port = args.listen.rpartition(":")
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(16)
    log("listening on rtsp://%s%s, stream from ffmpeg on udp 127.0.0.1:%d"
        % (args.listen, args.path, args.rtp_port))
    live = threading.BoundedSemaphore(MAX_CLIENTS)
    while True:
        conn, addr = srv.accept()
        if not live.acquire(blocking=False):
            conn.close()
            continue
        try:
            sdp = describe(args.sdp, args.name)
        except OSError as e:
            log("no stream description yet (%s); is ffmpeg running?" % e)
            conn.close()
            live.release()
            continue

        def serve(c=Client(conn, addr, args, hub, sdp)):
            try:
                c.run()
            finally:
                live.release()

        threading.Thread(target=serve, daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
