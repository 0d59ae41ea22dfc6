#!/usr/bin/env bash
#
# test_mediator.sh - end-to-end test of tund-mediator in the lab (no NAT
# yet: every host sits on a public segment of the internet core). The
# servers and clients are medclient (tests/tools/medclient.c), which speaks
# the mediator protocol and prints what it gets.
#
#                          core (router, no NAT)
#        br-pub 198.51.100.1/24                  br-hosts 203.0.113.1/24
#              |                             |              |              |
#         med eth0                      srv eth0       cli eth0       junk eth0
#         198.51.100.2                  203.0.113.10   203.0.113.20   203.0.113.66
#         tund-mediator                 medclient      medclient,     python3 flood
#         UDP+TCP 3478, UDP 3479        register       turnutils_
#         max_connections 256                          stunclient
#
# Checks (each prints PASS or FAIL):
#   1 turnutils_stunclient (coturn) gets the client's address as mapped address
#   2 Binding: plain (from 3478), change-port (from 3479), over TCP
#   3 connects: accept (the client gets the server's local and public
#     addresses), over TCP only, refuse (403, none of the server's
#     addresses), target offline (404)
#   4 a REGISTER with a wrong proof is refused with 401
#   5 a TCP connection that never authenticates is closed after 10 s
#     (one that sends only Binding requests, too)
#   6 garbage: 2000 random datagrams, 50 TCP streams of random bytes and
#     1000 half-open TCP connections; meanwhile the registered server still
#     gets a connect through, a new server registers, Binding answers; the
#     mediator stays up, evicted half-open connections, and exits cleanly
#     on SIGTERM (under ASan: without leaks)
#
# Takes about 20 s. Needs root; without it prints SKIP and exits 77. Binaries from
# $TUND_BIN_DIR (default <repo>/build): tund-mediator, medclient, tunctl.
# LAB_KEEP=1 leaves the lab up. Debian packages used: iproute2, python3,
# coturn (turnutils_stunclient).

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_need turnutils_stunclient coturn
for b in tund-mediator medclient tunctl; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not found: build first or set TUND_BIN_DIR"
done

MED=198.51.100.2
PORT=3478
ALT=3479
SRV=203.0.113.10
CLI=203.0.113.20

lab_init medtest

# Shown by run_check (lib.sh) when a check fails.
check_failed() {
	echo "    mediator log (last lines):"
	tail -n 15 "$LAB_DIR/mediator.log" | sed 's/^/    | /'
}

mc() { # NS ARGS...: medclient in NS, bounded
	local ns=$1
	shift
	lab_exec "$ns" timeout 15 "$TUND_BIN_DIR/medclient" "$@"
}

key() { # NAME: writes $LAB_DIR/NAME.key; prints the public key
	(umask 077 && "$TUND_BIN_DIR/tunctl" genkey >"$LAB_DIR/$1.key")
	"$TUND_BIN_DIR/tunctl" pubkey <"$LAB_DIR/$1.key"
}

build_lab() {
	lab_core_init
	lab_core_segment pub 198.51.100.1/24
	lab_core_segment hosts 203.0.113.1/24
	lab_ns med
	lab_core_attach med eth0 pub "$MED/24"
	local h
	for h in srv:$SRV cli:$CLI junk:203.0.113.66; do
		lab_ns "${h%%:*}"
		lab_core_attach "${h%%:*}" eth0 hosts "${h#*:}/24"
	done

	MPUB=$(key mediator)
	SPUB=$(key server)
	RPUB=$(key refuser)
	key client >/dev/null
	SYS=$("$TUND_BIN_DIR/tunctl" id "$SPUB")
	RSYS=$("$TUND_BIN_DIR/tunctl" id "$RPUB")
	OFFSYS=$("$TUND_BIN_DIR/tunctl" id "$(key nobody)")
	cat >"$LAB_DIR/mediator.conf" <<-EOF
	[mediator]
	private_key_file = $LAB_DIR/mediator.key
	listen = 0.0.0.0:$PORT
	alt_port = $ALT
	max_connections = 256
	log_level = info
	EOF
	"$TUND_BIN_DIR/tund-mediator" -c "$LAB_DIR/mediator.conf" --check-config >/dev/null ||
		lab_die "mediator.conf refused"
	lab_bg med "$LAB_DIR/mediator.log" "$TUND_BIN_DIR/tund-mediator" -c "$LAB_DIR/mediator.conf"
	MED_PID=$LAB_LAST_PID
	lab_wait_for 10 "mediator listening" grep -q "listening on" "$LAB_DIR/mediator.log" ||
		lab_die "tund-mediator did not start: $(cat "$LAB_DIR/mediator.log")"
	grep -q "public key $MPUB" "$LAB_DIR/mediator.log" || lab_die "mediator logs another public key"

	# The accepting server, registered for the whole run.
	lab_bg srv "$LAB_DIR/server.out" "$TUND_BIN_DIR/medclient" register -m "$MED:$PORT" \
		-k "$LAB_DIR/server.key" -M "$MPUB" -s nvr1 -l 192.168.1.10:41641 -l 10.9.8.7:41641 \
		--hold 55 --answer accept
	lab_wait_for 10 "server registered" grep -q '^registered' "$LAB_DIR/server.out" ||
		lab_die "server did not register: $(cat "$LAB_DIR/server.out")"
	SRV_UDP=$(awk '/^udp-port/ {print $2; exit}' "$LAB_DIR/server.out")
}

