#!/usr/bin/env bash
#
# test_paths.sh - the relay and the path manager (issue 4): upgrade and
# downgrade between the relay and direct UDP, a transfer and a long TCP
# session across many path flips, what the relay can see and alter, and
# faults of the relay and the mediator.
#
#        med 198.51.100.10 (tund-mediator, announces the relay)
#        relay 198.51.100.20:443 (tund-relay)
#        mitm 198.51.100.21:443 (relaymitm.py -> relay: flips bytes in frames)
#                  |
#        br-pub 198.51.100.1/24 --- core --- site routers
#                  |
#   site s  (port-restricted): tund [publish] nvr-s, recorder HTTP :8080,
#                              tcpsession.py echo :9000
#   site c  (port-restricted): tund, [peer "s"] at 100.100.0.11 (system only)
#   site t  (port-restricted): tund, [peer "s"], relay = the mitm
#
# UDP is blocked and unblocked at a site's router (nat_block_udp), which is
# what forces a tund onto the relay and lets it come back.
#
# Checks:
#   1  UDP blocked at c when it starts: connected through the relay, ping works
#   2  upgrade: UDP unblocked, the path is direct within 5 s
#   3  downgrade: UDP blocked again, traffic flows on the relay within 5 s
#   4  200 MB download (SHA-256) and a 24 s TCP session while UDP flips every
#      3 s: no reset, byte-exact, the path switched many times
#   5  a capture at the relay holds none of a relayed file's bytes (a capture
#      on the server's TUN, the positive control, does)
#   6  bytes flipped by the mitm are dropped and counted by the AEAD, the
#      download is still byte-exact
#   7  relay and mediator killed during a relayed download: tund lives on,
#      the pool is full again within 2 s of the relay's return, the download
#      completes byte-exact
#   8  relay killed while UDP comes back: the client moves to direct
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
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins
for b in tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not built"
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N_PASS=0
N_FAIL=0
FAILED=()
S_IP=100.100.0.11

lab_init paths
nat_lab_init
svc_relay_start relay 198.51.100.20
svc_mediator_start med 198.51.100.10
lab_ns mitm
lab_core_attach mitm eth0 pub 198.51.100.21/24
lab_bg mitm "$LAB_DIR/mitm.log" "$LAB_PY" "$HERE/relaymitm.py" 198.51.100.21 443 \
	"$RELAY_ADDR" "$RELAY_PORT" 40 "$LAB_DIR/mitm.stats"
lab_wait_for 10 "mitm listening" lab_exec mitm bash -c "exec 3<>/dev/tcp/198.51.100.21/443" ||
	lab_die "the mitm did not start: $(cat "$LAB_DIR/mitm.log")"

for n in s c t; do nat_site "$n" port-restricted --no-check; done
nat_verify_sites s c t
for n in s c t; do lab_tund_key "$n"; done
sysid() { lab_tunctl id --private <"$LAB_DIR/$1.key"; }

base_conf() { # name address
	cat <<EOF
[tund]
private_key_file = $LAB_DIR/$1.key
interface = tund0
address = $2
listen_port = 41641
control_socket = $(lab_tund_sock "$1")
log_level = debug
$(svc_mediator_conf)
EOF
}

{
	base_conf s 100.100.0.1/16
	printf 'client_pool = 100.127.0.0/16\n\n[publish]\nserver_id = nvr-s\n'
	for n in c t; do printf '\n[client "%s"]\nkey = %s\n' "$n" "${LAB_PUB[$n]}"; done
} >"$(lab_tund_conf s)"
for n in c t; do
	{
		base_conf "$n" 100.100.0.2/16
		[ "$n" = t ] && printf 'relay = 198.51.100.21:443\nrelay_key = %s\n' "$RELAY_KEY"
		printf '\n[peer "s"]\nsystem = %s\naddress = %s\n' "$(sysid s)" "$S_IP"
	} >"$(lab_tund_conf "$n")"
done

