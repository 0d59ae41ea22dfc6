#!/usr/bin/env bash
#
# test_lan.sh - the LAN path (issue 5, docs/lan.md): LAN discovery by
# multicast with no mediator at all, LAN smart forwarding for two hosts
# behind one NAT with the mediator and relay running, and forged
# announcements.
#
#                 med 198.51.100.10 (tund-mediator)   relay 198.51.100.20:443
#                          |                                 |
#        br-pub 198.51.100.1/24 ------- core ------- one /29 per site router
#                          |                                 |
#   site "seg" (port-restricted, 3 hosts)     site "nat" (port-restricted, 2 hosts)
#   seg-r: lan 10.X.0.1 (bridge)              nat-r: wan -> core, lan 10.Y.0.1
#     seg    10.X.0.2  tund nvr1 [publish],     nat    10.Y.0.2  tund nvr2 [publish]
#                      NO mediator, http:8080            + mediator, lan_discovery = off
#     seg-2  10.X.0.3  tund cli1: [peer "nvr"]  nat-2  10.Y.0.3  tund cli2: [peer "nvr"]
#                      system = <uuid> only                   system = <uuid>, + mediator,
#     seg-3  10.X.0.4  forger (python)                        lan_discovery = off
#
# Every tund: UDP 41641, the server's own overlay address 100.100.0.1,
# seen by its client at 100.100.0.10.
#
# Checks (PASS/FAIL each):
#   1  no mediator anywhere: cli1's [peer] has only system =, and it connects
#      over "lan" (status path, candidate kind local, key learned), ping and a
#      4 MiB download with matching SHA-256
#   2  two hosts behind one NAT, mediator and relay running, LAN discovery
#      off on both (so LAN smart forwarding alone does it), and the server's
#      handshake initiations dropped at cli2's host (nft), so that cli2's
#      own connect after the mediator's answer decides: cli2 connects
#      over "lan" to the server's LAN address, its log says local addresses
#      went first; the relay logged no session for cli2 and cli2 has no relay
#      path; no packet but mediator/relay service traffic crossed the router's
#      WAN (tcpdump), and cli2 never opened a TCP connection to the relay;
#      ping and the download work
#   3  forged announcements from seg-3: (a) the server's system id with
#      another key: counted (lan_bad_key) at cli1, nothing changes; (b) the
#      server's real key and id at the forger's address: a candidate that
#      never completes a handshake; cli1 stays on the real server (path lan,
#      same endpoint), ping and the download still work; (c) garbage on the
#      group is counted (lan_malformed)
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
lab_need nft nftables
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins
for b in tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not built"
done

N_PASS=0
N_FAIL=0
FAILED=()
S_IP=100.100.0.10
GROUP=239.255.77.77
GROUP_PORT=41642

lab_init lan

# ------------------------------------------------------------------ lab

nat_lab_init
nat_site seg port-restricted --hosts 3 --no-check
nat_site nat port-restricted --hosts 2 --no-check
nat_verify_sites seg nat
svc_relay_start relay 198.51.100.20
svc_mediator_start med 198.51.100.10

SEG_SRV=$(nat_host_ns seg 1)
SEG_CLI=$(nat_host_ns seg 2)
SEG_FORGER=$(nat_host_ns seg 3)
NAT_SRV=$(nat_host_ns nat 1)
NAT_CLI=$(nat_host_ns nat 2)

for n in nvr1 cli1 nvr2 cli2; do lab_tund_key "$n"; done
sysid() { lab_tunctl id --private <"$LAB_DIR/$1.key"; }

base_conf() { # name address [extra [tund] lines]
	cat <<EOF
[tund]
private_key_file = $LAB_DIR/$1.key
interface = tund0
address = $2
listen_port = 41641
control_socket = $(lab_tund_sock "$1")
log_level = debug
${3:-}
EOF
}

server_conf() { # name client extra
	{
		base_conf "$1" 100.100.0.1/16 "$3"
		printf 'client_pool = 100.127.0.0/16\n\n[publish]\nserver_id = %s\n' "$1"
		printf '\n[client "%s"]\nkey = %s\n' "$2" "${LAB_PUB[$2]}"
	} >"$(lab_tund_conf "$1")"
}

