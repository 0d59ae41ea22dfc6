# shellcheck shell=bash
#
# lib.sh - the NAT lab's reusable machinery (DESIGN.md §8), sourced by the
# end-to-end tests, the benchmarks and the demo.
#
# It owns: network namespaces named with a per-run prefix (so parallel runs
# and leftovers of killed runs never collide), veth links, an "internet
# core" router namespace with one bridge per public segment (NAT routers
# will later attach to it like any other host), background processes started
# inside namespaces, bounded waits, and one EXIT trap that kills every
# recorded process and deletes every namespace this run made.
#
# Invariants:
#   - nothing is created outside namespaces named "$LAB_PREFIX*"; the host's
#     interfaces, routes and nftables are never touched, and every address
#     used is a documentation (RFC 5737) or shared (100.64.0.0/10) address,
#     or a private 10.0.0.0/8 LAN behind a NAT router of natlab.sh;
#   - every wait is bounded in time and in iterations;
#   - every process started through lab_bg is recorded and killed by PID.
#
# Usage:
#   source tests/e2e/lib.sh
#   lab_require_root "$0"
#   lab_init e2e                   # prefix, work dir, cleanup trap
#   lab_core_init
#   lab_core_segment pub 198.51.100.1/24
#   lab_ns server; lab_core_attach server eth0 pub 198.51.100.7/24
#
# Environment:
#   TUND_BIN_DIR   where tund and tunctl are (default: <repo>/build)
#   LAB_KEEP=1     leave namespaces, processes and the work dir up on exit

LAB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TUND_BIN_DIR=${TUND_BIN_DIR:-$LAB_REPO/build}
LAB_PY=/usr/bin/python3
LAB_PREFIX=
LAB_DIR=
LAB_KEEP=${LAB_KEEP:-0}
LAB_KEEP_DIR=${LAB_KEEP_DIR:-0}   # 1: keep only the work dir (logs, captures)
LAB_NS_MADE=()
LAB_PIDS=()
LAB_LAST_PID=
LAB_T0=${EPOCHREALTIME/./}
LAB_LINK_SEQ=0
declare -A LAB_SEG_GW=()
declare -A LAB_TUND_PID=()
declare -A LAB_TUND_NS=()
declare -A LAB_TUND_ENV=()
declare -A LAB_PUB=()

# ---------------------------------------------------------------- basics

lab_log() {
	local now=${EPOCHREALTIME/./}
	local ms=$(((now - LAB_T0) / 1000))
	printf '[lab %3d.%03ds] %s\n' $((ms / 1000)) $((ms % 1000)) "$*" >&2
}

lab_die() {
	echo "ERROR: $*" >&2
	exit 1
}

# Monotonic-enough milliseconds, for deadlines and for reporting durations.
lab_now_ms() {
	local now=${EPOCHREALTIME/./}
	echo $((now / 1000))
}

# Tests need root (namespaces, TUN, tcpdump): say so loudly and exit 77,
# the conventional "skipped" status, so a non-root run never passes silently.
lab_require_root() {
	local what=${1:-$0}
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: $what needs root (network namespaces, TUN devices, packet capture)" >&2
		echo "SKIP: re-run as root, e.g. sudo $what" >&2
		exit 77
	fi
	if [ ! -c /dev/net/tun ]; then
		echo "SKIP: $what needs /dev/net/tun (TUN driver)" >&2
		exit 77
	fi
}

# lab_need CMD [DEBIAN_PACKAGE]: installs the package with apt-get when the
# command is missing (the project's scripts must install what they use); if
# that is impossible, skips loudly.
lab_need() {
	local cmd=$1 pkg=${2:-$1}
	command -v "$cmd" >/dev/null 2>&1 && return 0
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
		lab_log "installing Debian package $pkg (for $cmd)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 ||
			{ apt-get update -qq >/dev/null 2>&1 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1; } || true
	fi
	if ! command -v "$cmd" >/dev/null 2>&1; then
		echo "SKIP: needs '$cmd' (Debian package $pkg), which could not be installed" >&2
		exit 77
	fi
}

# lab_init TAG: per-run prefix and work dir, and the cleanup trap.
lab_init() {
	local tag=${1:-lab}
	LAB_PREFIX="${tag}-$$-${RANDOM}-"
	LAB_DIR=$(mktemp -d "/tmp/tund-${tag}.XXXXXX")
	trap lab_cleanup EXIT
	trap 'lab_log "interrupted"; exit 130' INT
	trap 'lab_log "terminated"; exit 143' TERM
	lab_log "run prefix ${LAB_PREFIX}, work dir $LAB_DIR"
}

# ------------------------------------------------------------ namespaces

lab_ns_name() { echo "${LAB_PREFIX}$1"; }

