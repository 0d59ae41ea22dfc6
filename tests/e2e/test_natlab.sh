#!/usr/bin/env bash
#
# test_natlab.sh - the NAT lab's own test (natlab.sh, natprobe.py): every
# NAT type behaves as declared, the self-check can tell when it does not,
# and the knobs the tund tests use (UDP blocks, UDP timeouts) work.
#
#                    probe 198.51.100.201/.202     web 198.51.100.80 (http :8080)
#                        |                           |
#        br-pub 198.51.100.1/24 ------------- core ------------- br-w1 .. br-w12
#                                                          |
#     client half (nat_site, self-check inline)    server half (--no-check, then
#       c-none  none                 site 1         nat_verify_sites in parallel)
#       c-fc    full-cone            site 2           s-none .. s-ub  sites 7..12
#       c-ar    address-restricted   site 3
#       c-pr    port-restricted      site 4        each: NAME-r router, WAN
#       c-sym   symmetric            site 5        203.0.113.(8X+2)/29, LAN 10.X.0.0/24
#       c-ub    udp-blocked          site 6        (192.0.2.8X/29 for none), host NAME
#
# Checks (PASS or FAIL each; the exit status is non-zero on any FAIL):
#   1 the six client sites were built and self-verified by nat_site
#   2 the six server sites verify in parallel (the 6x6 matrix layout)
#   3 the self-check reports a mismatch for seven wrong rule sets (a site
#     declared one type running another's rules), and through
#     nat_verify_sites dies in a subshell without taking the lab down;
#     restored, each site verifies again
#   4 TCP (curl to a public web server) works through every type, and the
#     server logs each site's public address
#   5 nat_block_udp_from drops UDP from one address only (also on a flow
#     already open); nat_unblock_udp_from restores it
#   6 nat_block_udp drops all UDP through the router, TCP still works;
#     nat_unblock_udp restores it
#   7 nat_site_udp_timeout 2: the sysctls read 2, and an address-restricted
#     mapping admits a new sender 0.5 s after the host's last packet but not
#     3 s after it
#   8 nat_site_forget: a full-cone mapping that admits a stranger stops
#     doing so once forgotten, and the site still verifies afterwards
#   9 a port-restricted site behind --uplink-delay-ms 30,50 verifies and
#     pings the probe with an RTT of at least 80 ms (SKIP, not PASS, when
#     $TUND_BIN_DIR/linkem is not built)
#
# Needs root; without it prints SKIP and exits 77. Debian packages used:
# iproute2, nftables, curl, python3, conntrack, iputils-ping. LAB_KEEP=1
# leaves the lab up.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=natlab.sh
source "$(dirname "${BASH_SOURCE[0]}")/natlab.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need nft nftables
lab_need curl curl
lab_need conntrack conntrack
lab_need ping iputils-ping
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3

WEB=198.51.100.80
HTTP=8080
N_SKIP=0

lab_init natlab


# ---------------------------------------------------------------- lab

T_INIT=0
T_CLIENTS=0
T_SERVERS=0

build_lab() {
	local t0 type
	t0=$(lab_now_ms)
	nat_lab_init
	lab_ns web
	lab_core_attach web eth0 pub "$WEB/24"
	mkdir -p "$LAB_DIR/www"
	echo hello >"$LAB_DIR/www/hello.txt"
	lab_http_serve web "$LAB_DIR/www" "$HTTP" || lab_die "web server did not start"
	T_INIT=$(($(lab_now_ms) - t0))

	# If one of these does not behave, nat_site dies: the run ends with an
	# ERROR line and a non-zero status.
	t0=$(lab_now_ms)
	for type in $NAT_TYPES; do
		nat_site "c-${NAT_SHORT[$type]}" "$type"
	done
	T_CLIENTS=$(($(lab_now_ms) - t0))

	t0=$(lab_now_ms)
	for type in $NAT_TYPES; do
		nat_site "s-${NAT_SHORT[$type]}" "$type" --no-check
	done
	T_SERVERS=$(($(lab_now_ms) - t0))
}

# ------------------------------------------------------------- checks

check_clients_built() {
	note "lab core + probe + web: $T_INIT ms; six client sites built and verified one by one: $T_CLIENTS ms"
	local type
	for type in $NAT_TYPES; do
		[ "$(nat_site_type "c-${NAT_SHORT[$type]}")" = "$type" ] || return 1
	done
}

check_servers_parallel() {
	local t0 out
	t0=$(lab_now_ms)
	out=$( (nat_verify_sites s-none s-fc s-ar s-pr s-sym s-ub) 2>&1) || { note "$out"; return 1; }
	note "$out"
	note "six server sites built without checks: $T_SERVERS ms; verified in parallel: $(($(lab_now_ms) - t0)) ms"
	[ "$(grep -c '\[ok\]' <<<"$out")" -eq 6 ]
}

