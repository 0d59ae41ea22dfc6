#!/usr/bin/env bash
#
# test_demo.sh - the README's first command, demo/demo.sh (issue 5,
# acceptance item 5): it runs to the end, shows the recorder's page and
# stream at the recorder's local IP, and leaves nothing behind, whether it
# finishes, is told to --keep (and then torn down with the command it
# printed), or is interrupted with Ctrl-C.
#
# The demo builds its own lab (see the drawing at the top of demo/demo.sh:
# core, mediator, relay, a recorder behind a port-restricted NAT, a laptop
# behind a symmetric NAT). This test makes no namespace of its own; it
# runs the demo with an environment variable only the demo's processes
# carry (TUND_DEMO_MARK, inherited by every process the demo starts, in
# any namespace), finds the demo's namespace prefix in its output, and
# afterwards looks for both.
#
# Checks (each prints PASS or FAIL):
#   1 a plain run exits 0 in under 90 s; its output holds the fetched
#     page's title, the ffprobe line (h264, 640x360, 25 frames/s), "path:
#     relay" in tunctl status, and the summary; afterwards no namespace
#     with its prefix, no process carrying its mark, no work directory
#   2 --keep exits 0 and leaves the lab up: the printed curl command
#     fetches the page again; the printed teardown command then removes
#     every namespace, process and the work directory
#   3 Ctrl-C (SIGINT to the demo's process group, as a terminal sends it)
#     once the tunnel is up (while tunctl netcheck runs): the demo exits 130 and leaves nothing behind
#
# Takes about 40 s. Needs root; without it prints SKIP and exits 77.
# Binaries from $TUND_BIN_DIR: tund, tunctl, tund-mediator, tund-relay.
# Debian packages used (the demo installs them): iproute2, nftables, curl,
# ffmpeg, python3.

set -uo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
for b in tund tunctl tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not found: build first or set TUND_BIN_DIR"
done
export TUND_BIN_DIR
DEMO=$LAB_REPO/demo/demo.sh
TITLE="NVR-1 recorder (tund demo)"
TITLE_RE='NVR-1 recorder \(tund demo\)'

lab_init demotest

# Whatever a failed check left: the namespaces of every demo this test ran
# (their prefixes are recorded as they are learnt) and the processes
# carrying this run's marks.
PREFIXES=()
MARKS=()
cleanup_demos() {
	local p ns m pid
	for m in "${MARKS[@]}"; do
		for pid in $(marked_pids "$m"); do kill -KILL "$pid" 2>/dev/null; done
	done
	for p in "${PREFIXES[@]}"; do
		for ns in $(demo_namespaces "$p"); do
			for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
			ip netns del "$ns" 2>/dev/null
		done
	done
}
# lab_cleanup takes the script's status from $?.
on_exit() {
	local rc=$?
	cleanup_demos
	(exit "$rc")
	lab_cleanup
}
trap on_exit EXIT

new_mark() {
	MARK="tund-demo-test-$$-$RANDOM$RANDOM"
	MARKS+=("$MARK")
}

# marked_pids MARK: processes whose environment holds TUND_DEMO_MARK=MARK.
marked_pids() {
	local p
	for p in /proc/[0-9]*; do
		grep -qzxF "TUND_DEMO_MARK=$1" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
	done
	return 0
}

demo_namespaces() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep -F -- "$1" | grep "^$1" || true; }

# learn OUTFILE: sets PREFIX and WORKDIR from the demo's "run prefix" line.
learn() {
	local line
	line=$(grep -m1 -o 'run prefix [^ ,]*, work dir [^ ]*' "$1" || true)
	PREFIX=$(awk '{ print $3 }' <<<"$line" | tr -d ,)
	WORKDIR=$(awk '{ print $6 }' <<<"$line")
	[ -n "$PREFIX" ] && PREFIXES+=("$PREFIX")
	[ -n "$PREFIX" ] && [ -n "$WORKDIR" ]
}

