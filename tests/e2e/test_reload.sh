#!/usr/bin/env bash
#
# test_reload.sh - end-to-end test of configuration changes on a running
# tund: SIGHUP and `tunctl reload` (tund/reload.h), and `tunctl allow` /
# `tunctl revoke` with the clients file in the state directory.
#
#                          core (router, no NAT)
#        br-srv 198.51.100.1/24                     br-cli 203.0.113.1/24
#              |                                    |    |    |    |    |
#          server eth0                             a    b    c    d    e
#          198.51.100.7                         .11  .12  .13  .14  .15 (203.0.113.x)
#          tund0 100.100.0.1/16, pool 100.127.0.0/16
#          http :8080 (100 MB file)            each: tund0 100.100.0.2/16,
#          state_directory $LAB_DIR/state              [peer hq] = server at 100.100.0.10
#          config: [client] a, b, c  (later: b, c, d)
#
# Checks (each prints PASS or FAIL):
#   1 a, b, c connect; d and e (not allowed) do not
#   2 during a 100 MB download by c, the config loses a and gains d and tund
#     gets SIGHUP: d connects, a's session is gone (its ping fails, the
#     server no longer lists it), b and c untouched (same objects: counters
#     go on, no new handshake), c's download completes with the right SHA-256;
#     the service manager hears RELOADING=1 then READY=1
#   3 a config with a syntax error: `tunctl reload` fails and says why,
#     SIGHUP logs it, and everything keeps running
#   4 tunctl allow lets e in without a restart; the clients file holds it
#   5 e is still allowed after a restart of the server's tund
#   6 tunctl revoke drops e at once; refusals: a config client, unknown
#     names, bad keys, duplicate names, no state directory
#
# Needs root; without it prints SKIP and exits 77. Binaries from
# $TUND_BIN_DIR (default <repo>/build). LAB_KEEP=1 leaves the lab up.
# Debian packages used: iproute2, iputils-ping, curl, python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need ping iputils-ping
lab_need curl curl
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins

PORT=41641
HTTP=8080
BIG_MB=100
RATE=20M                      # curl --limit-rate: the download lasts about 5 s
CLIENTS="a b c d e"
CONNECT_BOUND=15              # seconds for a newly allowed client to get through

lab_init reload

tunctl_srv() { lab_tunctl -s "$(lab_tund_sock server)" "$@"; }

show_logs() {
	local n
	for n in "$@"; do
		note "--- last lines of tund $n log:"
		tail -n 20 "$(lab_tund_logf "$n")" 2>/dev/null | sed 's/^/    | /'
	done
}

# ---------------------------------------------------------------- lab

# write_server_conf NAME...: the server's config with a [client] per NAME.
write_server_conf() {
	local n
	{
		cat <<-EOF
		[tund]
		private_key_file = $LAB_DIR/server.key
		interface = tund0
		address = 100.100.0.1/16
		listen_port = $PORT
		control_socket = $(lab_tund_sock server)
		client_pool = 100.127.0.0/16
		state_directory = $LAB_DIR/state
		EOF
		for n in "$@"; do
			printf '\n[client "%s"]\nkey = %s\n' "$n" "${LAB_PUB[$n]}"
		done
	} >"$(lab_tund_conf server)"
	lab_tund_conf_offload "$(lab_tund_conf server)"
}

# Notifications tund sends to $NOTIFY_SOCKET, one per line, in order.
start_notify_listener() {
	lab_bg server "$LAB_DIR/notify.log" "$LAB_PY" -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
out = open(sys.argv[2], "a")
while True:
    m = s.recv(4096).decode(errors="replace").replace("\n", " ")
    out.write(m + "\n")
    out.flush()
' "$LAB_DIR/notify.sock" "$LAB_DIR/notify.msgs"
	lab_wait_for 5 "notify socket" test -S "$LAB_DIR/notify.sock"
}