# mismatch SITE WRONG_TYPE: SITE running WRONG_TYPE's rules must fail its
# self-check with a MISMATCH line; then its own rules must pass again.
mismatch() {
	local site=$1 wrong=$2 out rc=0
	nat_apply_rules "$site" "$wrong"
	out=$(nat_verify "$site" 2>&1) || rc=$?
	note "$site with $wrong rules: $out"
	nat_apply_rules "$site" "$(nat_site_type "$site")"
	[ "$rc" -eq 1 ] && grep -q MISMATCH <<<"$out" || { note "expected a MISMATCH (rc 1), got rc $rc"; return 1; }
	out=$(nat_verify "$site" 2>&1) || { note "restored rules do not verify: $out"; return 1; }
}

check_mismatch_detected() {
	local ok=0 out rc=0
	mismatch s-pr full-cone || ok=1
	mismatch s-fc port-restricted || ok=1
	mismatch s-ar full-cone || ok=1
	mismatch s-pr address-restricted || ok=1
	mismatch s-sym port-restricted || ok=1
	mismatch s-ub port-restricted || ok=1
	mismatch s-none port-restricted || ok=1

	# The dying path, in a subshell: the lab must survive it.
	nat_apply_rules s-pr symmetric
	out=$( (nat_verify_sites s-pr) 2>&1) || rc=$?
	nat_apply_rules s-pr port-restricted
	note "nat_verify_sites on a wrong site: rc $rc: $(tail -n 1 <<<"$out")"
	[ "$rc" -ne 0 ] && grep -q 'not behaving as declared: s-pr' <<<"$out" || ok=1
	ip netns list | grep -q "^$(lab_ns_name s-pr-r)\b" || { note "lab torn down by the subshell"; ok=1; }
	nat_verify s-pr >/dev/null || { note "s-pr does not verify after restoring"; ok=1; }
	return "$ok"
}

check_tcp_every_type() {
	local ok=0 type site body
	for type in $NAT_TYPES; do
		site=c-${NAT_SHORT[$type]}
		body=$(lab_exec "$(nat_host_ns "$site")" curl -sf --max-time 3 \
			"http://$WEB:$HTTP/hello.txt?site=$site") || body=
		if [ "$body" != hello ]; then
			note "$site ($type): curl failed"
			ok=1
		elif ! grep -q "^$(nat_public_addr "$site") .*GET /hello.txt?site=$site " \
			"$LAB_DIR/http-web-$HTTP.log"; then
			note "$site ($type): web server did not log it from $(nat_public_addr "$site")"
			ok=1
		else
			note "$site ($type): curl ok, seen from $(nat_public_addr "$site")"
		fi
	done
	return "$ok"
}

check_block_udp_from() {
	local m
	m=$(nat_probe_map c-pr 46001) || { note "no UDP to probe A before blocking"; return 1; }
	note "before: probe A sees $m"
	nat_block_udp_from c-pr "$NAT_PROBE_A"
	if m=$(nat_probe_map c-pr 46001 2>/dev/null); then
		note "blocked, yet probe A answered on the open flow ($m)"
		nat_unblock_udp_from c-pr "$NAT_PROBE_A"
		return 1
	fi
	m=$(nat_probe_map c-pr 46001 "$NAT_PROBE_B") || {
		note "blocking A also blocked B"
		nat_unblock_udp_from c-pr "$NAT_PROBE_A"
		return 1
	}
	note "blocked A: A silent, B still answers ($m)"
	nat_unblock_udp_from c-pr "$NAT_PROBE_A"
	m=$(nat_probe_map c-pr 46001) || { note "A still silent after unblocking"; return 1; }
	note "unblocked: probe A sees $m"
}

check_block_udp() {
	local m ok=0
	nat_probe_map c-fc 46002 >/dev/null || { note "no UDP before blocking"; return 1; }
	nat_block_udp c-fc
	if m=$(nat_probe_map c-fc 46002 2>/dev/null); then
		note "UDP still crosses when blocked ($m)"
		ok=1
	fi
	lab_exec c-fc curl -sf --max-time 3 -o /dev/null "http://$WEB:$HTTP/hello.txt" ||
		{ note "TCP failed while UDP was blocked"; ok=1; }
	nat_unblock_udp c-fc
	m=$(nat_probe_map c-fc 46002) || { note "UDP still blocked after unblocking"; return 1; }
	note "blocked: no UDP, TCP ok; unblocked: probe sees $m"
	return "$ok"
}

# probe_send SRC_PORT DEST_IP DEST_PORT WORD: one datagram from probe A.
probe_send() {
	lab_exec probe "$LAB_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.sendto(("natprobe1 " + sys.argv[5] + " x").encode(), (sys.argv[3], int(sys.argv[4])))' \
		"$NAT_PROBE_A" "$1" "$2" "$3" "$4"
}