client_conf() { # name server extra
	{
		base_conf "$1" 100.100.0.2/16 "$3"
		printf '\n[peer "nvr"]\nsystem = %s\naddress = %s\n' "$(sysid "$2")" "$S_IP"
	} >"$(lab_tund_conf "$1")"
}

sha() { sha256sum <"$1" | cut -d' ' -f1; }
path_of() { lab_tund_get "$1" "peer('nvr')['path']" 2>/dev/null || echo "?"; }
path_is() { [ "$(path_of "$1")" = "$2" ]; }
peer_field() { lab_tund_get "$1" "peer('$2')['$3']" 2>/dev/null || echo "?"; }
counter_of() { lab_tund_get "$1" "counter('$2')" 2>/dev/null || echo 0; }

# ping and a SHA-256-checked download through the tunnel from client ns $1
ping_and_fetch() {
	local ns=$1 tag=$2
	if ! lab_exec "$ns" ping -c 3 -W 2 "$S_IP" >"$LAB_DIR/ping-$tag.log" 2>&1; then
		note "ping failed: $(tail -2 "$LAB_DIR/ping-$tag.log")"
		return 1
	fi
	rm -f "$LAB_DIR/got-$tag"
	if ! lab_exec "$ns" curl -sS -m 30 -o "$LAB_DIR/got-$tag" "http://$S_IP:8080/blob" 2>"$LAB_DIR/curl-$tag.log"; then
		note "curl failed: $(cat "$LAB_DIR/curl-$tag.log")"
		return 1
	fi
	[ "$(sha "$LAB_DIR/got-$tag")" = "$(sha "$LAB_DIR/www/blob")" ] || { note "SHA-256 differs"; return 1; }
	note "ping 3/3 and 4 MiB download byte-exact ($tag)"
}

check_failed() {
	local n
	for n in cli1 nvr1 cli2 nvr2; do
		[ -f "$(lab_tund_logf "$n")" ] || continue
		echo "  -- $n status:"
		lab_tund_status "$n" 2>/dev/null | sed 's/^/     /' | head -40 || true
		echo "  -- $n log (last 15):"
		tail -n 15 "$(lab_tund_logf "$n")" | sed 's/^/     /'
	done
}

mkdir -p "$LAB_DIR/www"
head -c 4194304 /dev/urandom >"$LAB_DIR/www/blob"

# ------------------------------------------------------------ check 1

server_conf nvr1 cli1 ""
client_conf cli1 nvr1 ""
lab_http_serve "$SEG_SRV" "$LAB_DIR/www" 8080
lab_tund_start "$SEG_SRV" nvr1
lab_tund_start "$SEG_CLI" cli1

check_lan_no_mediator() {
	local srv_addr cands
	srv_addr=$(nat_host_addr seg 1)
	if ! lab_wait_for 15 "cli1 on lan" path_is cli1 lan; then
		note "cli1 path: $(path_of cli1)"
		return 1
	fi
	note "cli1 -> nvr: path $(path_of cli1), endpoint $(peer_field cli1 nvr endpoint)"
	[ "$(peer_field cli1 nvr endpoint)" = "$srv_addr:41641" ] || { note "endpoint is not $srv_addr:41641"; return 1; }
	cands=$(peer_field cli1 nvr candidates)
	grep -q "$srv_addr:41641/local" <<<"$cands" || { note "candidates: $cands"; return 1; }
	[ "$(peer_field cli1 nvr public_key)" = "${LAB_PUB[nvr1]}" ] || { note "key not learned"; return 1; }
	[ "$(lab_tund_get cli1 "d['mediator_state']")" = off ] || { note "cli1 has a mediator?"; return 1; }
	grep -q "key learned from its LAN announcement" "$(lab_tund_logf cli1)" || { note "no key-learned log line"; return 1; }
	[ "$(peer_field nvr1 cli1 path)" = lan ] || { note "server sees path $(peer_field nvr1 cli1 path)"; return 1; }
	ping_and_fetch "$SEG_CLI" lan1
}
run_check "1 LAN discovery, no mediator: path lan, ping + download" check_lan_no_mediator

