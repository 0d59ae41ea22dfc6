#!/usr/bin/env bash
#
# test_offload.sh - the fast data path (kernel-notes/offload.md): TUN
# offloads with segmentation and coalescing, UDP GSO/GRO, and the fallbacks,
# proven with real bytes through real kernels.
#
#      ns "a" (client)                          ns "b" (server)
#   eth0 198.51.100.1/24  ===== veth =====  eth0 198.51.100.2/24
#   tund0 100.100.0.2/16                    tund0 100.100.0.1/16
#   [peer srv] at 100.100.0.10              client_pool 100.127.0.0/16
#   curl, sha256sum                         http :8080 serving big.bin,
#                                           curl/python upload sink :8081
#
# Checks (each prints PASS or FAIL):
#   1 both ends report TUN offloads (tso4) and UDP GSO and GRO on
#   2 1 GiB (OFFLOAD_BIG_MIB, default 1024) server -> client over HTTP,
#     offload = auto on both: SHA-256
#     equal; the server's tund sent with UDP GSO (udp_gso_frames far more
#     than udp_gso_sends), the client's merged segments back (tun_gro_merged
#     > 0); no authentication failure, no TUN write error
#   3 one end offload = off, the other auto: 64 MiB each way byte-exact
#     (the wire carries ordinary packets whatever either end does)
#   4 UDP GSO refused for real: the underlay's MTU drops to 1400 (a PPPoE
#     or tunnelled uplink), below tund's 1412-byte frames plus headers. The
#     kernel refuses UDP_SEGMENT sends larger than the route MTU (EMSGSIZE)
#     but fragments single datagrams; tund counts one fallback, logs it, and
#     64 MiB still arrive exact each way
#   5 TUN offloads refused: the server's tund runs as if TUNSETOFFLOAD had
#     failed (TUND_TEST_NO_TUN_OFFLOAD=1, a TUND_TEST_HOOKS build, as CI's):
#     it says so in status, reads single packets, writes unmerged, and
#     64 MiB still arrive exact each way against an offloading client
#
# Needs root; without it prints SKIP and exits 77. Binaries from
# $TUND_BIN_DIR (default <repo>/build). LAB_KEEP=1 leaves the lab up.
# The configs set offload explicitly, so LAB_OFFLOAD (tests/run.sh) does
# not change what this test checks. tests/run.sh sets OFFLOAD_BIG_MIB=256
# for the sanitizer build: that pass looks for memory errors, and the full
# gigabyte (the issue's figure) is moved by the plain pass.
# Debian packages used: iproute2, curl, python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need curl curl
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins

PORT=41641
HTTP=8080
SINK=8081
BIG_MIB=${OFFLOAD_BIG_MIB:-1024}
[[ $BIG_MIB =~ ^[1-9][0-9]*$ ]] || lab_die "OFFLOAD_BIG_MIB must be a positive number of MiB, not '$BIG_MIB'"
MID_MIB=64

lab_init offload

lab_ns a
lab_ns b
lab_veth a eth0 b eth0
lab_addr a eth0 198.51.100.1/24
lab_addr b eth0 198.51.100.2/24
lab_tund_key a
lab_tund_key b

# write_confs A_OFFLOAD B_OFFLOAD
write_confs() {
	cat >"$(lab_tund_conf b)" <<-EOF
	[tund]
	private_key_file = $LAB_DIR/b.key
	interface = tund0
	address = 100.100.0.1/16
	listen_port = $PORT
	control_socket = $(lab_tund_sock b)
	client_pool = 100.127.0.0/16
	offload = $2

	[client "a"]
	key = ${LAB_PUB[a]}
	EOF
	cat >"$(lab_tund_conf a)" <<-EOF
	[tund]
	private_key_file = $LAB_DIR/a.key
	interface = tund0
	address = 100.100.0.2/16
	listen_port = $PORT
	control_socket = $(lab_tund_sock a)
	offload = $1

	[peer "srv"]
	key = ${LAB_PUB[b]}
	address = 100.100.0.10
	endpoint = 198.51.100.2:$PORT
	EOF
}

