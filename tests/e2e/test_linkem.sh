#!/usr/bin/env bash
#
# test_linkem.sh - the lab's emulated links (tests/e2e/linkem.sh over
# tests/tools/linkem.c) delay, drop and reorder what they are told to, and
# nothing else.
#
#        l                      emu-N (one per link)                 r
#   eth0 198.51.100.1/24  ==[ 20 ms ->, 0 ms <- ]==  eth0 198.51.100.2/24
#   eth1 203.0.113.1/24   ==[ 10 ms ->, 10 ms <- ]== eth1 203.0.113.2/24
#   eth2 192.0.2.1/26     ==[ 0/0, 10 % loss -> ]==  eth2 192.0.2.2/26
#   eth3 192.0.2.65/26    ==[ 0/0, 30 % held 5 ms -> ]== eth3 192.0.2.66/26
#
#        h eth0 192.0.2.130/26 ==[ 5 ms, 5 ms ]== core br-wan 192.0.2.129/26
#        (the core end is put into a bridge after the link is made, as a NAT
#        router's uplink will be)
#
# Checks (each prints PASS or FAIL):
#   1 ping RTT over 20/0: of 40 pings the fastest is 19.5..23 ms (never
#     early, and the emulator on time) and the median under 40 ms (the rest
#     is this shared VM's scheduling)
#   2 one-way delay: l->r 19..23 ms, r->l under 3 ms (UDP probes, shared
#     CLOCK_MONOTONIC)
#   3 ping RTT over 10/10, bounds as in 1
#   4 20 MB over HTTP through the 20/0 link arrives byte-exact
#   5 10 % loss: 200 pings lose 4..18 %, and linkem's counters account for
#     every frame (static ARP, so the pings are the only frames)
#   6 reordering: 200 UDP datagrams all arrive, some out of order, and the
#     reordered counter says how many were held
#   7 a link whose far end is bridged afterwards (core segment) works
#   8 errors name the device and step; SIGTERM exits 0 with counters
#
# Needs root; without it prints SKIP and exits 77. linkem from
# $TUND_BIN_DIR (default <repo>/build). LAB_KEEP=1 leaves the lab up.
# Debian packages used: iproute2, iputils-ping, curl, python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=linkem.sh
source "$(dirname "${BASH_SOURCE[0]}")/linkem.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need ping iputils-ping
lab_need curl curl
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
[ -x "$TUND_BIN_DIR/linkem" ] ||
	lab_die "$TUND_BIN_DIR/linkem not found: build it (cmake --build <dir> --target linkem) or set TUND_BIN_DIR"

BIG_BYTES=$((20 * 1024 * 1024))
HTTP=8080
PROBE_PORT=9000

lab_init linkem


# in_range VALUE LO HI (decimals allowed)
in_range() { "$LAB_PY" -c 'import sys; v,lo,hi=map(float,sys.argv[1:]); sys.exit(0 if lo<=v<=hi else 1)' "$@"; }

# rtt_stats NS ADDR COUNT: "MIN MEDIAN" ping RTT in ms (the first,
# ARP-delayed reply is just one sample).
rtt_stats() {
	lab_exec "$1" ping -n -c "$3" -i 0.02 -W 2 "$2" |
		"$LAB_PY" -c '
import re, statistics, sys
t = [float(m) for m in re.findall(r"time=([0-9.]+) ms", sys.stdin.read())]
print("%.3f %.3f" % (min(t), statistics.median(t)) if t else "nan nan")'
}

