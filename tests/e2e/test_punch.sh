#!/usr/bin/env bash
#
# test_punch.sh - the mediator, UDP hole punching and the relay in the NAT
# lab: every pair of NAT types, and the faults around the mediator (issues
# 3 and 4).
#
#                       med 198.51.100.10 (tund-mediator, UDP+TCP 3478, alt 3479,
#                            |             announces the relay)
#                       relay 198.51.100.20:443 (tund-relay)
#                            |
#          br-pub 198.51.100.1/24 --- core --- one /29 segment per site router
#                            |
#   server sites s1..s6 (types below), host: tund [publish] nvrN + recorder
#       HTTP on :8080 serving blob-sN (1 MiB, distinct per server)
#   client sites c1..c6 (the same six types), host: tund with six [peer]s
#       "sN" (system = uuid of sN) at 100.100.0.(10+N)
#   extra sites: cx (port-restricted, its router drops UDP from the mediator),
#       rogue (full-cone, a key no server allows), k1/k2 (port-restricted
#       routers with a 4 s UDP timeout, nat_keepalive 2 s)
#
# Every tund runs on UDP 41641 and sees its server at 100.100.0.1 (the
# server's own overlay address) through the peer address the client chose.
#
# Checks (PASS/FAIL each):
#   1  turnutils_stunclient (coturn) behind a NAT gets the router's public address
#   2  NAT matrix, 36 cells: client type x server type, every cell connected.
#      Where a direct path is possible (no udp-blocked side, not symmetric x
#      port-restricted, not symmetric x symmetric) the path is "direct",
#      elsewhere "relay"; in every cell ping plus a 1 MiB HTTP download with
#      matching SHA-256 work
#   3  tunctl netcheck tells symmetric from cone and sees blocked UDP
#   4  UDP from the mediator dropped at the client's router: the TCP copy of the
#      connect request rescues it, the path is direct
#   5  a client the server does not allow: status says "not authorized", and no
#      packet it receives contains any of the server's addresses (plain or XOR'd)
#   6  mediator restart: tunnels keep carrying traffic, servers register again
#      within 2 s of its return, and a new connection works
#   7  routers with a 4 s UDP timeout, tunnel idle 12 s: the next ping answers at once
#
# Needs root (exit 77 and SKIP otherwise). Binaries from $TUND_BIN_DIR.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=natlab.sh
source "$(dirname "${BASH_SOURCE[0]}")/natlab.sh"
# shellcheck source-path=SCRIPTDIR source=svclab.sh
source "$(dirname "${BASH_SOURCE[0]}")/svclab.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need ping iputils-ping
lab_need curl curl
lab_need tcpdump tcpdump
lab_need turnutils_stunclient coturn
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins
for b in tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not built"
done

MED=198.51.100.10
MEDPORT=3478
TYPES=(none full-cone address-restricted port-restricted symmetric udp-blocked)
N_PASS=0
N_FAIL=0
FAILED=()

pass() { N_PASS=$((N_PASS + 1)); echo "PASS $*"; }
fail() { N_FAIL=$((N_FAIL + 1)); FAILED+=("$1"); echo "FAIL $*"; }

lab_init punch

# ------------------------------------------------------------------ lab

nat_lab_init
sites=()
for i in 1 2 3 4 5 6; do
	nat_site "s$i" "${TYPES[$((i - 1))]}" --no-check
	nat_site "c$i" "${TYPES[$((i - 1))]}" --no-check
	sites+=("s$i" "c$i")
done
nat_site cx port-restricted --no-check
nat_site rogue full-cone --no-check
nat_site k1 port-restricted --no-check
nat_site k2 port-restricted --no-check
sites+=(cx rogue k1 k2)
nat_verify_sites "${sites[@]}"

# ------------------------------------------------------ mediator, relay

svc_relay_start relay 198.51.100.20
svc_mediator_start med "$MED"

# ------------------------------------------------------------ check 1

stun_out=$(lab_exec c3 timeout 10 turnutils_stunclient -p "$MEDPORT" "$MED" 2>&1 || true)
c3pub=$(nat_public_addr c3)
if grep -Eq "addr: *$c3pub:[0-9]+" <<<"$stun_out"; then
	pass "1 turnutils_stunclient behind address-restricted NAT sees $(grep -Eo "addr: *$c3pub:[0-9]+" <<<"$stun_out" | head -1)"