build_lab() {
	lab_core_init
	lab_core_segment srv 198.51.100.1/24
	lab_core_segment cli 203.0.113.1/24
	lab_ns server; lab_core_attach server eth0 srv 198.51.100.7/24
	local n i=11
	for n in $CLIENTS; do
		lab_ns "$n"; lab_core_attach "$n" eth0 cli "203.0.113.$i/24"
		i=$((i + 1))
	done
	lab_tund_key server
	for n in $CLIENTS; do
		lab_tund_key "$n"
		cat >"$(lab_tund_conf "$n")" <<-EOF
		[tund]
		private_key_file = $LAB_DIR/$n.key
		interface = tund0
		address = 100.100.0.2/16
		listen_port = $PORT
		control_socket = $(lab_tund_sock "$n")

		[peer "hq"]
		key = ${LAB_PUB[server]}
		address = 100.100.0.10
		endpoint = 198.51.100.7:$PORT
		EOF
	done
	mkdir -p "$LAB_DIR/state"
	write_server_conf a b c
	"$TUND_BIN_DIR/tund" --check-config -c "$(lab_tund_conf server)" ||
		lab_die "tund --check-config rejected the server config"

	mkdir -p "$LAB_DIR/www"
	head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/big.bin"
	lab_http_serve server "$LAB_DIR/www" "$HTTP"
	start_notify_listener
	lab_tund_start server server "NOTIFY_SOCKET=$LAB_DIR/notify.sock"
	for n in $CLIENTS; do
		lab_tund_start "$n" "$n"
	done
}