# ------------------------------------------------------------ checks

check_stunclient() {
	local out
	out=$(lab_exec cli timeout 10 turnutils_stunclient -p "$PORT" "$MED" 2>&1) || true
	note "$(grep -i 'addr' <<<"$out" | head -3)"
	grep -Eq "reflexive addr: $CLI:[0-9]+" <<<"$out"
}

check_binding() {
	local plain change tcp
	plain=$(mc cli binding -m "$MED:$PORT") || return 1
	change=$(mc cli binding -m "$MED:$PORT" --change-port) || return 1
	tcp=$(mc cli binding -m "$MED:$PORT" --tcp) || return 1
	note "plain: $(tr '\n' ' ' <<<"$plain")" "change-port: $(tr '\n' ' ' <<<"$change")" \
		"tcp: $(tr '\n' ' ' <<<"$tcp")"
	grep -q "^response-from $MED:$PORT$" <<<"$plain" &&
		grep -Eq "^mapped $CLI:[0-9]+$" <<<"$plain" &&
		grep -q "^response-from $MED:$ALT$" <<<"$change" &&
		grep -Eq "^mapped $CLI:[0-9]+$" <<<"$change" &&
		grep -Eq "^mapped $CLI:[0-9]+$" <<<"$tcp"
}

# connect_ok OUT: a success with both local addresses and the public one.
connect_ok() {
	grep -q "^reply CONNECT success" <<<"$1" &&
		grep -q "^peer-key $SPUB$" <<<"$1" &&
		grep -q "^server-id nvr1$" <<<"$1" &&
		grep -q "^local-addr 192.168.1.10:41641$" <<<"$1" &&
		grep -q "^local-addr 10.9.8.7:41641$" <<<"$1" &&
		grep -q "^public-addr $SRV:$SRV_UDP$" <<<"$1" &&
		! grep -q "^auth bad" <<<"$1"
}