# rtt_check NS ADDR WANT: WANT ms of emulated RTT is applied. The minimum
# is what the emulator does (never early, and at least one reply close to
# the target); the median also carries this shared VM's scheduling, so it
# only has to stay within a loose bound (CI once saw a 28.7 ms median on a
# 20 ms link while the minimum was right).
rtt_check() {
	local s mn md want=$3
	s=$(rtt_stats "$1" "$2" 40)
	mn=${s% *} md=${s#* }
	note "RTT over 40 pings: min $mn ms, median $md ms (emulated $want ms)"
	in_range "$mn" $((want * 10 - 5))e-1 $((want + 3)) &&
		in_range "$md" $((want * 10 - 5))e-1 $((want * 2))
}

mac_of() { lab_exec "$1" cat "/sys/class/net/$2/address"; }

# static_arp IF ADDR_L ADDR_R: both ends know each other, so no ARP frame
# crosses the link and linkem's counters see only the test's packets.
static_arp() {
	local ifn=$1 al=$2 ar=$3
	lab_exec l ip neigh replace "$ar" lladdr "$(mac_of r "$ifn")" dev "$ifn" nud permanent
	lab_exec r ip neigh replace "$al" lladdr "$(mac_of l "$ifn")" dev "$ifn" nud permanent
}

# UDP probe: "recv ADDR PORT N TIMEOUT" prints a JSON summary once N
# datagrams arrived or TIMEOUT seconds passed; "send ADDR PORT N GAP_S"
# sends N datagrams carrying a sequence number and the send time.
# CLOCK_MONOTONIC is one clock for every network namespace, so receive
# time minus send time is the one-way delay.
write_probe() {
	cat >"$LAB_DIR/probe.py" <<-'EOF'
	import json, socket, statistics, struct, sys, time
	mode, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	if mode == "send":
	    gap = float(sys.argv[5])
	    for i in range(n):
	        s.sendto(struct.pack("!IQ", i, time.monotonic_ns()), (addr, port))
	        time.sleep(gap)
	    sys.exit(0)
	s.bind((addr, port))
	print("bound", flush=True)
	deadline = time.monotonic() + float(sys.argv[5])
	seqs, owd = [], []
	while len(seqs) < n and time.monotonic() < deadline:
	    s.settimeout(max(0.01, deadline - time.monotonic()))
	    try:
	        b = s.recv(64)
	    except socket.timeout:
	        break
	    seq, t = struct.unpack("!IQ", b[:12])
	    seqs.append(seq)
	    owd.append((time.monotonic_ns() - t) / 1e6)
	hi, inv = -1, 0
	for q in seqs:
	    inv += q < hi
	    hi = max(hi, q)
	print(json.dumps({"count": len(seqs), "distinct": len(set(seqs)), "inversions": inv,
	                  "owd_median": statistics.median(owd) if owd else -1,
	                  "owd_max": max(owd) if owd else -1}), flush=True)
	EOF
}

# probe NS_FROM NS_TO ADDR N GAP_S: runs one probe; the summary is left in
# PROBE (JSON).
PROBE=
probe() {
	local from=$1 to=$2 addr=$3 n=$4 gap=$5 out pid
	out="$LAB_DIR/probe-$to-$addr.out"
	: >"$out"
	lab_bg "$to" "$out" "$LAB_PY" "$LAB_DIR/probe.py" recv "$addr" "$PROBE_PORT" "$n" 5
	pid=$LAB_LAST_PID
	lab_wait_for 5 "probe receiver on $addr" grep -q bound "$out" || return 1
	lab_exec "$from" "$LAB_PY" "$LAB_DIR/probe.py" send "$addr" "$PROBE_PORT" "$n" "$gap" || return 1
	lab_wait_for 8 "probe receiver on $addr to finish" grep -q count "$out" || return 1
	lab_stop "$pid"
	PROBE=$(grep count "$out")
}

pj() { echo "$PROBE" | lab_json "$1"; }

# ------------------------------------------------------------ the lab

write_probe
lab_ns l
lab_ns r
lab_emu_link l eth0 r eth0 20 0
EMU_20_0=$LAB_EMU_LAST
lab_emu_link l eth1 r eth1 10 10
lab_emu_link l eth2 r eth2 0 0 --loss-ab 10 --seed 7
EMU_LOSS=$LAB_EMU_LAST
lab_emu_link l eth3 r eth3 0 0 --reorder-ab 30 --reorder-extra 5 --seed 11
EMU_REORDER=$LAB_EMU_LAST
lab_addr l eth0 198.51.100.1/24
lab_addr r eth0 198.51.100.2/24
lab_addr l eth1 203.0.113.1/24
lab_addr r eth1 203.0.113.2/24
lab_addr l eth2 192.0.2.1/26
lab_addr r eth2 192.0.2.2/26
lab_addr l eth3 192.0.2.65/26
lab_addr r eth3 192.0.2.66/26
static_arp eth2 192.0.2.1 192.0.2.2
static_arp eth3 192.0.2.65 192.0.2.66

# ------------------------------------------------------------ checks

check_rtt_20_0() { rtt_check l 198.51.100.2 20; }

check_one_way() {
	local ab ba
	probe l r 198.51.100.2 50 0.005 || return 1
	ab=$(pj 'round(d["owd_median"], 3)')
	note "l->r: $(pj 'd["count"]')/50 probes, one-way median $ab ms, max $(pj 'round(d["owd_max"], 3)') ms"
	probe r l 198.51.100.1 50 0.005 || return 1
	ba=$(pj 'round(d["owd_median"], 3)')
	note "r->l: $(pj 'd["count"]')/50 probes, one-way median $ba ms, max $(pj 'round(d["owd_max"], 3)') ms"
	lab_emu_snapshot "$EMU_20_0" || return 1
	note "linkem's release lateness l->r: avg $(lab_emu_counter "$EMU_20_0" ab late_avg_us) us, max $(lab_emu_counter "$EMU_20_0" ab late_max_us) us"
	in_range "$ab" 19 23 && in_range "$ba" 0 3
}

check_rtt_10_10() { rtt_check l 203.0.113.2 20; }

check_bulk() {
	local want got rate
	mkdir -p "$LAB_DIR/www"
	head -c "$BIG_BYTES" /dev/urandom >"$LAB_DIR/www/big.bin"
	want=$(sha256sum <"$LAB_DIR/www/big.bin" | cut -d' ' -f1)
	lab_http_serve r "$LAB_DIR/www" "$HTTP" || return 1
	rate=$(lab_exec l curl -sf --max-time 30 -o "$LAB_DIR/big.got" -w '%{speed_download}' \
		"http://198.51.100.2:$HTTP/big.bin") || return 1
	got=$(sha256sum <"$LAB_DIR/big.got" | cut -d' ' -f1)
	note "20 MiB over the 20/0 link at $((${rate%.*} * 8 / 1000000)) Mbit/s; sha256 ${got:0:16}... (want ${want:0:16}...)"
	rm -f "$LAB_DIR/big.got"
	[ "$got" = "$want" ]
}

check_loss() {
	local out tx rx pct f ok=0
	out=$(lab_exec l ping -n -q -c 200 -i 0.005 -W 1 192.0.2.2 || true)
	tx=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' <<<"$out")
	rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$out")
	if [ -z "$tx" ] || [ -z "$rx" ]; then
		note "could not parse ping: $out"
		return 1
	fi
	pct=$(((tx - rx) * 100 / tx))
	note "ping: $tx sent, $rx answered, $pct % lost"
	lab_emu_stop "$EMU_LOSS" || { note "linkem did not exit 0 on SIGTERM"; return 1; }
	note "$(grep -h '^linkem: tap' "${LAB_EMU_LOG[$EMU_LOSS]}")"
	declare -A ab ba
	for f in read forwarded lost queue_full write_errors queued ring_dropped; do
		ab[$f]=$(lab_emu_counter "$EMU_LOSS" ab "$f") || return 1
		ba[$f]=$(lab_emu_counter "$EMU_LOSS" ba "$f") || return 1
	done
	if [ "$tx" -ne 200 ] || ! in_range "$((ab[lost] * 100 / tx))" 4 18; then ok=1; fi
	# Only the echo requests cross l->r, only the replies r->l: every
	# request linkem forwarded was answered, and every answer forwarded.
	[ "${ab[read]}" -eq "$tx" ] || { note "linkem read ${ab[read]} frames l->r, ping sent $tx"; ok=1; }
	if [ "${ba[read]}" -ne "${ab[forwarded]}" ] || [ "${ba[forwarded]}" -ne "${ab[forwarded]}" ] ||
		[ "${ba[lost]}" -ne 0 ]; then
		note "forwarded counters disagree: l->r forwarded ${ab[forwarded]}, r->l read ${ba[read]} forwarded ${ba[forwarded]}"
		ok=1
	fi
	# ping itself may give up on a reply or two on a loaded machine.
	if [ "$rx" -gt "${ba[forwarded]}" ] || [ "$rx" -lt $((ba[forwarded] - 2)) ]; then
		note "ping counted $rx replies, linkem forwarded ${ba[forwarded]}"
		ok=1
	fi
	[ $((ab[forwarded] + ab[lost] + ab[queue_full] + ab[write_errors] + ab[queued])) -eq "${ab[read]}" ] ||
		{ note "l->r counters do not add up"; ok=1; }
	[ "${ab[ring_dropped]}" -eq 0 ] || { note "the kernel dropped ${ab[ring_dropped]} frames at tapA"; ok=1; }
	return "$ok"
}

check_reorder() {
	local held read
	probe l r 192.0.2.66 200 0.001 || return 1
	lab_emu_snapshot "$EMU_REORDER" || return 1
	held=$(lab_emu_counter "$EMU_REORDER" ab reordered) || return 1
	read=$(lab_emu_counter "$EMU_REORDER" ab read) || return 1
	note "200 sent 1 ms apart: $(pj 'd["count"]') arrived ($(pj 'd["distinct"]') distinct), $(pj 'd["inversions"]') out of order; linkem held $held of $read"
	[ "$(pj 'd["count"]')" -eq 200 ] && [ "$(pj 'd["distinct"]')" -eq 200 ] &&
		[ "$(pj 'd["inversions"]')" -gt 0 ] && [ "$read" -eq 200 ] && in_range "$held" 30 90
}

check_bridged_end() {
	local core
	lab_core_init
	lab_core_segment wan 192.0.2.129/26
	lab_ns h
	lab_emu_link h eth0 core c-h 5 5
	core=$(lab_ns_name core)
	ip -n "$core" link set c-h master br-wan
	lab_addr h eth0 192.0.2.130/26
	note "h -> core gateway over 5/5 through a bridge port:"
	# In CI runs this median has been 10.5-14.5 ms (cause not found;
	# linkem's own lateness counters stay low); rtt_check's bounds allow it.
	rtt_check h 192.0.2.129 10
}

check_errors() {
	local err rc=0 ok=0
	err=$(lab_exec "$EMU_20_0" "$TUND_BIN_DIR/linkem" --a tapA --b tapX 2>&1) || rc=$?
	note "second linkem on a busy TAP: exit $rc: $err"
	[ "$rc" -eq 1 ] && [[ $err == *"linkem: tapA: TUNSETIFF: Device or resource busy"* ]] || ok=1
	rc=0
	err=$("$TUND_BIN_DIR/linkem" --a x --b y --loss-ab 101 2>&1) || rc=$?
	note "bad option: exit $rc: $err"
	[ "$rc" -eq 2 ] && [[ $err == *"--loss-ab: '101'"* ]] || ok=1
	lab_emu_stop "$EMU_20_0" || { note "linkem did not exit 0 on SIGTERM"; ok=1; }
	note "$(grep -h '^linkem: tap' "${LAB_EMU_LOG[$EMU_20_0]}")"
	# The 20 MiB of check 4 went r->l: at least one frame per 1500 bytes.
	[ "$(lab_emu_counter "$EMU_20_0" ba forwarded)" -ge $((BIG_BYTES / 1500)) ] || ok=1
	return "$ok"
}

run_check "1 RTT 20/0" check_rtt_20_0
run_check "2 one-way delay per direction" check_one_way
run_check "3 RTT 10/10" check_rtt_10_10
run_check "4 20 MiB byte-exact" check_bulk
run_check "5 loss 10 % and counters" check_loss
run_check "6 reordering" check_reorder
run_check "7 far end bridged afterwards" check_bridged_end
run_check "8 errors and SIGTERM" check_errors

echo "linkem: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -ne 0 ]; then
	printf 'failed: %s\n' "${FAILED[@]}"
	LAB_KEEP_DIR=1
	exit 1
fi