ping_ok() { lab_exec "$1" ping -c1 -W1 -n -q 100.100.0.10 >/dev/null 2>&1; }
ping_fails() { ! ping_ok "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
grown_past() { [ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -gt "$2" ]; }
listed() { [ "$(lab_tund_get server "any(p['name'] == '$1' for p in d['peers'])")" = True ]; }
srv_peer() { lab_tund_get server "peer('$1')['$2'] or 0"; }
hs_count() { lab_tund_get "$1" "counter('handshakes_completed')"; }
srv_log_has() { grep -qF -- "$1" "$(lab_tund_logf server)"; }

# --------------------------------------------------------------- checks

check_initial() {
	local n
	for n in a b c; do
		lab_wait_for 10 "$n reaches the server" ping_ok "$n" || { show_logs server "$n"; return 1; }
	done
	note "a, b and c ping 100.100.0.10"
	for n in d e; do
		if ping_ok "$n"; then note "$n got through without being allowed"; return 1; fi
	done
	note "d and e (not in the config) get no answer"
}

# Reload while c downloads: see the header.
check_sighup() {
	local got=$LAB_DIR/got-big.bin cpid c_hs0 c_tx0 b_rx0 size rc=0
	c_hs0=$(hs_count c) || return 1
	c_tx0=$(srv_peer c tx_bytes) || return 1
	b_rx0=$(srv_peer b rx_bytes) || return 1
	local c_last0
	c_last0=$(srv_peer c last_handshake) || return 1
	lab_exec c curl -sS --fail --max-time 120 --limit-rate "$RATE" -o "$got" \
		"http://100.100.0.10:$HTTP/big.bin" &
	cpid=$!
	lab_wait_for 20 "c's download under way" grown_past "$got" 10000000 ||
		{ kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; return 1; }
	write_server_conf b c d
	size=$(stat -c %s "$got")
	kill -HUP "${LAB_TUND_PID[server]}"
	lab_alive "$cpid" || { note "the download ended before the reload: nothing was tested"; return 1; }
	note "SIGHUP sent with $size of $((BIG_MB * 1024 * 1024)) bytes downloaded"

	lab_wait_for "$CONNECT_BOUND" "d reaches the server" ping_ok d || rc=1
	[ "$rc" -eq 0 ] && note "d pings 100.100.0.10 after the reload"
	if ping_ok a; then note "a still gets answers"; rc=1; else note "a gets no answer"; fi
	if listed a; then note "the server still lists a"; rc=1; fi
	ping_ok b || { note "b lost the tunnel"; rc=1; }
	local still=no
	lab_alive "$cpid" && still=yes
	note "c's download still running once d connected and a was gone: $still"

	wait "$cpid" || { note "curl failed with status $?"; rc=1; }
	local a b
	a=$(sha "$LAB_DIR/www/big.bin")
	b=$(sha "$got")
	note "sha256 served:  $a"
	note "sha256 fetched: $b"
	[ "$a" = "$b" ] || { note "SHA-256 differs"; rc=1; }

	local c_hs1 c_tx1 c_last1 b_rx1
	c_hs1=$(hs_count c)
	c_tx1=$(srv_peer c tx_bytes)
	c_last1=$(srv_peer c last_handshake)
	b_rx1=$(srv_peer b rx_bytes)
	note "c: handshakes completed $c_hs0 -> $c_hs1; server's last_handshake with c $c_last0 -> $c_last1"
	note "server's tx_bytes to c: $c_tx0 -> $c_tx1; rx_bytes from b: $b_rx0 -> $b_rx1"
	[ "$c_hs1" = "$c_hs0" ] || { note "c's session was replaced"; rc=1; }
	[ "$c_last1" = "$c_last0" ] || { note "the server re-handshook with c"; rc=1; }
	# The counter was not reset: it holds the whole download.
	[ "$c_tx1" -ge $((c_tx0 + BIG_MB * 1024 * 1024)) ] || { note "c's counters restarted"; rc=1; }
	# b pinged after the reload: a b added again would count from 0.
	[ "$b_rx1" -gt "$b_rx0" ] || { note "b's counters restarted"; rc=1; }

	note "server log:"
	grep -E 'reload: ' "$(lab_tund_logf server)" | sed 's/^/    | /'
	srv_log_has 'reload: removed client "a"' || rc=1
	srv_log_has 'reload: added client "d"' || rc=1
	srv_log_has 'reload: unchanged: 2 peer(s) and client(s)' || rc=1

	note "notifications: $(tr '\n' '|' <"$LAB_DIR/notify.msgs")"
	grep -q '^RELOADING=1' "$LAB_DIR/notify.msgs" &&
		sed -n '/^RELOADING=1/,$p' "$LAB_DIR/notify.msgs" | grep -q 'READY=1' ||
		{ note "expected RELOADING=1 followed by READY=1"; rc=1; }
	[ "$rc" -eq 0 ] || show_logs server c
	return "$rc"
}

check_bad_config() {
	local out rc=0 conf
	conf=$(lab_tund_conf server)
	cp "$conf" "$conf.good"
	printf '\n[client "x"\nkey = nope\n' >>"$conf"
	if out=$(tunctl_srv reload 2>&1); then
		note "tunctl reload succeeded on a broken config: $out"; rc=1
	else
		note "tunctl reload (exit $?): $out"
	fi
	[[ $out == *"syntax error"* || $out == *"expected ']'"* ]] || { note "no reason given"; rc=1; }
	[[ $out == *"still running with the previous configuration"* ]] || rc=1
	kill -HUP "${LAB_TUND_PID[server]}"
	lab_wait_for 5 "the SIGHUP's error in the log" \
		bash -c "[ \$(grep -c 'still running with the previous configuration' '$(lab_tund_logf server)') -ge 2 ]" ||
		rc=1
	lab_alive "${LAB_TUND_PID[server]}" || { note "tund died"; return 1; }
	local n
	for n in b c d; do
		ping_ok "$n" || { note "$n lost the tunnel"; rc=1; }
	done
	note "b, c and d still ping; tund still runs"
	mv "$conf.good" "$conf"
	out=$(tunctl_srv reload) || { note "reload of the good config failed: $out"; return 1; }
	note "tunctl reload of the repaired config:"
	note "$(echo "$out" | sed 's/^/  /')"
	[[ $out == *"unchanged: 3 peer(s) and client(s)"* ]] || rc=1
	return "$rc"
}

check_allow() {
	local inv0 inv1 out rc=0
	inv0=$(lab_tund_get server "counter('handshake_invalid')")
	ping_fails e || { note "e got through before allow"; return 1; }
	inv1=$(lab_tund_get server "counter('handshake_invalid')")
	note "before: e refused (server handshake_invalid $inv0 -> $inv1)"
	out=$(tunctl_srv allow "${LAB_PUB[e]}" e) || { note "allow failed: $out"; return 1; }
	note "tunctl allow: $out"
	lab_wait_for "$CONNECT_BOUND" "e reaches the server" ping_ok e || { show_logs server e; return 1; }
	note "e pings 100.100.0.10"
	note "state file:"
	sed 's/^/      /' "$LAB_DIR/state/clients"
	grep -qxF "${LAB_PUB[e]} e" "$LAB_DIR/state/clients" || { note "e is not in the state file"; rc=1; }
	[ "$(lab_tund_get server "peer('e')['role']")" = client ] || rc=1
	return "$rc"
}

check_allow_survives_restart() {
	lab_tund_restart server || return 1
	lab_wait_for "$CONNECT_BOUND" "e reaches the restarted server" ping_ok e || { show_logs server e; return 1; }
	note "after a restart of the server's tund, e pings again"
	grep -F 'clients file' "$(lab_tund_logf server)" | tail -n 2 | sed 's/^/    | /'
	listed e
}

check_revoke() {
	local out rc=0
	# b's session did not survive the restart: it handshakes again on use.
	lab_wait_for "$CONNECT_BOUND" "b reaches the restarted server" ping_ok b || return 1
	ping_ok e || { note "e has no tunnel to lose"; return 1; }
	out=$(tunctl_srv revoke e) || { note "revoke failed: $out"; return 1; }
	note "tunctl revoke: $out"
	if ping_ok e; then note "e still gets answers"; rc=1; else note "e's next ping gets no answer"; fi
	listed e && { note "the server still lists e"; rc=1; }
	grep -qF "${LAB_PUB[e]}" "$LAB_DIR/state/clients" && { note "e is still in the state file"; rc=1; }
	ping_ok b || { note "b was affected"; rc=1; }

	# refusals: command, expected exit status, words the message must have
	local cases=(
		"revoke b|1|comes from the config file"
		"revoke nobody|1|unknown client"
		"allow not-a-key|1|not a base64 public key"
		"allow ${LAB_PUB[e]} b|1|is taken"
		"allow ${LAB_PUB[c]} c2|1|already allowed"
	)
	local cs cmd want words st
	for cs in "${cases[@]}"; do
		IFS='|' read -r cmd want words <<<"$cs"
		# shellcheck disable=SC2086
		out=$(tunctl_srv $cmd 2>&1) && st=0 || st=$?
		note "tunctl ${cmd:0:40}: exit $st: $out"
		[ "$st" = "$want" ] && [[ $out == *"$words"* ]] || rc=1
	done
	mv "$LAB_DIR/state" "$LAB_DIR/state.away"
	out=$(tunctl_srv allow "${LAB_PUB[e]}" e 2>&1) && st=0 || st=$?
	mv "$LAB_DIR/state.away" "$LAB_DIR/state"
	note "tunctl allow without the state directory: exit $st: $out"
	[ "$st" = 1 ] && [[ $out == *"no state directory: $LAB_DIR/state does not exist"* ]] || rc=1
	listed e && rc=1
	return "$rc"
}

# ----------------------------------------------------------------- main

build_lab
run_check "1 a, b, c connect; d, e are refused" check_initial
run_check "2 SIGHUP during c's ${BIG_MB} MB download removes a, adds d, leaves b and c untouched" check_sighup
run_check "3 a config with a syntax error changes nothing" check_bad_config
run_check "4 tunctl allow lets e in without a restart" check_allow
run_check "5 the allowed client survives a restart of tund" check_allow_survives_restart
run_check "6 tunctl revoke drops e at once; refusals" check_revoke

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
	echo "logs kept in $LAB_DIR"
fi
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