check_connects() {
	local out rc ok=0
	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "$SYS" \
		-l 192.168.50.5:41641) && rc=0 || rc=$?
	note "accept (UDP): exit $rc, $(grep -c . <<<"$out") lines"
	if [ "$rc" -ne 0 ] || ! connect_ok "$out"; then
		note "$out"
		ok=1
	fi
	# the server heard of the client: its public UDP address and local one
	if ! grep -Eq "^public-addr $CLI:[0-9]+$" "$LAB_DIR/server.out" ||
		! grep -q "^local-addr 192.168.50.5:41641$" "$LAB_DIR/server.out"; then
		note "server did not get the client's addresses:" "$(cat "$LAB_DIR/server.out")"
		ok=1
	fi

	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "nvr1.$SYS" \
		--tcp-only) && rc=0 || rc=$?
	note "accept (TCP only, server.system): exit $rc"
	if [ "$rc" -ne 0 ] || ! connect_ok "$out" || ! grep -q "^via tcp" <<<"$out"; then
		note "$out"
		ok=1
	fi

	lab_bg srv "$LAB_DIR/refuser.out" "$TUND_BIN_DIR/medclient" register -m "$MED:$PORT" \
		-k "$LAB_DIR/refuser.key" -M "$MPUB" -s gate -l 192.168.77.1:41641 --hold 20 --answer refuse
	lab_wait_for 10 "refusing server registered" grep -q '^registered' "$LAB_DIR/refuser.out" || ok=1
	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "$RSYS") &&
		rc=0 || rc=$?
	note "refuse: exit $rc: $(grep '^error' <<<"$out" | head -1)"
	if [ "$rc" -ne 3 ] || ! grep -q "^error 403 not authorized by the server$" <<<"$out" ||
		grep -Eq "^(local-addr|public-addr|peer-key|server-id)|192\.168\.77\.1|$SRV" <<<"$out"; then
		note "$out"
		ok=1
	fi

	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "$OFFSYS") &&
		rc=0 || rc=$?
	note "offline: exit $rc: $(grep '^error' <<<"$out" | head -1)"
	if [ "$rc" -ne 3 ] || ! grep -q "^error 404 system offline$" <<<"$out" ||
		! grep -q "^auth ok" <<<"$out"; then
		note "$out"
		ok=1
	fi
	return "$ok"
}

check_bad_proof() {
	local out rc
	out=$(mc srv register -m "$MED:$PORT" -k "$LAB_DIR/server.key" -M "$MPUB" -s nvr9 \
		--bad-proof --hold 0) && rc=0 || rc=$?
	note "exit $rc: $(grep '^error' <<<"$out")"
	[ "$rc" -eq 3 ] && grep -q "^error 401 " <<<"$out" && ! grep -q "^registered" <<<"$out"
}

check_hello_timeout() {
	local out
	out=$(lab_exec cli timeout 20 "$LAB_PY" - "$MED" "$PORT" <<-'EOF'
	import os, select, socket, struct, sys, time
	host, port = sys.argv[1], int(sys.argv[2])
	quiet = socket.create_connection((host, port), timeout=5)
	talker = socket.create_connection((host, port), timeout=5)
	t0 = time.monotonic()
	closed = {}
	next_ping = t0
	while len(closed) < 2 and time.monotonic() - t0 < 15:
	    now = time.monotonic()
	    if talker not in closed and now >= next_ping:
	        # a Binding request twice a second: answered, but not authentication
	        try:
	            talker.sendall(struct.pack(">HHI", 1, 0, 0x2112A442) + os.urandom(12))
	        except OSError:
	            closed[talker] = now - t0
	        next_ping = now + 0.5
	    live = [s for s in (quiet, talker) if s not in closed]
	    for s in select.select(live, [], [], 0.1)[0]:
	        try:
	            d = s.recv(4096)
	        except OSError:
	            d = b""
	        if not d:
	            closed[s] = time.monotonic() - t0
	print("quiet %.1f talker %.1f" % (closed.get(quiet, -1), closed.get(talker, -1)))
	EOF
	) || return 1
	note "closed after (s): $out"
	"$LAB_PY" - "$out" <<-'EOF'
	import sys
	v = sys.argv[1].split()
	q, t = float(v[1]), float(v[3])
	sys.exit(0 if 9.5 <= q <= 11.5 and 9.5 <= t <= 11.5 else 1)
	EOF
}

