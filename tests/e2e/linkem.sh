# shellcheck shell=bash
#
# linkem.sh - lab links with delay, loss and reordering. This kernel has no
# netem qdisc (kernel-notes/link-emulation.md), so the frames pass through
# tests/tools/linkem.c instead. Sourced after lib.sh.
#
# lab_emu_link NS1 IF1 NS2 IF2 D12 D21 [linkem args] is a drop-in for
# lab_veth NS1 IF1 NS2 IF2: IF1 appears in NS1 and IF2 in NS2, both up,
# both plain veth ends that the caller may address, bridge or re-MTU. In
# between, inside a namespace of its own, sits linkem:
#
#   NS1            emu-N                                                    NS2
#   IF1 ==veth== w1 -- br1 -- tapA  [linkem]  tapB -- br2 -- w2 ==veth== IF2
#                          D12 ms: IF1 -> IF2   D21 ms: IF2 -> IF1
#
# Invariants:
#   - the emu namespace holds nothing else and sends nothing of its own:
#     IPv6 off before any device exists, no addresses, STP and multicast
#     snooping off, bridged frames kept out of netfilter;
#   - everything inside it runs at MTU 65521 (the TAP maximum), so the link
#     carries whatever MTU the caller gives IF1 and IF2 (the veth ends
#     enforce it, as with lab_veth); the bridges also pass link-local groups except the three
#     the kernel never forwards (STP, pause, LACP);
#   - linkem is started with lab_bg (killed by PID on exit) and creates the
#     TAPs itself, so if it dies the TAPs vanish and the link goes dead
#     rather than bypassing the emulation.
#
# Per link (N from 1): LAB_EMU_PID[emu-N], LAB_EMU_LOG[emu-N]; LAB_EMU_LAST
# names the link made last. Counters: lab_emu_counter EMU ab|ba FIELD reads
# the newest counters line (printed on exit, or on lab_emu_snapshot).

LAB_EMU_SEQ=0
LAB_EMU_LAST=
declare -A LAB_EMU_PID=()
declare -A LAB_EMU_LOG=()

# lab_emu_link NS1 IF1 NS2 IF2 DELAY_1TO2_MS DELAY_2TO1_MS [linkem args...]
# e.g. lab_emu_link site1 wan core c-site1 20 20 --loss-ab 1 --seed 3
lab_emu_link() {
	local ns1=$1 if1=$2 ns2=$3 if2=$4 d12=$5 d21=$6 emu e log pid br dev
	shift 6
	[ -x "$TUND_BIN_DIR/linkem" ] ||
		lab_die "$TUND_BIN_DIR/linkem not found: build it (cmake --build <dir> --target linkem) or set TUND_BIN_DIR"
	LAB_EMU_SEQ=$((LAB_EMU_SEQ + 1))
	emu="emu-$LAB_EMU_SEQ"
	lab_ns "$emu"
	e=$(lab_ns_name "$emu")
	# br_netfilter is built in and on by default: without this, every
	# bridged frame would detour through the emu namespace's netfilter.
	ip netns exec "$e" sysctl -qw net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 \
		>/dev/null 2>&1 || true
	log="$LAB_DIR/linkem-$emu.log"
	: >"$log"
	lab_bg "$emu" "$log" "$TUND_BIN_DIR/linkem" --a tapA --b tapB \
		--delay-ab "$d12" --delay-ba "$d21" "$@"
	pid=$LAB_LAST_PID
	if ! lab_wait_for 5 "linkem in $emu" grep -q '^linkem: ready' "$log" || ! lab_alive "$pid"; then
		lab_log "linkem for $ns1/$if1 <-> $ns2/$if2 did not start; its log:"
		tail -n 5 "$log" >&2
		return 1
	fi
	LAB_EMU_PID[$emu]=$pid
	LAB_EMU_LOG[$emu]=$log
	# shellcheck disable=SC2034 # read by the scripts that source this file
	LAB_EMU_LAST=$emu
	lab_veth "$ns1" "$if1" "$emu" w1
	lab_veth "$emu" w2 "$ns2" "$if2"
	for br in br1 br2; do
		ip -n "$e" link add "$br" type bridge stp_state 0 forward_delay 0 \
			mcast_snooping 0 group_fwd_mask 0xfff8
	done
	for dev in w1 w2 tapA tapB; do
		ip -n "$e" link set "$dev" mtu 65521
	done
	ip -n "$e" link set w1 master br1
	ip -n "$e" link set tapA master br1
	ip -n "$e" link set w2 master br2
	ip -n "$e" link set tapB master br2
	ip -n "$e" link set br1 up
	ip -n "$e" link set br2 up
	lab_log "emulated link $ns1/$if1 <-> $ns2/$if2 via $emu: $d12/$d21 ms${*:+ $*}"
}

# lab_emu_snapshot EMU: has linkem print its counters now (SIGUSR1) and
# waits until it has.
lab_emu_snapshot() {
	local emu=$1 n
	n=$(grep -c '^linkem: tapB->tapA ' "${LAB_EMU_LOG[$emu]}" || true)
	kill -USR1 "${LAB_EMU_PID[$emu]}" || return 1
	lab_wait_for 5 "counters from linkem in $emu" lab_emu_lines_above "$emu" "$n"
}

lab_emu_lines_above() {
	[ "$(grep -c '^linkem: tapB->tapA ' "${LAB_EMU_LOG[$1]}" || true)" -gt "$2" ]
}

# lab_emu_stop EMU: SIGTERM (linkem prints its counters and exits), waits
# up to 5 s, then SIGKILL. Returns linkem's exit status. The link is dead
# afterwards: the TAPs go with the process.
lab_emu_stop() {
	local pid=${LAB_EMU_PID[$1]} rc=0 i
	kill -TERM "$pid" 2>/dev/null || return 1
	for ((i = 0; i < 50; i++)); do
		lab_alive "$pid" || break
		sleep 0.1
	done
	lab_alive "$pid" && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# lab_emu_counter EMU ab|ba FIELD: FIELD (read, forwarded, lost, reordered,
# queue_full, write_errors, queued, late_avg_us, late_max_us, ring_dropped)
# from the newest counters line for that direction; ab is NS1 -> NS2.
# ring_dropped: frames the kernel dropped at the TAP before linkem read them.
lab_emu_counter() {
	local emu=$1 dir=$2 field=$3 from line
	case $dir in
	ab) from='tapA->tapB' ;;
	ba) from='tapB->tapA' ;;
	*) lab_die "lab_emu_counter: direction '$dir' is not ab or ba" ;;
	esac
	line=$(grep "^linkem: $from " "${LAB_EMU_LOG[$emu]}" | tail -n 1 || true)
	if [[ ! $line =~ [[:space:]]$field=([0-9.]+) ]]; then
		echo "lab_emu_counter: no '$field' counter for $emu $dir" >&2
		return 1
	fi
	echo "${BASH_REMATCH[1]}"
}