check_udp_timeout() {
	local r out pid pub got
	r=$(lab_ns_name "$(nat_router_ns c-ar)")
	nat_site_udp_timeout c-ar 2
	out=$(ip netns exec "$r" sysctl -n net.netfilter.nf_conntrack_udp_timeout \
		net.netfilter.nf_conntrack_udp_timeout_stream | tr '\n' ' ')
	note "router sysctls udp_timeout, udp_timeout_stream: $out"
	[ "$out" = "2 2 " ] || return 1
	pub=$(nat_public_addr c-ar)
	# The host sends once, then only listens for 4 s.
	lab_exec c-ar "$LAB_PY" -c 'import select, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 46010))
s.sendto(b"natprobe1 MAP t1", (sys.argv[1], int(sys.argv[2])))
end = time.monotonic() + 4.0
got = []
for _ in range(100):
    left = end - time.monotonic()
    if left <= 0:
        break
    if select.select([s], [], [], left)[0]:
        got.append(s.recv(512).decode("ascii", "replace").split(" ")[1])
print(" ".join(got))' "$NAT_PROBE_A" "$NAT_PROBE_P1" >"$LAB_DIR/timeout.out" 2>&1 &
	pid=$!
	sleep 0.5
	probe_send 46020 "$pub" 46010 early
	sleep 2.5
	probe_send 46021 "$pub" 46010 late
	wait "$pid" || true
	got=$(cat "$LAB_DIR/timeout.out")
	nat_site_udp_timeout c-ar "$NAT_DEFAULT_UDP_TIMEOUT"
	note "host received: $got (expected SEEN early, not late)"
	[ "$got" = "SEEN early" ]
}

check_forget() {
	local pub m got
	pub=$(nat_public_addr c-fc)
	m=$(nat_probe_map c-fc 46030) || { note "no UDP from c-fc"; return 1; }
	got=$(stranger_to c-fc 46030 46031)
	note "before forgetting: a stranger (probe B) reaching $pub 46030: ${got:-nothing}"
	[ "$got" = "hello" ] || return 1
	nat_site_forget c-fc
	got=$(stranger_to c-fc 46030 46032)
	note "after nat_site_forget: ${got:-nothing}"
	[ -z "$got" ] || return 1
	nat_verify c-fc >/dev/null || { note "c-fc does not verify after forgetting"; return 1; }
}

# stranger_to SITE HOST_PORT SRC_PORT: probe B sends "natprobe1 hello x"
# from SRC_PORT to SITE's public address at HOST_PORT; prints what the
# host's socket on HOST_PORT received within 0.5 s.
stranger_to() {
	local site=$1 hport=$2 sport=$3 pid out=$LAB_DIR/stranger.out
	lab_exec "$(nat_host_ns "$site")" "$LAB_PY" -c 'import select, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
if select.select([s], [], [], 0.5)[0]:
    print(s.recv(512).decode("ascii", "replace").split(" ")[1])' "$hport" >"$out" 2>&1 &
	pid=$!
	lab_wait_for 3 "listener in $site" grep -q ready "$out" || true
	lab_exec probe "$LAB_PY" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.sendto(b"natprobe1 hello x", (sys.argv[3], int(sys.argv[4])))' \
		"$NAT_PROBE_B" "$sport" "$(nat_public_addr "$site")" "$hport"
	wait "$pid" || true
	grep -v ready "$out" || true
}

# Built here, not in build_lab, because it needs the optional linkem; the
# site is made without its inline check so that a failure is this check's
# FAIL rather than the end of the run.
check_uplink_delay() {
	local out rtt
	nat_site d-pr port-restricted --uplink-delay-ms 30,50 --no-check
	out=$(nat_verify d-pr 2>&1) || { note "$out"; return 1; }
	note "$out"
	rtt=$(lab_exec d-pr ping -c 3 -i 0.2 -q "$NAT_PROBE_A" | sed -n 's|.*= \([0-9.]*\)/.*|\1|p')
	note "ping RTT min to the probe: ${rtt:-none} ms (want >= 80)"
	[ -n "$rtt" ] && [ "${rtt%.*}" -ge 80 ]
}

# --------------------------------------------------------------- main

build_lab
run_check "1 six client sites built and self-verified" check_clients_built
run_check "2 six server sites verified in parallel" check_servers_parallel
run_check "3 self-check reports wrong rule sets" check_mismatch_detected
run_check "4 TCP through every type" check_tcp_every_type
run_check "5 nat_block_udp_from" check_block_udp_from
run_check "6 nat_block_udp" check_block_udp
run_check "7 nat_site_udp_timeout" check_udp_timeout
run_check "8 nat_site_forget" check_forget
if [ -x "$TUND_BIN_DIR/linkem" ] && declare -F lab_emu_link >/dev/null; then
	run_check "9 site behind a delayed uplink" check_uplink_delay
else
	echo "SKIP 9 site behind a delayed uplink: $TUND_BIN_DIR/linkem not built (cmake --build <dir> --target linkem) or tests/e2e/linkem.sh missing"
	N_SKIP=$((N_SKIP + 1))
fi

echo "natlab: $N_PASS passed, $N_FAIL failed, $N_SKIP skipped"
if [ "$N_FAIL" -ne 0 ]; then
	printf 'failed: %s\n' "${FAILED[@]}"
	LAB_KEEP_DIR=1
	exit 1
fi
