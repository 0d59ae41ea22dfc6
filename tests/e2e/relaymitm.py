#!/usr/bin/env python3
"""relaymitm.py - the lab's man in the middle on the way to tund-relay:
a TCP forwarder that passes the HTTP exchange untouched and then, in the
frame stream (shared/tcpframe.h), flips one byte of the ciphertext of
every Nth PACKET frame in both directions. tund must drop those packets
(AEAD) and count them; nothing altered may reach the TUN.

  relaymitm.py LISTEN_ADDR PORT RELAY_ADDR RELAY_PORT EVERY STATS_FILE

STATS_FILE is rewritten with "flipped N" after every flip.
"""
import socket
import sys
import threading

listen_addr, port, relay_addr, relay_port, every, stats = (
    sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
lock = threading.Lock()
flipped = 0
packets = 0


def note_flip():
    global flipped
    with lock:
        flipped += 1
        with open(stats, "w") as f:
            f.write("flipped %d\n" % flipped)


def pump(src, dst):
    """Copies src to dst: the HTTP head as is, then frame by frame."""
    global packets
    buf = b""
    head_done = False
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            buf += data
            if not head_done:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    continue
                dst.sendall(buf[:end + 4])
                buf = buf[end + 4:]
                head_done = True
            out = bytearray()
            while len(buf) >= 4:
                ftype = buf[0]
                flen = int.from_bytes(buf[1:4], "big")
                if len(buf) < 4 + flen:
                    break
                frame = bytearray(buf[:4 + flen])
                buf = buf[4 + flen:]
                # PACKET frames whose body is a DATA message (0xc4) with a
                # payload: flip a byte well inside the ciphertext.
                if ftype == 1 and flen > 64 and frame[4] == 0xc4:
                    with lock:
                        packets += 1
                        hit = packets % every == 0
                    if hit:
                        frame[4 + 40] ^= 0x5a
                        note_flip()
                out += frame
            if out:
                dst.sendall(bytes(out))
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def handle(c):
    try:
        r = socket.create_connection((relay_addr, relay_port), timeout=10)
    except OSError:
        c.close()
        return
    r.settimeout(None)
    threading.Thread(target=pump, args=(c, r), daemon=True).start()
    threading.Thread(target=pump, args=(r, c), daemon=True).start()


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((listen_addr, port))
ls.listen(64)
with open(stats, "w") as f:
    f.write("flipped 0\n")
while True:
    conn, _ = ls.accept()
    threading.Thread(target=handle, args=(conn,), daemon=True).start()