# lab_ns NAME: a fresh namespace with lo up and IPv6 off (no router
# solicitations or MLD reports muddying captures).
lab_ns() {
	local ns
	ns=$(lab_ns_name "$1")
	ip netns add "$ns"
	LAB_NS_MADE+=("$ns")
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null
}

# lab_exec NAME CMD...: runs CMD inside namespace NAME.
lab_exec() {
	local ns
	ns=$(lab_ns_name "$1")
	shift
	ip netns exec "$ns" "$@"
}

# lab_veth NS1 IF1 NS2 IF2: a veth pair created directly inside the two
# namespaces (never in the host's), both ends up.
lab_veth() {
	local a b
	a=$(lab_ns_name "$1")
	b=$(lab_ns_name "$3")
	ip link add "$2" netns "$a" type veth peer name "$4" netns "$b"
	ip -n "$a" link set "$2" up
	ip -n "$b" link set "$4" up
}

# lab_addr NS IF CIDR
lab_addr() { ip -n "$(lab_ns_name "$1")" addr add "$3" dev "$2"; }

# lab_route NS ARGS...: "ip route add ARGS" inside NS.
lab_route() {
	local ns
	ns=$(lab_ns_name "$1")
	shift
	ip -n "$ns" route add "$@"
}

# ------------------------------------------------------- internet core
#
# The core is one router namespace. Each public segment is a bridge in it
# carrying the segment's gateway address; hosts (and later NAT routers)
# attach with a veth whose core end joins the bridge. The core forwards
# between segments and never NATs.

lab_core_init() {
	lab_ns core
	lab_exec core sysctl -qw net.ipv4.ip_forward=1 >/dev/null
}