# ------------------------------------------------------------ check 2

SVC="$(svc_mediator_conf)
lan_discovery = off"
server_conf nvr2 cli2 "$SVC"
client_conf cli2 nvr2 "$SVC"
lab_http_serve "$NAT_SRV" "$LAB_DIR/www" 8080
# Everything on the router's WAN except mediator and relay service traffic
# (the server's registration, the client's connect request, the server's
# relay pool), and the client host's traffic to the relay.
lab_capture_start "$(nat_router_ns nat)" wan "$LAB_DIR/nat-wan.pcap" \
	not host "$MED_ADDR" and not host "$RELAY_ADDR"
WAN_CAP=$LAB_LAST_PID
lab_capture_start "$NAT_CLI" eth0 "$LAB_DIR/cli2-relay.pcap" host "$RELAY_ADDR"
RELAY_CAP=$LAB_LAST_PID
lab_tund_start "$NAT_SRV" nvr2
registered() { [ "$(lab_tund_get nvr2 "d['mediator_state']")" = registered ]; }
lab_wait_for 10 "nvr2 registered" registered ||
	lab_log "nvr2 did not register: $(lab_tund_get nvr2 "d['mediator_state']" || true)"
# The server punches towards the client's LAN address as soon as the
# mediator forwards the connect request, and on one LAN that handshake
# lands before the mediator's answer reaches the client. Dropping the
# server's initiations at the client host makes the client's own connect
# (the mediator's answer, then smart forwarding) the one that decides.
lab_exec "$NAT_CLI" nft -f - <<EOF
table ip lantest {
	chain input {
		type filter hook input priority 0; policy accept;
		udp dport 41641 @th,64,8 0xc1 counter drop
	}
}
EOF
lab_tund_start "$NAT_CLI" cli2

check_smart_forwarding() {
	local srv_addr rc=0 n
	srv_addr=$(nat_host_addr nat 1)
	if ! lab_wait_for 15 "cli2 on lan" path_is cli2 lan; then
		note "cli2 path: $(path_of cli2)"
		return 1
	fi
	note "cli2 -> nvr: path $(path_of cli2), endpoint $(peer_field cli2 nvr endpoint)"
	[ "$(peer_field cli2 nvr endpoint)" = "$srv_addr:41641" ] || { note "endpoint is not $srv_addr:41641"; rc=1; }
	grep -q "behind our public address: local addresses first" "$(lab_tund_logf cli2)" ||
		{ note "cli2's log does not show LAN smart forwarding"; rc=1; }
	note "server initiations dropped at cli2: $(lab_exec "$NAT_CLI" nft list chain ip lantest input |
		grep -o 'packets [0-9]*' || echo '?')"
	ping_and_fetch "$NAT_CLI" lan2 || rc=1
	sleep 1 # a relay dial held back by the LAN-first hold would have started by now
	if grep "session:" "$LAB_DIR/relay.log" | grep -qF "${LAB_PUB[cli2]}"; then
		note "the relay logged a session for cli2: $(grep "session:" "$LAB_DIR/relay.log" | grep -F "${LAB_PUB[cli2]}" | head -1)"
		rc=1
	else
		note "relay.log: no session for cli2 ($(grep -c "session:" "$LAB_DIR/relay.log" || true) sessions in all)"
	fi
	local desc
	desc="$(peer_field cli2 nvr path_detail) | $(peer_field cli2 nvr standby)"
	if grep -q relay <<<"$desc"; then note "cli2 has a relay path: $desc"; rc=1; fi
	lab_capture_stop "$WAN_CAP"
	lab_capture_stop "$RELAY_CAP"
	n=$(tcpdump -nr "$LAB_DIR/nat-wan.pcap" 2>/dev/null | wc -l)
	note "router WAN, other than mediator and relay: $n packet(s)"
	[ "$n" -eq 0 ] || { tcpdump -nr "$LAB_DIR/nat-wan.pcap" 2>/dev/null | head -5 | sed 's/^/      /'; rc=1; }
	n=$(tcpdump -nr "$LAB_DIR/cli2-relay.pcap" 2>/dev/null | wc -l)
	note "cli2 <-> relay: $n packet(s)"
	[ "$n" -eq 0 ] || rc=1
	[ "$(peer_field nvr2 cli2 path)" = lan ] || { note "server sees path $(peer_field nvr2 cli2 path)"; rc=1; }
	return $rc
}
run_check "2 same NAT, mediator + relay up: smart forwarding to lan, no relay, nothing on the WAN" \
	check_smart_forwarding

