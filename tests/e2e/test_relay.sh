#!/usr/bin/env bash
#
# test_relay.sh - end-to-end test of tund-relay in the lab (no NAT: every
# host sits on a public segment of the internet core). Servers and
# clients are relaytool (tests/tools/relaytool.c), which speaks the relay
# protocol (shared/relayproto.h) and prints what it gets; a python echo
# listener stands in for the mediator's TCP side.
#
#                          core (router, no NAT)
#        br-pub 198.51.100.1/24                    br-hosts 203.0.113.1/24
#           |               |                   |              |              |
#      relay eth0       med eth0           srv eth0       cli eth0       junk eth0
#      198.51.100.20    198.51.100.2       203.0.113.10   203.0.113.20   203.0.113.66
#      tund-relay :443  echo :3478         relaytool      relaytool      python3 raw
#                       ("mediator")       listen/hold    connect/hold   HTTP
#
# Checks (each prints PASS or FAIL):
#   1 Upgrade mode: a 4 MiB file, client -> relay -> server (echo) -> relay
#     -> client, byte-exact both ways (SHA-256 at the server and back at
#     the client)
#   2 Poll mode (GET + POSTs) on both ends, and each end Poll with the
#     other Upgrade: the same transfer
#   3 refusals: bad MAC and a clock 600 s off get 401 with the relay's
#     Tund-Time; a replayed request (same nonce) gets 401 after its first
#     copy got through to 404 "offline" (an offline target)
#   4 the pool: after a splice the server's pool is back to its size (a
#     replacement connection), as relaytool and the relay's SIGUSR1 say
#   5 the mediator gateway: GET /tund/v1/mediator splices raw bytes to
#     the echo listener, Upgrade and Poll
#   6 malformed HTTP (bad field, bare LF, binary, long head, unknown path,
#     wrong method, oversized POST, chunked POST) gets 400/404/405/413
#     with a reason, while 5 sessions held across it lose nothing and a
#     new transfer still works
#   7 memory: relay RSS per held session, 1000 Upgrade sessions and 500
#     Poll ones, each on a freshly started relay (printed; fails above
#     RELAY_SESSION_KB_MAX KiB, default 16)
#   8 SIGTERM: exit status 0, counters logged, no sanitizer report
#
# Takes about 40 s. Needs root; without it prints SKIP and exits 77.
# Binaries from $TUND_BIN_DIR (default <repo>/build): tund-relay,
# relaytool, tunctl. LAB_KEEP=1 leaves the lab up. Debian packages used:
# iproute2, python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
for b in tund-relay relaytool tunctl; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not found: build first or set TUND_BIN_DIR"
done

RELAY=198.51.100.20
PORT=443
MED=198.51.100.2
MEDPORT=3478
RELAY_SESSION_KB_MAX=${RELAY_SESSION_KB_MAX:-16}
HOLD_N=${HOLD_N:-1000}
ulimit -n 16384 2>/dev/null || true

lab_init relaytest

check_failed() {
	echo "    relay log (last lines):"
	tail -n 15 "$LAB_DIR/relay.log" | sed 's/^/    | /'
}

rt() { # NS ARGS...: relaytool in NS, bounded
	local ns=$1
	shift
	lab_exec "$ns" timeout 60 "$TUND_BIN_DIR/relaytool" "$@"
}