write_flood() {
	cat >"$LAB_DIR/flood.py" <<-'EOF'
	# Garbage at the mediator: random datagrams (some STUN-shaped), TCP
	# streams of random bytes, then half-open TCP connections held open
	# until HOLD seconds pass. Every loop is bounded.
	import os, random, resource, socket, struct, sys, time
	host, port, marker, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
	rnd = random.Random(7)
	def stunish():
	    method = rnd.choice([0x001, 0x0D1, 0x0D2, 0x0D3, 0x0D4, rnd.randrange(0x1000)])
	    cls = rnd.randrange(4)
	    t = (method & 0xF) | ((method & 0x70) << 1) | ((method & 0xF80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7)
	    body = os.urandom(rnd.randrange(0, 200))
	    length = len(body) if rnd.random() < 0.7 else rnd.randrange(65536)
	    return struct.pack(">HHI", t, length, 0x2112A442) + os.urandom(12) + body
	u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	for i in range(2000):
	    data = stunish() if i % 2 else os.urandom(rnd.randrange(1, 1400))
	    u.sendto(data, (host, port if i % 3 else port + 1))
	    if i % 100 == 0:
	        time.sleep(0.01)
	u.close()
	for i in range(50):
	    s = socket.create_connection((host, port), timeout=5)
	    try:
	        s.sendall(stunish() + os.urandom(rnd.randrange(0, 3000)) if i % 2 else os.urandom(2000))
	    except OSError:
	        pass
	    s.close()
	held = []
	for i in range(1000):
	    try:
	        s = socket.create_connection((host, port), timeout=5)
	    except OSError:
	        continue
	    if i % 2:
	        s.send(stunish()[:10])     # half a header
	    held.append(s)
	print("held %d" % len(held), flush=True)
	open(marker, "w").close()
	time.sleep(hold)
	for s in held:
	    s.close()
	print("done", flush=True)
	EOF
}

check_garbage() {
	local ok=0 out rc py
	write_flood
	lab_bg junk "$LAB_DIR/flood.out" "$LAB_PY" "$LAB_DIR/flood.py" "$MED" "$PORT" "$LAB_DIR/flood.marker" 6
	py=$LAB_LAST_PID
	if ! lab_wait_for 30 "flood holding its connections" test -e "$LAB_DIR/flood.marker"; then
		note "flood: $(cat "$LAB_DIR/flood.out")"
		return 1
	fi
	note "flood: $(head -1 "$LAB_DIR/flood.out") half-open connections held"
	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "$SYS") &&
		rc=0 || rc=$?
	note "connect during the flood: exit $rc"
	if [ "$rc" -ne 0 ] || ! connect_ok "$out"; then
		note "$out"
		ok=1
	fi
	out=$(mc srv register -m "$MED:$PORT" -k "$LAB_DIR/refuser.key" -M "$MPUB" -s late \
		--hold 0) && rc=0 || rc=$?
	note "new registration during the flood: exit $rc"
	grep -q "^registered" <<<"$out" || { note "$out"; ok=1; }
	out=$(mc cli binding -m "$MED:$PORT") && rc=0 || rc=$?
	note "Binding during the flood: $(grep mapped <<<"$out")"
	grep -Eq "^mapped $CLI:[0-9]+$" <<<"$out" || ok=1
	lab_wait_for 20 "flood finished" grep -q '^done' "$LAB_DIR/flood.out" || ok=1
	lab_stop "$py"
	if ! lab_alive "$MED_PID"; then
		note "tund-mediator died"
		return 1
	fi
	# the registered server is still there after it all
	out=$(mc cli connect -m "$MED:$PORT" -k "$LAB_DIR/client.key" -M "$MPUB" -t "$SYS") || ok=1
	connect_ok "$out" || { note "after the flood: $out"; ok=1; }
	# SIGTERM: a clean exit (status 0; under ASan, no leaks) and the totals
	kill -TERM "$MED_PID"
	rc=0
	wait "$MED_PID" || rc=$?
	note "mediator exit status $rc; $(grep 'TCP:' "$LAB_DIR/mediator.log")"
	[ "$rc" -eq 0 ] || ok=1
	grep -Eq "TCP: .* [1-9][0-9]* evicted unauthenticated" "$LAB_DIR/mediator.log" || ok=1
	grep -Eq "[1-9][0-9]* bad datagrams" "$LAB_DIR/mediator.log" || ok=1
	if grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error" "$LAB_DIR/mediator.log"; then
		note "sanitizer report in the mediator log"
		ok=1
	fi
	return "$ok"
}

build_lab
run_check "1 turnutils_stunclient gets the client's address" check_stunclient
run_check "2 Binding: plain, change-port from the alt port, over TCP" check_binding
run_check "3 connect: accept (UDP, TCP), refuse 403 without addresses, offline 404" check_connects
run_check "4 REGISTER with a wrong proof is refused (401)" check_bad_proof
run_check "5 a TCP connection that does not authenticate is closed after 10 s" check_hello_timeout
run_check "6 garbage and 1000 half-open connections; service goes on; clean exit" check_garbage

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
	echo "logs kept in $LAB_DIR"
fi
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