else
	fail 1 "turnutils_stunclient did not report $c3pub: $stun_out"
fi

# ---------------------------------------------------------- endpoints

for n in s1 s2 s3 s4 s5 s6 c1 c2 c3 c4 c5 c6 cx rogue k1 k2; do
	lab_tund_key "$n"
done
sysid() { lab_tunctl id --private <"$LAB_DIR/$1.key"; }

common_conf() { # name address
	cat <<EOF
[tund]
private_key_file = $LAB_DIR/$1.key
interface = tund0
address = $2
listen_port = 41641
control_socket = $(lab_tund_sock "$1")
$(svc_mediator_conf)
log_level = debug
EOF
}

server_conf() { # name [nat_keepalive]
	{
		common_conf "$1" 100.100.0.1/16
		echo "client_pool = 100.127.0.0/16"
		[ -n "${2:-}" ] && echo "nat_keepalive = $2"
		printf '\n[publish]\nserver_id = nvr-%s\n' "$1"
		for c in c1 c2 c3 c4 c5 c6 cx k1 k2; do
			printf '\n[client "%s"]\nkey = %s\n' "$c" "${LAB_PUB[$c]}"
		done
	} >"$(lab_tund_conf "$1")"
}

client_conf() { # name [nat_keepalive] servers...
	local name=$1 ka=$2 s i
	shift 2
	{
		common_conf "$name" 100.100.0.2/16
		[ -n "$ka" ] && echo "nat_keepalive = $ka"
		for s in "$@"; do
			i=${s#s}
			[ "$s" = k2 ] && i=9
			printf '\n[peer "%s"]\nsystem = %s\naddress = 100.100.0.%d\n' "$s" "$(sysid "$s")" $((10 + i))
		done
	} >"$(lab_tund_conf "$name")"
}

for i in 1 2 3 4 5 6; do
	server_conf "s$i"
	mkdir -p "$LAB_DIR/www-s$i"
	head -c 1048576 /dev/urandom >"$LAB_DIR/www-s$i/blob"
	lab_http_serve "s$i" "$LAB_DIR/www-s$i" 8080
	lab_tund_start "s$i" "s$i"
done
for i in 1 2 3 4 5 6; do
	client_conf "c$i" "" s1 s2 s3 s4 s5 s6
	lab_tund_start "c$i" "c$i"
done

expect_direct() { # client_type server_type
	local c=$1 s=$2
	[ "$c" = udp-blocked ] || [ "$s" = udp-blocked ] && return 1
	[ "$c" = symmetric ] && [ "$s" = symmetric ] && return 1
	[ "$c" = symmetric ] && [ "$s" = port-restricted ] && return 1
	[ "$c" = port-restricted ] && [ "$s" = symmetric ] && return 1
	return 0
}

path_of() { lab_tund_get "$1" "peer('$2')['path']" 2>/dev/null || echo "?"; }
path_is() { [ "$(path_of "$1" "$2")" = "$3" ]; }

# Wait until every cell has settled: direct where expected, relay elsewhere.
settled() {
	local ci si want got
	for ci in 1 2 3 4 5 6; do
		for si in 1 2 3 4 5 6; do
			want=relay
			expect_direct "${TYPES[$((ci - 1))]}" "${TYPES[$((si - 1))]}" && want=direct
			got=$(path_of "c$ci" "s$si")
			[ "$got" = "$want" ] || return 1
		done
	done
}
t0=$(lab_now_ms)
lab_wait_for 20 "all 36 cells settled" settled || true
lab_log "matrix settled (or gave up) after $(($(lab_now_ms) - t0)) ms"

# ------------------------------------------------------------ check 2

cell_ok=0
cell_bad=0
printf '%-20s' "client \\ server" >"$LAB_DIR/matrix.txt"
for t in "${TYPES[@]}"; do printf '%-20s' "$t" >>"$LAB_DIR/matrix.txt"; done
echo >>"$LAB_DIR/matrix.txt"
for ci in 1 2 3 4 5 6; do
	ct=${TYPES[$((ci - 1))]}
	printf '%-20s' "$ct" >>"$LAB_DIR/matrix.txt"
	for si in 1 2 3 4 5 6; do
		st=${TYPES[$((si - 1))]}
		ip=100.100.0.$((10 + si))
		got=$(path_of "c$ci" "s$si")
		verdict=ok
		want=relay
		expect_direct "$ct" "$st" && want=direct
		if [ "$got" != "$want" ]; then
			verdict="path $got"
		elif ! lab_exec "c$ci" ping -c 1 -W 2 "$ip" >/dev/null 2>&1; then
			verdict="no ping"
		else
			lab_exec "c$ci" curl -sf --max-time 15 -o "$LAB_DIR/got-c$ci-s$si" "http://$ip:8080/blob" || true
			a=$(sha256sum <"$LAB_DIR/www-s$si/blob" | cut -d' ' -f1)
			b=$(sha256sum <"$LAB_DIR/got-c$ci-s$si" 2>/dev/null | cut -d' ' -f1 || true)
			[ "$a" = "$b" ] || verdict="sha256 mismatch"
		fi
		if [ "$verdict" = ok ]; then
			cell_ok=$((cell_ok + 1))
			printf '%-20s' "$want" >>"$LAB_DIR/matrix.txt"
		else
			cell_bad=$((cell_bad + 1))
			printf '%-20s' "FAIL:$verdict" >>"$LAB_DIR/matrix.txt"
			lab_log "cell $ct x $st: want $want, $verdict"
		fi
	done
	echo >>"$LAB_DIR/matrix.txt"
done
cat "$LAB_DIR/matrix.txt"
if [ "$cell_bad" -eq 0 ]; then
	pass "2 NAT matrix: all 36 cells connected as expected (22 direct, 14 relay), each with ping + SHA-256"
else
	fail 2 "NAT matrix: $cell_bad of 36 cells wrong"
fi

# ------------------------------------------------------------ check 3

# One check per site: a second one finds the NAT still open towards the
# mediator's second port (netcheck then reports filtering as unknown).
for n in c2 c4 c5 c6; do
	lab_tunctl -s "$(lab_tund_sock "$n")" netcheck --json >"$LAB_DIR/netcheck-$n.json"
done
lab_tunctl -s "$(lab_tund_sock c5)" netcheck
nc_get() { lab_json "d.get('$2')" <"$LAB_DIR/netcheck-$1.json"; }
n_sym=$(nc_get c5 mapping_varies)
n_pr=$(nc_get c4 mapping_varies)
n_pr_other=$(nc_get c4 other_port_reaches_us)
n_fc_other=$(nc_get c2 other_port_reaches_us)
n_blk=$(nc_get c6 udp)
if [ "$n_sym" = True ] && [ "$n_pr" = False ] && [ "$n_pr_other" = False ] &&
	[ "$n_fc_other" = True ] && [ "$n_blk" = False ]; then
	pass "3 netcheck: symmetric varies, port-restricted does not and filters, full-cone lets other ports in, udp-blocked has no UDP"
else
	fail 3 "netcheck: sym varies=$n_sym, pr varies=$n_pr pr other=$n_pr_other fc other=$n_fc_other blocked udp=$n_blk"
fi

# addr_hits PCAP SITE: packets in PCAP whose payload (past the Ethernet and
# IPv4 headers) holds SITE's public or LAN address, plain or XOR'd with the
# STUN magic cookie as XOR-MAPPED-ADDRESS-style attributes carry them.
addr_hits() {
	"$LAB_PY" - "$1" "$(nat_public_addr "$2")" "$(nat_host_addr "$2")" <<'EOF'
import struct, sys, socket
data = open(sys.argv[1], 'rb').read()
needles = []
for a in sys.argv[2:]:
    raw = socket.inet_aton(a)
    needles += [raw, bytes(x ^ y for x, y in zip(raw, b'\x21\x12\xa4\x42'))]
off, hits = 24, 0
while off + 16 <= len(data):
    incl = struct.unpack('<I', data[off + 8:off + 12])[0]
    pkt = data[off + 16:off + 16 + incl]
    off += 16 + incl
    hits += any(n in pkt[14 + 20:] for n in needles)
print(hits)
EOF
}

# ------------------------------------------------------------ check 4

nat_block_udp_from cx "$MED"
client_conf cx "" s2
lab_capture_start cx eth0 "$LAB_DIR/cx.pcap"
cap=$LAB_LAST_PID
lab_tund_start cx cx
if lab_wait_for 10 "cx direct to s2" path_is cx s2 direct &&
	lab_exec cx ping -c 1 -W 2 100.100.0.12 >/dev/null; then
	pass "4 UDP from the mediator dropped at the client's router: connected directly via the TCP copy"
else
	fail 4 "cx: path $(path_of cx s2); log: $(grep -c 'over TCP' "$(lab_tund_logf cx)") TCP copies"
fi
lab_capture_stop "$cap"
cx_hits=$(addr_hits "$LAB_DIR/cx.pcap" s2)

# ------------------------------------------------------------ check 5

client_conf rogue "" s2
lab_capture_start rogue eth0 "$LAB_DIR/rogue.pcap"
cap=$LAB_LAST_PID
lab_tund_start rogue rogue
rogue_refused() { [[ "$(lab_tund_get rogue "peer('s2')['error']")" == *"not authorized"* ]]; }
lab_wait_for 10 "rogue refused" rogue_refused || true
sleep 1
lab_capture_stop "$cap"
rerr=$(lab_tund_get rogue "peer('s2')['error']" || true)
leak=$(addr_hits "$LAB_DIR/rogue.pcap" s2)
# Positive control: the same scan finds the addresses in what the allowed
# client cx received (check 4).
if [[ "$rerr" == *"not authorized"* ]] && [ "$leak" = 0 ] && [ "$cx_hits" -gt 0 ]; then
	pass "5 unallowed client: '$rerr'; 0 received packets carry the server's addresses (allowed client: $cx_hits do)"
else
	fail 5 "unallowed client: error '$rerr', packets with server addresses: $leak (allowed client: $cx_hits)"
fi

# ------------------------------------------------------------ check 6

lab_exec c1 ping -c 1 -W 2 100.100.0.12 >/dev/null || true
lab_stop "$MED_PID" KILL
lab_exec c1 ping -i 0.2 -c 5 -W 1 100.100.0.12 >"$LAB_DIR/ping-down.txt" 2>&1 || true
down_ok=$(grep -c 'bytes from' "$LAB_DIR/ping-down.txt" || true)
t_back=$(lab_now_ms)
svc_mediator_restart
registered() { for i in 1 2 3 4 5 6; do
	[ "$(lab_tund_get "s$i" "d['mediator_state']")" = registered ] || [ "${TYPES[$((i - 1))]}" = udp-blocked ] || return 1
done; }
reg_ms=-1
for ((k = 0; k < 100; k++)); do
	if registered; then reg_ms=$(($(lab_now_ms) - t_back)); break; fi
	sleep 0.05
done
lab_tund_restart c3
new_ok=0
lab_wait_for 10 "c3 direct to s1 after the mediator restart" path_is c3 s1 direct &&
	lab_exec c3 ping -c 1 -W 2 100.100.0.11 >/dev/null && new_ok=1
if [ "$down_ok" -ge 5 ] && [ "$reg_ms" -ge 0 ] && [ "$reg_ms" -le 2000 ] && [ "$new_ok" = 1 ]; then
	pass "6 mediator restart: $down_ok/5 pings while it was down, re-registered in ${reg_ms} ms, new connection direct"
else
	fail 6 "mediator restart: pings while down $down_ok/5, re-registration ${reg_ms} ms, new connection $new_ok"
fi

# ------------------------------------------------------------ check 7

nat_site_udp_timeout k1 4
nat_site_udp_timeout k2 4
server_conf k2 2
client_conf k1 2 k2
lab_tund_start k2 k2
lab_tund_start k1 k1
lab_wait_for 10 "k1 direct to k2" path_is k1 k2 direct || true
lab_exec k1 ping -c 1 -W 2 100.100.0.19 >/dev/null 2>&1 || true
sleep 12
if lab_exec k1 ping -c 1 -W 1 100.100.0.19 >/dev/null 2>&1; then
	pass "7 4 s NAT timeout, idle 12 s with nat_keepalive 2: the first ping answered"
else
	fail 7 "after 12 s idle behind 4 s NAT timeouts, the first ping got no answer (path $(path_of k1 k2))"
fi

echo
echo "punch: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	exit 1
fi