# lab_core_segment SEG GW/LEN, e.g. lab_core_segment pub 198.51.100.1/24
lab_core_segment() {
	local seg=$1 gw=$2 core
	core=$(lab_ns_name core)
	ip -n "$core" link add "br-$seg" type bridge
	ip -n "$core" addr add "$gw" dev "br-$seg"
	ip -n "$core" link set "br-$seg" up
	LAB_SEG_GW[$seg]=${gw%/*}
}

# lab_core_attach NS IF SEG ADDR/LEN [MTU]: links NS to a segment and
# routes NS's default through the segment gateway.
lab_core_attach() {
	local ns=$1 ifn=$2 seg=$3 addr=$4 mtu=${5:-} core port
	core=$(lab_ns_name core)
	[ -n "${LAB_SEG_GW[$seg]:-}" ] || lab_die "lab_core_attach: no segment '$seg'"
	LAB_LINK_SEQ=$((LAB_LINK_SEQ + 1))
	port="c$LAB_LINK_SEQ-$seg"
	port=${port:0:15}
	lab_veth "$ns" "$ifn" core "$port"
	ip -n "$core" link set "$port" master "br-$seg"
	if [ -n "$mtu" ]; then
		ip -n "$core" link set "$port" mtu "$mtu"
		ip -n "$(lab_ns_name "$ns")" link set "$ifn" mtu "$mtu"
	fi
	lab_addr "$ns" "$ifn" "$addr"
	lab_route "$ns" default via "${LAB_SEG_GW[$seg]}"
}

# --------------------------------------------------------- processes

# lab_bg NS LOG CMD...: starts CMD in NS in the background (stdin from
# /dev/null, stdout+stderr appended to LOG), records its PID for cleanup and
# leaves it in LAB_LAST_PID. "ip netns exec" and "env" both exec, so the PID
# is CMD's own: signals sent to it reach the program itself.
lab_bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$(lab_ns_name "$ns")" "$@" </dev/null >>"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

lab_alive() { kill -0 "$1" 2>/dev/null; }

# lab_stop PID [SIGNAL]: signal, wait up to 5 s, then SIGKILL; reaps it.
# Its stderr is silenced so bash's "Killed ..." job notice stays out of the
# test output.
lab_stop() {
	local pid=$1 sig=${2:-TERM} i
	{
		if lab_alive "$pid"; then
			kill "-$sig" "$pid"
			for ((i = 0; i < 50; i++)); do
				lab_alive "$pid" || break
				sleep 0.1
			done
			lab_alive "$pid" && kill -KILL "$pid"
		fi
		wait "$pid" || true
	} 2>/dev/null
}

# lab_wait_for TIMEOUT_S DESC CMD...: retries CMD every 0.2 s until it
# succeeds or TIMEOUT_S passes. 0 on success; 1 (and a message) on timeout.
lab_wait_for() {
	local timeout=$1 desc=$2 deadline i max
	shift 2
	deadline=$(($(lab_now_ms) + timeout * 1000))
	max=$((timeout * 5 + 5))
	for ((i = 0; i < max; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		[ "$(lab_now_ms)" -ge "$deadline" ] && break
		sleep 0.2
	done
	lab_log "timed out after ${timeout}s waiting for: $desc"
	return 1
}

# lab_cleanup: the EXIT trap. Kills recorded processes, then any straggler
# still inside one of this run's namespaces (all started by this run), then
# deletes the namespaces, which takes their veths and bridges with them.
lab_cleanup() {
	local rc=$? pid ns
	set +e
	trap - INT TERM
	if [ "$LAB_KEEP" = 1 ]; then
		lab_log "LAB_KEEP=1: leaving namespaces ${LAB_PREFIX}* and $LAB_DIR up"
		return "$rc"
	fi
	for pid in "${LAB_PIDS[@]}"; do
		lab_alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in "${LAB_PIDS[@]}"; do
		lab_stop "$pid" TERM
	done
	for ns in "${LAB_NS_MADE[@]}"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
	done
	for ns in "${LAB_NS_MADE[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	# Sanitizer builds: a report in any program's log fails the run, even
	# when every check passed (a leak or a bad read need not break one).
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ] &&
		grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LAB_DIR"/*.log >/dev/null 2>&1; then
		lab_log "sanitizer reports in:"
		grep -l -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LAB_DIR"/*.log >&2
		grep -h -A12 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$LAB_DIR"/*.log | head -60 >&2
		LAB_KEEP_DIR=1
		SANITIZER_FAILED=1
	fi
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		if [ "$LAB_KEEP_DIR" = 1 ]; then
			lab_log "logs kept in $LAB_DIR"
		else
			rm -rf "$LAB_DIR"
		fi
	fi
	# The EXIT trap's return value is not the script's status; exit is.
	[ "${SANITIZER_FAILED:-0}" = 1 ] && [ "$rc" = 0 ] && exit 1
	return "$rc"
}

# ---------------------------------------------------------- reporting

N_PASS=0
N_FAIL=0
FAILED=()

# note TEXT...: evidence under the current check, indented.
note() { printf '%s\n' "$*" | sed 's/^/    /'; }

# run_check LABEL FUNCTION: FUNCTION returns 0 for PASS. It runs inside an
# `if`, so errexit is off and each check tests its own steps explicitly.
# A test may define check_failed (no arguments) to show logs on a FAIL.
run_check() {
	local label=$1 fn=$2 t0
	echo "---- check $label"
	t0=$(lab_now_ms)
	if "$fn"; then
		N_PASS=$((N_PASS + 1))
		echo "PASS $label ($(($(lab_now_ms) - t0)) ms)"
	else
		N_FAIL=$((N_FAIL + 1))
		FAILED+=("$label")
		echo "FAIL $label ($(($(lab_now_ms) - t0)) ms)"
		if declare -F check_failed >/dev/null; then check_failed; fi
	fi
}

# ------------------------------------------------------------ helpers

# lab_http_serve NS DIR PORT: python3's threading http.server on 0.0.0.0.
lab_http_serve() {
	local ns=$1 dir=$2 port=$3
	lab_bg "$ns" "$LAB_DIR/http-$ns-$port.log" \
		"$LAB_PY" -m http.server --bind 0.0.0.0 --directory "$dir" "$port"
	lab_wait_for 10 "http server in $ns:$port" \
		lab_exec "$ns" curl -sf -o /dev/null "http://127.0.0.1:$port/"
}

# lab_capture_start NS IF FILE [FILTER...]: tcpdump writing FILE; returns
# once tcpdump is listening; PID in LAB_LAST_PID. -Z root: the work dir is
# root's, and tcpdump otherwise drops to an unprivileged user.
# --immediate-mode: without it libpcap hands packets over in ring blocks
# (up to 1 s late), and the last block is lost when tcpdump is stopped.
lab_capture_start() {
	local ns=$1 ifn=$2 file=$3 log
	shift 3
	log="$file.log"
	: >"$log"
	lab_bg "$ns" "$log" tcpdump -n --immediate-mode -i "$ifn" -s 65535 -B 65536 -Z root -w "$file" "$@"
	lab_wait_for 10 "tcpdump on $ns/$ifn" grep -q 'listening on' "$log"
}

# lab_capture_stop PID: SIGINT makes tcpdump flush and exit.
lab_capture_stop() { lab_stop "$1" INT; }

# lab_capture_dropped FILE: packets tcpdump reported lost (kernel drops and
# packets the filter saw but the file did not get), 0 for a complete
# capture. Only valid after lab_capture_stop.
lab_capture_dropped() {
	"$LAB_PY" - "$1.log" <<-'EOF'
	import re, sys
	t = open(sys.argv[1]).read()
	def n(what):
	    m = re.search(r"(\d+) packets? " + what, t)
	    return int(m.group(1)) if m else None
	cap, rec, drop = n("captured"), n("received by filter"), n("dropped by kernel")
	if cap is None or rec is None or drop is None:
	    print(-1)
	else:
	    print(max(drop, rec - cap))
	EOF
}

# lab_json EXPR: evaluates a python expression over the JSON document on
# stdin, bound to d; peer(NAME) finds a peer by name, counter(NAME) reads a
# daemon counter (0 when absent).
lab_json() {
	"$LAB_PY" -c '
import json, sys
d = json.load(sys.stdin)
def peer(n):
    return next(p for p in d["peers"] if p["name"] == n)
def counter(n):
    return int(d.get("counters", {}).get(n, 0))
print(eval(sys.argv[1]))
' "$1"
}

# --------------------------------------------------------------- tund

# lab_tund_bins: checks that the daemon and the control tool are built.
lab_tund_bins() {
	local b
	for b in tund tunctl; do
		[ -x "$TUND_BIN_DIR/$b" ] ||
			lab_die "$TUND_BIN_DIR/$b not found: build first (cmake -S $LAB_REPO -B $LAB_REPO/build && cmake --build $LAB_REPO/build) or set TUND_BIN_DIR"
	done
}

# Bounded: a wedged daemon must fail the check, not hang the run.
lab_tunctl() { timeout 5 "$TUND_BIN_DIR/tunctl" "$@"; }

# lab_tund_key NAME: writes $LAB_DIR/NAME.key, public key in LAB_PUB[NAME].
lab_tund_key() {
	local name=$1
	(umask 077 && lab_tunctl genkey >"$LAB_DIR/$name.key")
	LAB_PUB[$name]=$(lab_tunctl pubkey <"$LAB_DIR/$name.key")
	[ -n "${LAB_PUB[$name]}" ] || lab_die "tunctl pubkey gave nothing for $name"
}

lab_tund_conf() { echo "$LAB_DIR/$1.conf"; }
lab_tund_sock() { echo "$LAB_DIR/$1.sock"; }
lab_tund_logf() { echo "$LAB_DIR/$1.log"; }

# lab_tund_conf_offload FILE: with LAB_OFFLOAD set (tests/run.sh runs the
# suite once with the default, offload = auto, and once with
# LAB_OFFLOAD=off), writes "offload = $LAB_OFFLOAD" into the [tund] section
# of FILE unless the file sets offload itself. Tests that rewrite a config
# for a reload call it again.
lab_tund_conf_offload() {
	[ -n "${LAB_OFFLOAD:-}" ] || return 0
	grep -q '^[[:space:]]*offload[[:space:]]*=' "$1" && return 0
	sed -i "/^[[:space:]]*\[tund\]/a offload = $LAB_OFFLOAD" "$1"
}

# lab_tund_start NS NAME [VAR=VALUE...]: runs tund -c $LAB_DIR/NAME.conf in
# NS (environment VAR=VALUE added) and waits until its control socket
# answers. The log is appended to across restarts.
lab_tund_start() {
	local ns=$1 name=$2 sock
	shift 2
	sock=$(lab_tund_sock "$name")
	lab_tund_conf_offload "$(lab_tund_conf "$name")"
	echo "---- start $(date +%T.%N)" >>"$(lab_tund_logf "$name")"
	lab_bg "$ns" "$(lab_tund_logf "$name")" env "$@" "$TUND_BIN_DIR/tund" -c "$(lab_tund_conf "$name")"
	LAB_TUND_PID[$name]=$LAB_LAST_PID
	LAB_TUND_NS[$name]=$ns
	LAB_TUND_ENV[$name]="$*"
	if ! lab_wait_for 10 "tund $name control socket" lab_tunctl -s "$sock" status ||
		! lab_alive "$LAB_LAST_PID"; then
		lab_log "tund $name did not come up; its log:"
		tail -n 30 "$(lab_tund_logf "$name")" >&2
		return 1
	fi
}

# lab_tund_kill NAME [SIGNAL]
lab_tund_kill() { lab_stop "${LAB_TUND_PID[$1]}" "${2:-TERM}"; }

# lab_tund_restart NAME [SIGNAL]: stops tund NAME with SIGNAL (default
# TERM) and starts it again in the same namespace with the same environment.
lab_tund_restart() {
	local name=$1 env
	lab_tund_kill "$name" "${2:-TERM}"
	read -r -a env <<<"${LAB_TUND_ENV[$name]}"
	lab_tund_start "${LAB_TUND_NS[$name]}" "$name" "${env[@]}"
}

# lab_tund_status NAME: the JSON status document.
lab_tund_status() { lab_tunctl -s "$(lab_tund_sock "$1")" status --json; }

# lab_tund_get NAME EXPR: lab_json EXPR over NAME's status.
lab_tund_get() { lab_tund_status "$1" | lab_json "$2"; }