# ------------------------------------------------------------ check 3

# forge ADDR KEY_B64 SYSTEM_UUID PORT [garbage]: one datagram on the group
# from ADDR (a seg-3 address), TTL 1, out of its eth0.
forge() {
	lab_exec "$SEG_FORGER" "$LAB_PY" - "$@" "$GROUP" "$GROUP_PORT" <<-'EOF'
	import base64, socket, struct, sys, uuid
	addr, key, sysid, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
	garbage = sys.argv[5] == "garbage"
	group, gport = sys.argv[-2], int(sys.argv[-1])
	sid = b"nvr1"
	msg = (b"tLAN" + bytes([1, 1, 0, 0]) + uuid.UUID(sysid).bytes + base64.b64decode(key) +
	       struct.pack(">HB", port, len(sid)) + sid)
	if garbage:
	    msg = b"tLAN" + bytes([7, 1, 0, 0]) + b"\xff" * 20
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
	s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
	s.bind((addr, 0))
	for _ in range(3):
	    s.sendto(msg, (group, gport))
	EOF
}

check_forged() {
	local forger srv_addr ep bad0 bad1 mal0 mal1 other rc=0
	forger=$(nat_host_addr seg 3)
	srv_addr=$(nat_host_addr seg 1)
	ep=$(peer_field cli1 nvr endpoint)
	other=$(head -c 32 /dev/urandom | base64)
	bad0=$(counter_of cli1 lan_bad_key)
	mal0=$(counter_of cli1 lan_malformed)
	# (a) the server's system id, another key
	forge "$forger" "$other" "$(sysid nvr1)" 41641
	# (b) the server's real key and id, the forger's address
	forge "$forger" "${LAB_PUB[nvr1]}" "$(sysid nvr1)" 41641
	# (c) garbage on the group
	forge "$forger" "$other" "$(sysid nvr1)" 1 garbage
	sleep 3 # a few probe rounds towards the forger's candidate
	bad1=$(counter_of cli1 lan_bad_key)
	mal1=$(counter_of cli1 lan_malformed)
	note "cli1: lan_bad_key $bad0 -> $bad1, lan_malformed $mal0 -> $mal1"
	[ "$bad1" -ge $((bad0 + 3)) ] || { note "forged key not counted"; rc=1; }
	[ "$mal1" -ge $((mal0 + 3)) ] || { note "garbage not counted"; rc=1; }
	note "cli1 candidates: $(peer_field cli1 nvr candidates)"
	[ "$(path_of cli1)" = lan ] || { note "path is $(path_of cli1)"; rc=1; }
	[ "$(peer_field cli1 nvr endpoint)" = "$ep" ] || { note "endpoint moved: $ep -> $(peer_field cli1 nvr endpoint)"; rc=1; }
	[ "$ep" = "$srv_addr:41641" ] || rc=1
	[ "$(peer_field cli1 nvr public_key)" = "${LAB_PUB[nvr1]}" ] || { note "key changed"; rc=1; }
	ping_and_fetch "$SEG_CLI" forged || rc=1
	[ "$(peer_field cli1 nvr endpoint)" = "$ep" ] || { note "endpoint moved after the transfer"; rc=1; }
	return $rc
}
run_check "3 forged announcements: counted, dropped, still on the real server" check_forged

echo
echo "lan: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	exit 1
fi