# nothing_left: no namespace with PREFIX, no process with MARK, no WORKDIR.
nothing_left() {
	local ns pids ok=0
	ns=$(demo_namespaces "$PREFIX")
	pids=$(marked_pids "$MARK")
	[ -z "$ns" ] || { note "namespaces left: ${ns//$'\n'/ }"; ok=1; }
	[ -z "$pids" ] || { note "processes left: $(ps -o pid=,args= -p "${pids//$'\n'/,}")"; ok=1; }
	[ ! -e "$WORKDIR" ] || { note "work directory left: $WORKDIR"; ok=1; }
	[ "$ok" = 0 ] && note "nothing left: no namespace ${PREFIX}*, no process, no $WORKDIR"
	return "$ok"
}

has() { # FILE PATTERN WHAT: grep -E PATTERN in FILE, noting the line found
	local line
	line=$(grep -m1 -E -- "$2" "$1") || { note "missing: $3"; return 1; }
	note "$3: ${line#"${line%%[! ]*}"}"
}

check_failed() {
	[ -n "${OUT:-}" ] && [ -f "$OUT" ] || return 0
	echo "    demo output (last lines):"
	tail -n 25 "$OUT" | sed 's/^/    | /'
}

# ----------------------------------------------------------------- check 1

check_run() {
	local rc=0 t0 ok=0
	new_mark
	OUT=$LAB_DIR/run.out
	t0=$(lab_now_ms)
	env TUND_DEMO_MARK="$MARK" timeout 90 bash "$DEMO" </dev/null >"$OUT" 2>&1 || rc=$?
	note "demo exited $rc after $(($(lab_now_ms) - t0)) ms"
	learn "$OUT" || { note "no 'run prefix' line in the output"; return 1; }
	[ "$rc" = 0 ] || ok=1
	has "$OUT" "title: $TITLE_RE" "page title" || ok=1
	has "$OUT" "<title>$TITLE_RE</title>" "page body" || ok=1
	has "$OUT" 'ffprobe: video h264 .*640x360, 25 frames/s' "ffprobe line" || ok=1
	has "$OUT" '^ +path: relay$' "tunctl status" || ok=1
	has "$OUT" 'demo run: ' "timing" || ok=1
	has "$OUT" 'Everything the demo started is stopped' "last line" || ok=1
	nothing_left || ok=1
	return "$ok"
}

# ----------------------------------------------------------------- check 2

check_keep() {
	local rc=0 ok=0 curl_cmd down_cmd page c d
	new_mark
	OUT=$LAB_DIR/keep.out
	env TUND_DEMO_MARK="$MARK" timeout 90 bash "$DEMO" --keep </dev/null >"$OUT" 2>&1 || rc=$?
	learn "$OUT" || { note "no 'run prefix' line in the output"; return 1; }
	[ "$rc" = 0 ] || { note "demo --keep exited $rc"; ok=1; }
	note "left up: $(demo_namespaces "$PREFIX" | wc -l) namespaces, $(marked_pids "$MARK" | wc -w) processes"
	[ -n "$(demo_namespaces "$PREFIX")" ] && [ -n "$(marked_pids "$MARK")" ] || ok=1
	curl_cmd=$(sed -n 's/^ *\$ \(ip netns exec [^ ]* curl .*\)$/\1/p' "$OUT" | head -n 1)
	down_cmd=$(sed -n 's/^ *\$ \(sh .*down\.sh\)$/\1/p' "$OUT" | head -n 1)
	if [ -z "$curl_cmd" ] || [ -z "$down_cmd" ]; then
		note "printed commands missing (curl: '$curl_cmd', teardown: '$down_cmd')"
		return 1
	fi
	read -r -a c <<<"$curl_cmd"
	read -r -a d <<<"$down_cmd"
	page=$(timeout 10 "${c[@]}" -sS --max-time 5 2>&1) || true
	if grep -qF "<title>$TITLE</title>" <<<"$page"; then
		note "after the demo ended: $curl_cmd -> the page"
	else
		note "$curl_cmd gave: $(head -c 200 <<<"$page")"
		ok=1
	fi
	note "teardown: $down_cmd -> $(timeout 30 "${d[@]}" 2>&1 | tail -n 1)"
	nothing_left || ok=1
	return "$ok"
}

# ----------------------------------------------------------------- check 3

check_ctrl_c() {
	local pid pgid rc=0 ok=0 i
	new_mark
	OUT=$LAB_DIR/ctrlc.out
	# A shell started with & from a script begins with SIGINT ignored, and
	# a signal ignored on entry cannot be trapped: the demo would never see
	# the Ctrl-C. So SIGINT goes back to its default first, as in a shell
	# at a terminal, and the demo gets a process group of its own (setsid)
	# for the "terminal" to signal. $! is then the demo's bash.
	"$LAB_PY" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp(sys.argv[1], sys.argv[1:])' env TUND_DEMO_MARK="$MARK" bash "$DEMO" </dev/null >"$OUT" 2>&1 &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q 'What each tund found out' "$OUT" 2>/dev/null && break
		lab_alive "$pid" || break
		sleep 0.2
	done
	learn "$OUT" || { note "no 'run prefix' line in the output"; kill -KILL "$pid" 2>/dev/null; return 1; }
	pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
	if [ "$pgid" != "$pid" ]; then
		note "the demo is not its own process group ($pgid vs $pid)"
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	note "running: $(demo_namespaces "$PREFIX" | wc -l) namespaces, $(marked_pids "$MARK" | wc -w) processes; SIGINT to group $pgid"
	kill -INT -- "-$pgid"
	for ((i = 0; i < 150; i++)); do
		lab_alive "$pid" || break
		sleep 0.2
	done
	if lab_alive "$pid"; then
		note "still running 30 s after SIGINT"
		kill -KILL -- "-$pgid" 2>/dev/null
		ok=1
	fi
	wait "$pid" 2>/dev/null || rc=$?
	note "demo exited $rc: $(grep -m1 -E 'interrupted|stopped' "$OUT" | sed 's/^ *//')"
	[ "$rc" = 130 ] || ok=1
	nothing_left || ok=1
	return "$ok"
}

run_check "1 demo runs to the end: page title, ffprobe h264 640x360, relay; nothing left" check_run
run_check "2 --keep leaves it up; the printed curl works; the printed teardown removes all" check_keep
run_check "3 Ctrl-C once the tunnel is up: exit 130, nothing left" check_ctrl_c

echo
echo "demo: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	exit 1
fi