# start_pair A_OFFLOAD B_OFFLOAD [VAR=VALUE...]: (re)starts both daemons,
# the server with the environment given; waits for a ping.
start_pair() {
	local n a_off=$1 b_off=$2
	shift 2
	for n in a b; do
		[ -z "${LAB_TUND_PID[$n]:-}" ] || lab_tund_kill "$n"
		LAB_TUND_PID[$n]=
	done
	write_confs "$a_off" "$b_off"
	lab_tund_start b b "$@" && lab_tund_start a a &&
		lab_wait_for 10 "a ping through the tunnel" lab_exec a ping -c 1 -W 1 100.100.0.10
}

counter() { lab_tund_get "$1" "d['counters'].get('$2', 0)"; }
peer_get() { lab_tund_get "$1" "d['peers'][0]['$2']"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$LAB_DIR/www"
head -c $((BIG_MIB * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www/big.bin"
head -c $((MID_MIB * 1024 * 1024)) "$LAB_DIR/www/big.bin" >"$LAB_DIR/www/mid.bin"
BIG_SHA=$(sha "$LAB_DIR/www/big.bin")
MID_SHA=$(sha "$LAB_DIR/www/mid.bin")
lab_http_serve b "$LAB_DIR/www" "$HTTP"

# An upload sink: stores each POST body under $LAB_DIR/up/ and answers
# with its SHA-256.
mkdir -p "$LAB_DIR/up"
cat >"$LAB_DIR/sink.py" <<'EOF'
import hashlib, http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        left = int(self.headers["Content-Length"])
        h = hashlib.sha256()
        while left:
            b = self.rfile.read(min(left, 1 << 20))
            if not b:
                break
            h.update(b)
            left -= len(b)
        body = h.hexdigest().encode()
        self.send_response(200 if not left else 400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
EOF
lab_bg b "$LAB_DIR/sink.log" "$LAB_PY" "$LAB_DIR/sink.py" "$SINK"

# down FILE OUT: downloads FILE from the server through the tunnel.
down() {
	lab_exec a curl -sS --fail --max-time 300 -o "$2" "http://100.100.0.10:$HTTP/$1"
}

# both_ways: MID_MIB down and up, each SHA-256 checked.
both_ways() {
	local got up rc=0
	down mid.bin "$LAB_DIR/mid.got" || return 1
	got=$(sha "$LAB_DIR/mid.got")
	rm -f "$LAB_DIR/mid.got"
	note "down $MID_MIB MiB: sha256 ${got:0:16}... (want ${MID_SHA:0:16}...)"
	[ "$got" = "$MID_SHA" ] || rc=1
	up=$(lab_exec a curl -sS --fail --max-time 300 -H 'Expect:' --data-binary "@$LAB_DIR/www/mid.bin" \
		"http://100.100.0.10:$SINK/") || return 1
	note "up $MID_MIB MiB: sha256 ${up:0:16}... (want ${MID_SHA:0:16}...)"
	[ "$up" = "$MID_SHA" ] || rc=1
	return $rc
}

check_datapath() {
	local n dp rc=0
	for n in a b; do
		dp=$(lab_tund_get "$n" "d['datapath']") || return 1
		note "$n: $dp"
		[[ $dp == *"tso4"* && $dp == *"udp gso on, gro on"* ]] || rc=1
	done
	return $rc
}

check_big() {
	local got t0 t1 sends frames merged
	t0=$(lab_now_ms)
	down big.bin "$LAB_DIR/big.got" || return 1
	t1=$(lab_now_ms)
	got=$(sha "$LAB_DIR/big.got")
	rm -f "$LAB_DIR/big.got"
	note "$BIG_MIB MiB in $((t1 - t0)) ms; sha256 ${got:0:16}... (want ${BIG_SHA:0:16}...)"
	sends=$(counter b udp_gso_sends) frames=$(counter b udp_gso_frames)
	merged=$(counter a tun_gro_merged)
	note "server: udp_gso_sends $sends, udp_gso_frames $frames; client: tun_gro_merged $merged," \
		"tun_gro_writes $(counter a tun_gro_writes), udp_gro_messages $(counter a udp_gro_messages)"
	note "client: rx_auth_failed $(peer_get a rx_auth_failed), rx_replayed $(peer_get a rx_replayed)," \
		"tun_write_errors $(counter a tun_write_errors); server tun_bad_offload $(counter b tun_bad_offload)"
	[ "$got" = "$BIG_SHA" ] && [ "$sends" -gt 0 ] && [ "$frames" -gt $((sends * 4)) ] &&
		[ "$merged" -gt 0 ] && [ "$(peer_get a rx_auth_failed)" -eq 0 ] &&
		[ "$(counter a tun_write_errors)" -eq 0 ] && [ "$(counter b tun_bad_offload)" -eq 0 ]
}

check_mixed() {
	local rc=0
	start_pair off auto || return 1
	note "client offload = off ($(lab_tund_get a "d['datapath']")), server auto"
	both_ways || rc=1
	start_pair auto off || return 1
	note "client auto, server offload = off ($(lab_tund_get b "d['datapath']"))"
	both_ways || rc=1
	return $rc
}

check_gso_refused() {
	local n fb rc=0
	start_pair auto auto || return 1
	for n in a b; do lab_exec "$n" ip link set eth0 mtu 1400; done
	note "underlay MTU now 1400 on both ends; tund's frames are 1380 + 32 bytes"
	both_ways || rc=1
	for n in a b; do
		fb=$(counter "$n" udp_gso_fallbacks)
		note "$n: udp_gso_fallbacks $fb; $(lab_tund_get "$n" "d['datapath']")"
		grep -i 'gso' "$(lab_tund_logf "$n")" | tail -n 1 | sed 's/^/    | /'
		[ "$fb" -eq 1 ] || rc=1
	done
	for n in a b; do lab_exec "$n" ip link set eth0 mtu 1500; done
	return $rc
}

check_tun_refused() {
	local dp rc=0
	start_pair auto auto TUND_TEST_NO_TUN_OFFLOAD=1 || return 1
	dp=$(lab_tund_get b "d['datapath']") || return 1
	note "server: $dp"
	[[ $dp == "tun offloads: refused by the kernel;"* ]] ||
		{ note "the server's TUN offloads were not refused: is this a TUND_TEST_HOOKS build?"; return 1; }
	both_ways || rc=1
	note "server: tun_gro_writes $(counter b tun_gro_writes), tun_gro_merged $(counter b tun_gro_merged)," \
		"tun_bad_offload $(counter b tun_bad_offload); client tun_gro_merged $(counter a tun_gro_merged)"
	[ "$(counter b tun_gro_merged)" -eq 0 ] && [ "$(counter b tun_bad_offload)" -eq 0 ] &&
		[ "$(counter a tun_gro_merged)" -gt 0 ] && [ $rc -eq 0 ]
}

start_pair auto auto || lab_die "the tunnel did not come up"
run_check "1 TUN offloads, UDP GSO and GRO in force on both ends" check_datapath
run_check "2 $BIG_MIB MiB with offloads, SHA-256 equal, GSO and GRO used" check_big
run_check "3 offload = off against auto, both ways, byte-exact" check_mixed
run_check "4 UDP GSO refused (underlay MTU below the frames): one fallback, nothing lost" check_gso_refused
run_check "5 TUN offloads refused at the server: single packets, nothing lost" check_tun_refused

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
	echo "logs kept in $LAB_DIR"
fi
rm -rf "$LAB_DIR/www" "$LAB_DIR/up" # 1 GiB: not worth keeping even on failure
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