mkdir -p "$LAB_DIR/www"
head -c $((200 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/big"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/small"
head -c $((40 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/mid"
lab_http_serve s "$LAB_DIR/www" 8080
lab_bg s "$LAB_DIR/tcpsession-serve.log" "$LAB_PY" "$HERE/tcpsession.py" serve 9000
lab_tund_start s s

path_of() { lab_tund_get "$1" "peer('s')['path']" 2>/dev/null || echo "?"; }
path_is() { [ "$(path_of "$1")" = "$2" ]; }
sha() { sha256sum <"$1" | cut -d' ' -f1; }
pool_full() { [[ "$(lab_tund_get s "d.get('relay_state','')")" == "pool 7/7" ]]; }
check_failed() {
	local n
	for n in s c t; do
		lab_tund_status "$n" 2>/dev/null | head -c 3000 || true
	done
	tail -n 20 "$LAB_DIR/relay.log" || true
}

# A background ping keeps data flowing (the path manager probes standby
# paths while the tunnel carries traffic).
keep_busy() { # site
	lab_bg "$1" "$LAB_DIR/busy-$1.log" ping -i 0.2 -W 1 "$S_IP"
	BUSY_PID=$LAB_LAST_PID
}

# ------------------------------------------------------------ check 1
check_relay_first() {
	nat_block_udp c
	lab_tund_start c c || return 1
	lab_wait_for 15 "c on the relay" path_is c relay || { note "path: $(path_of c)"; return 1; }
	lab_exec c ping -c 3 -i 0.2 -W 2 "$S_IP" >/dev/null || { note "no ping over the relay"; return 1; }
	note "path: $(lab_tund_get c "peer('s')['path_detail']" 2>/dev/null)"
}
run_check "1 UDP blocked at start: connected through the relay" check_relay_first

# ------------------------------------------------------------ check 2
check_upgrade() {
	local t0 ms
	keep_busy c
	t0=$(lab_now_ms)
	nat_unblock_udp c
	lab_wait_for 10 "c direct" path_is c direct || { note "path $(path_of c)"; return 1; }
	ms=$(($(lab_now_ms) - t0))
	note "direct ${ms} ms after UDP was unblocked; last switch: $(lab_tund_get c "peer('s')['last_switch']")"
	lab_exec c ping -c 2 -W 2 "$S_IP" >/dev/null || return 1
	[ "$ms" -le 5000 ]
}
run_check "2 upgrade to direct within 5 s" check_upgrade

# ------------------------------------------------------------ check 3
ping_once() { lab_exec c ping -c 1 -W 1 "$S_IP"; }
check_downgrade() {
	local t0 ms
	t0=$(lab_now_ms)
	nat_block_udp c
	lab_wait_for 10 "c relay" path_is c relay || { note "path $(path_of c)"; return 1; }
	lab_wait_for 10 "a ping over the relay" ping_once || { note "no ping after the downgrade"; return 1; }
	ms=$(($(lab_now_ms) - t0))
	note "pings answered again ${ms} ms after UDP was blocked"
	note "c: $(lab_tund_get c "peer('s')['last_switch']")"
	note "s: $(lab_tund_get s "peer('c')['last_switch']")"
	[ "$ms" -le 5000 ]
}
run_check "3 downgrade to the relay within 5 s" check_downgrade
lab_stop "$BUSY_PID"

# ------------------------------------------------------------ check 4
check_flips() {
	local curl_pid sess_pid flips=0 sw0 sw1 rc=0
	sw0=$(lab_tund_get c "peer('s')['switches']")
	# 160 Mbit/s at s's TUN, so the 200 MB take at least 10 s and cross several
	# flips (unthrottled they are through in about two, before the first).
	lab_exec s tc qdisc replace dev tund0 root tbf rate 160mbit burst 256kb latency 50ms ||
		{ note "cannot add a tbf qdisc to s's tund0"; return 1; }
	lab_bg c "$LAB_DIR/curl-big.log" curl -sS --max-time 170 \
		-w '%{size_download} bytes in %{time_total} s' -o "$LAB_DIR/got-big" "http://$S_IP:8080/big"
	curl_pid=$LAB_LAST_PID
	lab_bg c "$LAB_DIR/session.log" "$LAB_PY" "$HERE/tcpsession.py" run "$S_IP" 9000 24
	sess_pid=$LAB_LAST_PID
	for ((k = 0; k < 60; k++)); do
		lab_alive "$curl_pid" || lab_alive "$sess_pid" || break
		sleep 3
		if ((k % 2 == 0)); then nat_unblock_udp c; else nat_block_udp c; fi
		flips=$((flips + 1))
	done
	nat_unblock_udp c
	lab_exec s tc qdisc del dev tund0 root || true
	wait "$curl_pid" || { note "curl failed: $(cat "$LAB_DIR/curl-big.log")"; rc=1; }
	wait "$sess_pid" || rc=1
	sw1=$(lab_tund_get c "peer('s')['switches']")
	note "UDP flipped $flips times; path switches: $((sw1 - sw0)); download: $(cat "$LAB_DIR/curl-big.log")"
	note "session: $(cat "$LAB_DIR/session.log")"
	[ "$(sha "$LAB_DIR/got-big")" = "$(sha "$LAB_DIR/www/big")" ] || { note "200 MB: SHA-256 differs"; rc=1; }
	grep -q '^ok' "$LAB_DIR/session.log" || rc=1
	[ $((sw1 - sw0)) -ge 4 ] || { note "too few switches"; rc=1; }
	awk '$2 == "bytes" && $3 == "in" && $4 >= 9 { ok = 1 } END { exit !ok }' "$LAB_DIR/curl-big.log" ||
		{ note "the download took under 9 s: it did not span three flips"; rc=1; }
	rm -f "$LAB_DIR/got-big"
	return $rc
}
run_check "4 200 MB and a TCP session across UDP flips every 3 s" check_flips

# ------------------------------------------------------------ check 5

# needles FILE COUNT: COUNT 32-byte pieces of FILE, hex, one per line.
# hits PCAP NEEDLES: packets of PCAP holding any of them.
hits() {
	"$LAB_PY" - "$1" "$2" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
blob = open(sys.argv[2], 'rb').read()
needles = [blob[i:i + 32] for i in range(0, len(blob) - 32, len(blob) // 256)]
print(sum(1 for n in needles if n in data))
EOF
}
check_no_plaintext() {
	local cap1 cap2 h_relay h_tun
	nat_block_udp c
	keep_busy c
	lab_wait_for 10 "c relay" path_is c relay || { lab_stop "$BUSY_PID"; return 1; }
	lab_stop "$BUSY_PID"
	lab_capture_start relay eth0 "$LAB_DIR/relay.pcap" tcp port 443
	cap1=$LAB_LAST_PID
	lab_capture_start s tund0 "$LAB_DIR/stun.pcap"
	cap2=$LAB_LAST_PID
	lab_exec c curl -sf --max-time 30 -o "$LAB_DIR/got-small" "http://$S_IP:8080/small" || return 1
	lab_capture_stop "$cap1"
	lab_capture_stop "$cap2"
	h_relay=$(hits "$LAB_DIR/relay.pcap" "$LAB_DIR/www/small")
	h_tun=$(hits "$LAB_DIR/stun.pcap" "$LAB_DIR/www/small")
	note "of 256 pieces of the file: $h_relay found at the relay, $h_tun on the server's TUN (control)"
	[ "$(sha "$LAB_DIR/got-small")" = "$(sha "$LAB_DIR/www/small")" ] && [ "$h_relay" = 0 ] && [ "$h_tun" -gt 200 ]
}
run_check "5 the relay never sees plaintext" check_no_plaintext

# ------------------------------------------------------------ check 6
check_tamper() {
	local flipped af_t af_s
	nat_block_udp t
	lab_tund_start t t || return 1
	lab_wait_for 15 "t relay" path_is t relay || { note "t path $(path_of t)"; return 1; }
	lab_exec t curl -sf --max-time 60 -o "$LAB_DIR/got-t" "http://$S_IP:8080/small" || { note "download failed"; return 1; }
	sleep 1
	flipped=$(awk '{print $2}' "$LAB_DIR/mitm.stats")
	af_t=$(lab_tund_get t "peer('s')['rx_auth_failed']")
	af_s=$(lab_tund_get s "peer('t')['rx_auth_failed']")
	note "mitm flipped $flipped frames; AEAD failures counted: $af_t at t, $af_s at s"
	[ "$(sha "$LAB_DIR/got-t")" = "$(sha "$LAB_DIR/www/small")" ] || { note "SHA-256 differs"; return 1; }
	[ "$flipped" -gt 0 ] && [ $((af_t + af_s)) -ge "$flipped" ]
}
run_check "6 flipped bytes dropped by the AEAD and counted" check_tamper

# ------------------------------------------------------------ check 7
check_faults() {
	local curl_pid t_back ms=-1 rc=0
	lab_wait_for 10 "c relay" path_is c relay || { note "path $(path_of c)"; return 1; }
	lab_bg c "$LAB_DIR/curl-f.log" curl -sS --max-time 90 --limit-rate 4M -o "$LAB_DIR/got-f" "http://$S_IP:8080/mid"
	curl_pid=$LAB_LAST_PID
	sleep 3
	lab_stop "$RELAY_PID" KILL
	lab_stop "$MED_PID" KILL
	sleep 2
	svc_mediator_restart
	svc_relay_restart
	t_back=$(lab_now_ms)
	for ((k = 0; k < 100; k++)); do
		if pool_full; then ms=$(($(lab_now_ms) - t_back)); break; fi
		sleep 0.05
	done
	note "server pool full again ${ms} ms after the relay returned"
	lab_alive "${LAB_TUND_PID[c]}" && lab_alive "${LAB_TUND_PID[s]}" || { note "a tund died"; rc=1; }
	wait "$curl_pid" || { note "curl: $(cat "$LAB_DIR/curl-f.log")"; rc=1; }
	[ "$(sha "$LAB_DIR/got-f")" = "$(sha "$LAB_DIR/www/mid")" ] || { note "SHA-256 differs"; rc=1; }
	rm -f "$LAB_DIR/got-f"
	[ "$ms" -ge 0 ] && [ "$ms" -le 2000 ] || rc=1
	return $rc
}
run_check "7 relay and mediator killed mid-transfer: recovered, byte-exact" check_faults

# ------------------------------------------------------------ check 8
check_relay_dies_direct_returns() {
	lab_wait_for 10 "c relay" path_is c relay || return 1
	keep_busy c
	lab_stop "$RELAY_PID" KILL
	nat_unblock_udp c
	lab_wait_for 10 "c direct" path_is c direct || { note "path $(path_of c)"; lab_stop "$BUSY_PID"; return 1; }
	lab_stop "$BUSY_PID"
	lab_exec c ping -c 2 -W 2 "$S_IP" >/dev/null
}
run_check "8 relay killed, UDP back: moved to direct" check_relay_dies_direct_returns

echo
echo "paths: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	exit 1
fi