key() { # NAME: writes $LAB_DIR/NAME.key; prints the public key
	(umask 077 && "$TUND_BIN_DIR/tunctl" genkey >"$LAB_DIR/$1.key")
	"$TUND_BIN_DIR/tunctl" pubkey <"$LAB_DIR/$1.key"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# start_relay: tund-relay in its namespace, PID in RELAY_PID; the log
# is appended to across restarts.
start_relay() {
	local n
	n=$(grep -c "listening on" "$LAB_DIR/relay.log" 2>/dev/null || true)
	lab_bg relay "$LAB_DIR/relay.log" "$TUND_BIN_DIR/tund-relay" -c "$LAB_DIR/relay.conf"
	RELAY_PID=$LAB_LAST_PID
	lab_wait_for 10 "relay listening" eval "[ \$(grep -c 'listening on' '$LAB_DIR/relay.log') -gt ${n:-0} ]"
}

build_lab() {
	lab_core_init
	lab_core_segment pub 198.51.100.1/24
	lab_core_segment hosts 203.0.113.1/24
	lab_ns relay
	lab_core_attach relay eth0 pub "$RELAY/24"
	lab_ns med
	lab_core_attach med eth0 pub "$MED/24"
	local h
	for h in srv:203.0.113.10 cli:203.0.113.20 junk:203.0.113.66; do
		lab_ns "${h%%:*}"
		lab_core_attach "${h%%:*}" eth0 hosts "${h#*:}/24"
	done

	RPUB=$(key relay)
	SPUB=$(key server)
	key client >/dev/null
	SYS=$("$TUND_BIN_DIR/tunctl" id "$SPUB")
	OFFSYS=$("$TUND_BIN_DIR/tunctl" id "$(key nobody)")
	head -c $((4 << 20)) /dev/urandom >"$LAB_DIR/data.bin"
	DATA_SHA=$(sha256sum "$LAB_DIR/data.bin" | cut -d' ' -f1)

	cat >"$LAB_DIR/echo.py" <<-'EOF'
	# A TCP echo listener: what the relay's gateway reaches instead of a mediator.
	import socket, sys, threading
	s = socket.socket()
	s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind((sys.argv[1], int(sys.argv[2])))
	s.listen(64)
	def serve(c):
	    with c:
	        while True:
	            d = c.recv(65536)
	            if not d:
	                return
	            c.sendall(d)
	while True:
	    c, _ = s.accept()
	    threading.Thread(target=serve, args=(c,), daemon=True).start()
	EOF
	lab_bg med "$LAB_DIR/echo.log" "$LAB_PY" "$LAB_DIR/echo.py" 0.0.0.0 "$MEDPORT"

	cat >"$LAB_DIR/relay.conf" <<-EOF
	[relay]
	private_key_file = $LAB_DIR/relay.key
	listen = 0.0.0.0:$PORT
	mediator = $MED:$MEDPORT
	max_connections = 8000
	source_rate = 2000
	log_level = info
	EOF
	"$TUND_BIN_DIR/tund-relay" -c "$LAB_DIR/relay.conf" --check-config >/dev/null ||
		lab_die "relay.conf refused"
	start_relay || lab_die "tund-relay did not start: $(cat "$LAB_DIR/relay.log")"
	grep -q "public key $RPUB" "$LAB_DIR/relay.log" || lab_die "relay logs another public key"
	lab_wait_for 10 "echo listener" lab_exec med "$LAB_PY" -c \
		"import socket; socket.create_connection(('127.0.0.1', $MEDPORT), timeout=1)" ||
		lab_die "echo listener did not start"
}

RA=(-r "$RELAY:$PORT" -R "")   # set after the keys exist

# transfer NAME SRV_MODE CLI_MODE: a listener for one session and a
# connect sending data.bin; 0 when both SHA-256 sums match the file.
transfer() {
	local name=$1 smode=$2 cmode=$3 out lp rc ok=0
	lab_bg srv "$LAB_DIR/$name.srv" "$TUND_BIN_DIR/relaytool" listen "${RA[@]}" -k "$LAB_DIR/server.key" \
		--sessions 1 --seconds 50 ${smode:+"$smode"}
	lp=$LAB_LAST_PID
	lab_wait_for 10 "$name: pool ready" grep -q '^pool-ready 1' "$LAB_DIR/$name.srv" || return 1
	out=$(rt cli connect "${RA[@]}" -k "$LAB_DIR/client.key" -t "$SYS" --send "$LAB_DIR/data.bin" ${cmode:+"$cmode"}) &&
		rc=0 || rc=$?
	lab_wait_for 10 "$name: session end" grep -q '^session-end' "$LAB_DIR/$name.srv" || ok=1
	lab_stop "$lp"
	note "$name (server ${smode:-upgrade}, client ${cmode:-upgrade}): exit $rc;" \
		"$(grep -E '^(status|received)' <<<"$out" | tr '\n' ' ')" \
		"server: $(grep '^session-end' "$LAB_DIR/$name.srv")"
	[ "$rc" -eq 0 ] && grep -q "^received $((4 << 20)) sha256 $DATA_SHA$" <<<"$out" &&
		grep -q '^match$' <<<"$out" &&
		grep -q "^session-end $((4 << 20)) sha256 $DATA_SHA$" "$LAB_DIR/$name.srv" && [ "$ok" -eq 0 ]
}

# ------------------------------------------------------------ checks

check_upgrade() { transfer upgrade "" ""; }

check_poll() {
	local ok=0
	transfer poll-poll --poll --poll || ok=1
	transfer poll-client "" --poll || ok=1
	transfer poll-server --poll "" || ok=1
	return "$ok"
}

check_refusals() {
	local out rc ok=0 now tt
	out=$(rt cli connect "${RA[@]}" -k "$LAB_DIR/client.key" -t "$OFFSYS" --bad-mac) && rc=0 || rc=$?
	note "bad MAC: exit $rc: $(tr '\n' ' ' <<<"$out")"
	[ "$rc" -eq 3 ] && grep -q '^status 401 ' <<<"$out" && grep -q '^tund-time [0-9]' <<<"$out" &&
		grep -q '^reason Tund-Auth does not match' <<<"$out" || ok=1

	out=$(rt cli connect "${RA[@]}" -k "$LAB_DIR/client.key" -t "$OFFSYS" --time-offset 600) && rc=0 || rc=$?
	now=$(date +%s)
	tt=$(awk '/^tund-time/ {print $2}' <<<"$out")
	note "clock +600 s: exit $rc: $(tr '\n' ' ' <<<"$out") (our clock $now)"
	[ "$rc" -eq 3 ] && grep -q '^status 401 ' <<<"$out" && [ -n "$tt" ] &&
		[ $((tt - now)) -le 2 ] && [ $((now - tt)) -le 2 ] || ok=1

	out=$(rt cli connect "${RA[@]}" -k "$LAB_DIR/client.key" -t "$OFFSYS" --replay) && rc=0 || rc=$?
	note "offline target, then the same request replayed: exit $rc: $(tr '\n' ' ' <<<"$out")"
	[ "$rc" -eq 3 ] && grep -q '^status 404 ' <<<"$out" && grep -q '^reason offline' <<<"$out" &&
		grep -q '^status 401 ' <<<"$out" && grep -q '^reason nonce already used' <<<"$out" || ok=1
	return "$ok"
}

check_pool() {
	local out lp ok=0 n
	lab_bg srv "$LAB_DIR/pool.srv" "$TUND_BIN_DIR/relaytool" listen "${RA[@]}" -k "$LAB_DIR/server.key" \
		-s nvr1 -n 2 --seconds 50
	lp=$LAB_LAST_PID
	lab_wait_for 10 "pool of 2" grep -q '^pool-ready 2' "$LAB_DIR/pool.srv" || return 1
	head -c 100000 /dev/urandom >"$LAB_DIR/small.bin"
	out=$(rt cli connect "${RA[@]}" -k "$LAB_DIR/client.key" -t "nvr1.$SYS" --send "$LAB_DIR/small.bin") || ok=1
	grep -q '^match$' <<<"$out" || ok=1
	lab_wait_for 10 "replacement" eval "[ \$(grep -c '^pool-ready 2' '$LAB_DIR/pool.srv') -ge 2 ]" || ok=1
	kill -USR1 "$RELAY_PID"
	lab_wait_for 5 "relay pool listing" grep -q "pool: system $SYS: 2 idle" "$LAB_DIR/relay.log" || ok=1
	n=$(grep -c '^spliced' "$LAB_DIR/pool.srv" || true)
	note "relaytool: $(tr '\n' ' ' <"$LAB_DIR/pool.srv")"
	note "relay: $(grep "pool: system $SYS" "$LAB_DIR/relay.log" | tail -1)"
	lab_stop "$lp"
	[ "$n" -eq 1 ] && [ "$ok" -eq 0 ]
}

check_gateway() {
	local out rc ok=0 mode
	for mode in "" --poll; do
		out=$(rt cli gateway -r "$RELAY:$PORT" --send "$LAB_DIR/data.bin" ${mode:+"$mode"}) && rc=0 || rc=$?
		note "gateway ${mode:-upgrade}: exit $rc: $(grep -E '^(status|received)' <<<"$out" | tr '\n' ' ')"
		[ "$rc" -eq 0 ] && grep -q "^received $((4 << 20)) sha256 $DATA_SHA$" <<<"$out" || ok=1
	done
	return "$ok"
}

write_junk() {
	cat >"$LAB_DIR/junk.py" <<-'EOF'
	# Malformed requests, one connection each: print the status line and
	# the reason body the relay answered with, or what happened instead.
	import socket, sys
	host, port = sys.argv[1], int(sys.argv[2])
	cases = [
	    ("bad field", b"GET /tund/v1/listen HTTP/1.1\r\nHost: x\r\nBad Field: y\r\n\r\n"),
	    ("bare LF", b"GET /tund/v1/listen HTTP/1.1\nHost: x\n\n"),
	    ("binary", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64)),
	    ("long head", b"GET /tund/v1/listen HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"),
	    ("unknown path", b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"),
	    ("wrong method", b"DELETE /tund/v1/listen HTTP/1.1\r\nHost: x\r\n\r\n"),
	    ("no auth", b"GET /tund/v1/listen HTTP/1.1\r\nHost: x\r\nTund-Poll: 1\r\n\r\n"),
	    ("bad target", b"GET /tund/v1/connect/x HTTP/1.1\r\nHost: x\r\nTund-Poll: 1\r\n\r\n"),
	    ("upgrade lost", b"GET /tund/v1/listen HTTP/1.1\r\nHost: x\r\n\r\n"),
	    ("big POST", b"POST /tund/v1/up/00000000000000000000000000000000 HTTP/1.1\r\nHost: x\r\n"
	                 b"Content-Length: 99999999999\r\n\r\n"),
	    ("half head", b"GET /tund/v1/lis"),
	]
	for name, data in cases:
	    s = socket.create_connection((host, port), timeout=15)
	    s.sendall(data)
	    got = b""
	    try:
	        while True:
	            d = s.recv(4096)
	            if not d:
	                break
	            got += d
	    except OSError as e:
	        got += b"<" + str(e).encode() + b">"
	    s.close()
	    head, _, body = got.partition(b"\r\n\r\n")
	    line = head.split(b"\r\n")[0].decode(errors="replace") or "(closed, no answer)"
	    print("%s: %s: %s" % (name, line, body.decode(errors="replace").strip()), flush=True)
	EOF
}

check_malformed() {
	local out ok=0 hp
	write_junk
	lab_bg cli "$LAB_DIR/hold5.out" "$TUND_BIN_DIR/relaytool" hold "${RA[@]}" -k "$LAB_DIR/server.key" \
		-K "$LAB_DIR/client.key" -n 5 --seconds 15
	hp=$LAB_LAST_PID
	lab_wait_for 15 "5 sessions held" grep -q '^established 5' "$LAB_DIR/hold5.out" || return 1
	out=$(lab_exec junk timeout 40 "$LAB_PY" "$LAB_DIR/junk.py" "$RELAY" "$PORT") || ok=1
	note "$out"
	grep -q '^bad field: HTTP/1.1 400 Bad Request: .\+' <<<"$out" || ok=1
	grep -q '^bare LF: HTTP/1.1 400 Bad Request: line ends in a bare LF' <<<"$out" || ok=1
	grep -q '^binary: HTTP/1.1 400 Bad Request: not an HTTP request' <<<"$out" || ok=1
	grep -q '^long head: HTTP/1.1 400 Bad Request: .\+' <<<"$out" || ok=1
	grep -q '^unknown path: HTTP/1.1 404 Not Found: no such resource' <<<"$out" || ok=1
	grep -q '^wrong method: HTTP/1.1 405 Method Not Allowed: ' <<<"$out" || ok=1
	grep -q '^no auth: HTTP/1.1 401 Unauthorized: Tund-Key missing' <<<"$out" || ok=1
	grep -q '^bad target: HTTP/1.1 401 ' <<<"$out" || ok=1
	grep -q '^upgrade lost: HTTP/1.1 426 Upgrade Required: ' <<<"$out" || ok=1
	grep -q '^big POST: HTTP/1.1 404 Not Found: no such poll session' <<<"$out" || ok=1
	grep -q '^half head: (closed, no answer)' <<<"$out" || ok=1
	transfer after-junk "" "" || ok=1
	lab_wait_for 30 "hold finished" grep -q '^held' "$LAB_DIR/hold5.out" || ok=1
	note "the 5 held sessions: $(grep '^held' "$LAB_DIR/hold5.out")"
	grep -q '^held 5 lost 0$' "$LAB_DIR/hold5.out" || ok=1
	lab_stop "$hp"
	lab_alive "$RELAY_PID" || { note "tund-relay died"; return 1; }
	return "$ok"
}

# hold_rss N MODE: relay RSS growth per session while N are held, in
# bytes, into HOLD_PER (999999 when the sessions were not all made).
hold_rss() {
	local n=$1 mode=$2 before after hp out=$LAB_DIR/hold$1$2.out
	HOLD_PER=999999
	before=$(rss_kb "$RELAY_PID")
	lab_bg cli "$out" "$TUND_BIN_DIR/relaytool" hold "${RA[@]}" -k "$LAB_DIR/server.key" \
		-K "$LAB_DIR/client.key" -n "$n" --seconds 40 ${mode:+"$mode"}
	hp=$LAB_LAST_PID
	if ! lab_wait_for 35 "$n sessions" grep -q "^established $n" "$out"; then
		note "hold $n ${mode:-upgrade}: $(tail -3 "$out")"
		lab_stop "$hp"
		return
	fi
	sleep 1
	after=$(rss_kb "$RELAY_PID")
	lab_stop "$hp" INT
	HOLD_PER=$(((after - before) * 1024 / n))
	note "hold $n ${mode:-upgrade}: $(grep '^established' "$out") (ms to make them);" \
		"relay VmRSS $before kB -> $after kB: $HOLD_PER bytes per session"
}

# Each on a fresh relay: memory a previous run freed would be reused and
# hide the cost.
check_memory() {
	local up max=$((RELAY_SESSION_KB_MAX * 1024))
	lab_stop "$RELAY_PID"
	start_relay || return 1
	hold_rss "$HOLD_N" ""
	up=$HOLD_PER
	lab_stop "$RELAY_PID"
	start_relay || return 1
	hold_rss $((HOLD_N / 2)) --poll
	[ "$up" -le "$max" ] && [ "$HOLD_PER" -le "$max" ]
}

check_sigterm() {
	local rc=0
	kill -TERM "$RELAY_PID"
	wait "$RELAY_PID" || rc=$?
	note "exit status $rc"
	note "$(grep -E 'sessions:|requests:|connections:' "$LAB_DIR/relay.log" | tail -3)"
	[ "$rc" -eq 0 ] || return 1
	grep -q 'requests: .* bad' "$LAB_DIR/relay.log" || return 1
	if grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error" "$LAB_DIR/relay.log"; then
		note "sanitizer report in the relay log"
		return 1
	fi
}

build_lab
RA=(-r "$RELAY:$PORT" -R "$RPUB")
run_check "1 Upgrade mode: 4 MiB both ways, byte-exact" check_upgrade
run_check "2 Poll mode (and mixed with Upgrade): 4 MiB both ways, byte-exact" check_poll
run_check "3 401 for a bad MAC, a skewed clock and a replay; 404 offline" check_refusals
run_check "4 the server replaces its pool connection after a splice" check_pool
run_check "5 mediator gateway splices to a TCP listener (Upgrade, Poll)" check_gateway
run_check "6 malformed HTTP gets a reason; held sessions go on" check_malformed
run_check "7 relay memory per held session" check_memory
run_check "8 SIGTERM: clean exit" check_sigterm

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
	echo "logs kept in $LAB_DIR"
fi
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
