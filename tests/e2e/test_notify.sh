#!/usr/bin/env bash
#
# test_notify.sh - the sd_notify(3) side of the three daemons
# (shared/sdnotify.c): READY=1 only once the service does its job, and
# STOPPING=1 on SIGTERM. A python3 listener stands in for systemd.
#
#                        core (router), br-pub 198.51.100.1/24
#        |                              |                           |
#   node (tund)                    med (tund-mediator)         relay (tund-relay)
#   eth0 198.51.100.9/24           eth0 198.51.100.2/24        eth0 198.51.100.20/24
#   tund0 100.100.0.1/16           UDP 3478, 3479, TCP 3478    TCP 443
#   NOTIFY_SOCKET=<path>           NOTIFY_SOCKET=@abstract     NOTIFY_SOCKET=<path>
#
# How "ready too early" is caught: before a daemon starts, the listener
# fills its own receive queue (AF_UNIX datagram queues hold
# net.unix.max_dgram_qlen messages), so the daemon's notification send
# blocks in sendto(2) until the listener reads. The listener waits until
# the daemon's main thread sits in that send (/proc/PID/syscall), and only
# then runs the readiness check: whatever the daemon had not done before
# it sent READY=1 it cannot do while blocked, so an early READY fails the
# check every time, not by luck of timing. Only then does the listener
# drain the queue, and it takes the sender's PID from SCM_CREDENTIALS (as
# systemd does) to confirm that the daemon itself sent the message.
#
# Checks (each prints PASS or FAIL):
#   1 tund: READY=1 from tund's PID while tund0 exists, is UP, carries
#     100.100.0.1/16 and routes to its peer and client pool, and its UDP
#     port and control socket are bound (negative control: the same check
#     fails before tund starts)
#   2 tund: STOPPING=1 on SIGTERM, exit status 0
#   3 tund-mediator (abstract socket name): READY=1 while UDP 3478 and
#     3479 are bound and a TCP connect to 3478 succeeds; STOPPING=1 on
#     SIGTERM, exit 0
#   4 tund-relay: READY=1 while a TCP connect to 443 succeeds; STOPPING=1
#     on SIGTERM, exit 0
#   5 a NOTIFY_SOCKET nobody listens on (and an unsupported vsock: one)
#     changes nothing: the daemons start and serve as usual
#
# Takes about 10 s. Needs root; without it prints SKIP and exits 77.
# Binaries from $TUND_BIN_DIR: tund, tunctl, tund-mediator, tund-relay.
# Debian packages used: iproute2 (ip, ss), python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need ss iproute2
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
for b in tund tunctl tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not found: build first or set TUND_BIN_DIR"
done

lab_init notify
# Check 6's systemd and its cgroups go first; lab_cleanup then sees the
# script's status as $? (set +e: under errexit, "(exit 1)" would end the
# trap right there).
trap 'rc=$?; set +e; cleanup_systemd; (exit $rc); lab_cleanup' EXIT

# ------------------------------------------------------------ listener

# notify.py SOCKET OUT PIDFILE CHECK...: the stand-in for systemd. SOCKET
# is a path or @abstract-name. Each received message becomes one JSON line
# in OUT. See the top of this file for the order of events.
cat >"$LAB_DIR/notify.py" <<'EOF'
import json, os, signal, socket, struct, subprocess, sys, time

sock_name, out_path, pid_path = sys.argv[1:4]
check = sys.argv[4:]
SENDTO, SENDMSG = 44, 46                     # x86_64 syscall numbers
addr = "\0" + sock_name[1:] if sock_name.startswith("@") else sock_name
out = open(out_path, "a", buffering=1)
def emit(**kw):
    out.write(json.dumps(kw) + "\n")

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(addr)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
filled = 0
for _ in range(100000):                      # bounded; stops at the queue limit
    try:
        filler.sendto(b"FILL", socket.MSG_DONTWAIT, addr)
        filled += 1
    except BlockingIOError:
        break
emit(event="listening", filled=filled)

def wait_for(what, fn, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.01)
    emit(event="timeout", waiting_for=what)
    sys.exit(1)

def read_pid():
    try:
        return int(open(pid_path).read())
    except (OSError, ValueError):
        return 0
pid = wait_for("pid file", read_pid, 20)

def in_send():
    try:
        nr = open("/proc/%d/syscall" % pid).read().split()[0]
    except (OSError, IndexError):
        sys.exit(emit(event="daemon gone before notifying") or 1)
    return {str(SENDTO): "sendto", str(SENDMSG): "sendmsg"}.get(nr)
frozen_in = wait_for("daemon blocked in its notification send", in_send, 20)
r = subprocess.run(check, capture_output=True, text=True, timeout=20)
emit(event="check", frozen_in=frozen_in, rc=r.returncode, out=(r.stdout + r.stderr)[-2000:])

deadline = time.monotonic() + 60
s.settimeout(1)
while time.monotonic() < deadline:
    try:
        msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    except socket.timeout:
        continue
    if msg == b"FILL":
        continue
    sender = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            sender = struct.unpack("iII", data[:12])[0]
    text = msg.decode(errors="replace")
    emit(event="message", pid=sender, text=text)
    if "STOPPING=1" in text.split("\n"):
        break
EOF

# listen NS NAME SOCKET CHECK...: starts the listener in NS (an abstract
# name is only reachable from its own network namespace), its JSON lines
# in $LAB_DIR/NAME.notify; returns once its queue is full.
listen() {
	local ns=$1 name=$2 sock=$3
	shift 3
	rm -f "$LAB_DIR/$name.pid" "$LAB_DIR/$name.notify"
	lab_bg "$ns" "$LAB_DIR/$name-listener.log" "$LAB_PY" "$LAB_DIR/notify.py" "$sock" \
		"$LAB_DIR/$name.notify" "$LAB_DIR/$name.pid" "$@"
	LISTENER_PID=$LAB_LAST_PID
	lab_wait_for 10 "notify listener $name" grep -q '"listening"' "$LAB_DIR/$name.notify"
}

# event NAME EXPR: python EXPR over the list of NAME's JSON lines (ev).
event() {
	"$LAB_PY" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
def first(kind, pred=lambda e: True):
    return next((e for e in ev if e["event"] == kind and pred(e)), None)
def msg(word):
    return first("message", lambda e: word in e["text"].split("\n"))
print(eval(sys.argv[2]))
' "$LAB_DIR/$1.notify" "$2"
}

# has_msg NAME WORD: NAME's listener has received a message with WORD.
has_msg() { [ "$(event "$1" "msg('$2') is not None")" = True ]; }

# expect_ready NAME PID: the listener checked readiness while PID was
# blocked sending, the check passed, and the message came from PID.
expect_ready() {
	local name=$1 pid=$2
	lab_wait_for 20 "READY=1 from $name" has_msg "$name" READY=1 ||
		{ note "events: $(cat "$LAB_DIR/$name.notify")"; return 1; }
	note "queue pre-filled with $(event "$name" 'first("listening")["filled"]') datagrams"
	note "check while $name was blocked in $(event "$name" 'first("check")["frozen_in"]')(READY=1): rc $(event "$name" 'first("check")["rc"]')"
	event "$name" 'first("check")["out"].rstrip()' | sed 's/^/      /'
	note "received: $(event "$name" 'repr(msg("READY=1")["text"])') from PID $(event "$name" 'msg("READY=1")["pid"]')"
	[ "$(event "$name" 'first("check")["rc"]')" = 0 ] || return 1
	[ "$(event "$name" 'msg("READY=1")["pid"]')" = "$pid" ] ||
		{ note "sender PID is not $name's ($pid)"; return 1; }
}

# expect_stopping NAME PID: SIGTERM gives STOPPING=1 from PID and exit 0.
expect_stopping() {
	local name=$1 pid=$2 rc=0 i
	kill -TERM "$pid"
	for ((i = 0; i < 100; i++)); do
		lab_alive "$pid" || break
		sleep 0.1
	done
	lab_alive "$pid" && { note "$name still running 10 s after SIGTERM"; return 1; }
	wait "$pid" || rc=$?
	note "$name exited with status $rc"
	lab_wait_for 5 "STOPPING=1 from $name" has_msg "$name" STOPPING=1 ||
		{ note "events: $(cat "$LAB_DIR/$name.notify")"; return 1; }
	note "received: $(event "$name" 'repr(msg("STOPPING=1")["text"])') from PID $(event "$name" 'msg("STOPPING=1")["pid"]')"
	[ "$(event "$name" 'msg("STOPPING=1")["pid"]')" = "$pid" ] || return 1
	lab_stop "$LISTENER_PID"
	[ "$rc" = 0 ]
}

show_log() { note "--- $1:"; tail -n 15 "$LAB_DIR/$1" 2>/dev/null | sed 's/^/    | /'; }

# ------------------------------------------------------------------ lab

lab_core_init
lab_core_segment pub 198.51.100.1/24
lab_ns node;  lab_core_attach node eth0 pub 198.51.100.9/24
lab_ns med;   lab_core_attach med eth0 pub 198.51.100.2/24
lab_ns relay; lab_core_attach relay eth0 pub 198.51.100.20/24
NODE=$(lab_ns_name node)
MEDNS=$(lab_ns_name med)
RELAYNS=$(lab_ns_name relay)
for k in node peer med relay; do
	(umask 077 && lab_tunctl genkey >"$LAB_DIR/$k.key")
done
CTL=$LAB_DIR/tund.sock
cat >"$LAB_DIR/tund.conf" <<EOF
[tund]
private_key_file = $LAB_DIR/node.key
interface = tund0
address = 100.100.0.1/16
listen_port = 41641
control_socket = $CTL
client_pool = 100.127.0.0/16
state_directory = $LAB_DIR

[peer "hq"]
key = $(lab_tunctl pubkey <"$LAB_DIR/peer.key")
address = 100.100.0.10
endpoint = 198.51.100.7:41641
EOF
cat >"$LAB_DIR/mediator.conf" <<EOF
[mediator]
private_key_file = $LAB_DIR/med.key
listen = 0.0.0.0:3478
alt_port = 3479
EOF
cat >"$LAB_DIR/relay.conf" <<EOF
[relay]
private_key_file = $LAB_DIR/relay.key
listen = 0.0.0.0:443
EOF

# Readiness checks, run by the listener while the daemon is blocked.
cat >"$LAB_DIR/ready-tund.sh" <<EOF
ns=$NODE
ok() { echo "ok: \$1"; }
bad() { echo "NOT READY: \$1"; exit 1; }
l=\$(ip -n \$ns -o link show dev tund0 2>&1) || bad "no tund0 (\$l)"
ok "tund0 exists"
echo "\$l" | grep -q '[<,]UP[,>]' || bad "tund0 is not UP: \$l"
ok "tund0 is UP"
ip -n \$ns -o addr show dev tund0 | grep -q 'inet 100.100.0.1/16' || bad "tund0 has no 100.100.0.1/16"
ok "tund0 has 100.100.0.1/16"
for a in 100.100.0.10 100.127.0.5; do   # the peer; an address in client_pool
	r=\$(ip -n \$ns route get \$a 2>&1)
	echo "\$r" | grep -q ' dev tund0 ' || bad "\$a is not routed into tund0: \$r"
	ok "\$(echo \$r | head -n1)"
done
ss -N \$ns -Hlun 'sport = :41641' | grep -q . || bad "UDP 41641 not bound"
ok "UDP 41641 bound"
test -S $CTL || bad "no control socket"
ok "control socket $CTL bound"
EOF
cat >"$LAB_DIR/ready-mediator.sh" <<EOF
ns=$MEDNS
for p in 3478 3479; do
	ss -N \$ns -Hlun "sport = :\$p" | grep -q . || { echo "NOT READY: UDP \$p not bound"; exit 1; }
	echo "ok: UDP \$p bound"
done
ip netns exec \$ns timeout 3 bash -c 'exec 3<>/dev/tcp/198.51.100.2/3478' ||
	{ echo "NOT READY: TCP connect to 3478 failed"; exit 1; }
echo "ok: TCP connect to 198.51.100.2:3478"
EOF
cat >"$LAB_DIR/ready-relay.sh" <<EOF
ip netns exec $RELAYNS timeout 3 bash -c 'exec 3<>/dev/tcp/198.51.100.20/443' ||
	{ echo "NOT READY: TCP connect to 443 failed"; exit 1; }
echo "ok: TCP connect to 198.51.100.20:443"
EOF

# --------------------------------------------------------------- checks

TUND_PID=

check_tund_ready() {
	local out
	if out=$(bash "$LAB_DIR/ready-tund.sh" 2>&1); then
		note "negative control: the readiness check passed before tund started: $out"
		return 1
	fi
	note "negative control, before tund starts: $(echo "$out" | tail -n1)"
	listen node tund "$LAB_DIR/tund.sock.notify" bash "$LAB_DIR/ready-tund.sh" || return 1
	lab_bg node "$LAB_DIR/tund.log" env NOTIFY_SOCKET="$LAB_DIR/tund.sock.notify" \
		"$TUND_BIN_DIR/tund" -c "$LAB_DIR/tund.conf"
	TUND_PID=$LAB_LAST_PID
	echo "$TUND_PID" >"$LAB_DIR/tund.pid"
	expect_ready tund "$TUND_PID" || { show_log tund.log; return 1; }
	lab_tunctl -s "$CTL" status >/dev/null || { note "tunctl status failed after READY"; return 1; }
	note "tunctl status answers after READY"
}

check_tund_stopping() {
	[ -n "$TUND_PID" ] || return 1
	expect_stopping tund "$TUND_PID" || { show_log tund.log; return 1; }
}

check_mediator() {
	listen med mediator "@tund-notify-${LAB_PREFIX}med" bash "$LAB_DIR/ready-mediator.sh" || return 1
	lab_bg med "$LAB_DIR/mediator.log" env NOTIFY_SOCKET="@tund-notify-${LAB_PREFIX}med" \
		"$TUND_BIN_DIR/tund-mediator" -c "$LAB_DIR/mediator.conf"
	local pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/mediator.pid"
	expect_ready mediator "$pid" || { show_log mediator.log; return 1; }
	expect_stopping mediator "$pid" || { show_log mediator.log; return 1; }
}

check_relay() {
	listen relay relay "$LAB_DIR/relay.sock.notify" bash "$LAB_DIR/ready-relay.sh" || return 1
	lab_bg relay "$LAB_DIR/relay.log" env NOTIFY_SOCKET="$LAB_DIR/relay.sock.notify" \
		"$TUND_BIN_DIR/tund-relay" -c "$LAB_DIR/relay.conf"
	local pid=$LAB_LAST_PID
	echo "$pid" >"$LAB_DIR/relay.pid"
	expect_ready relay "$pid" || { show_log relay.log; return 1; }
	expect_stopping relay "$pid" || { show_log relay.log; return 1; }
}

# Nobody listens at the first address; the second is systemd 253's vsock
# form, which we do not speak. Either way the daemon must just run.
check_no_listener() {
	local sock pid rc
	for sock in "$LAB_DIR/nobody.sock" "vsock:2:1234"; do
		lab_bg node "$LAB_DIR/tund-nolistener.log" env NOTIFY_SOCKET="$sock" \
			"$TUND_BIN_DIR/tund" -c "$LAB_DIR/tund.conf"
		pid=$LAB_LAST_PID
		lab_wait_for 10 "tund answering (NOTIFY_SOCKET=$sock)" lab_tunctl -s "$CTL" status ||
			{ show_log tund-nolistener.log; return 1; }
		rc=0
		kill -TERM "$pid"
		wait "$pid" || rc=$?
		note "tund with NOTIFY_SOCKET=$sock: answered tunctl status, exit $rc"
		[ "$rc" = 0 ] || return 1
		lab_bg relay "$LAB_DIR/relay-nolistener.log" env NOTIFY_SOCKET="$sock" \
			"$TUND_BIN_DIR/tund-relay" -c "$LAB_DIR/relay.conf"
		pid=$LAB_LAST_PID
		lab_wait_for 10 "relay accepting (NOTIFY_SOCKET=$sock)" bash "$LAB_DIR/ready-relay.sh" ||
			{ show_log relay-nolistener.log; return 1; }
		rc=0
		kill -TERM "$pid"
		wait "$pid" || rc=$?
		note "tund-relay with NOTIFY_SOCKET=$sock: accepted a connection, exit $rc"
		[ "$rc" = 0 ] || return 1
	done
}

# ------------------------------------------------- 6: under systemd itself
#
# Where PID 1 is not systemd (a container such as CI's), systemd 252 is
# booted as PID 1 of fresh PID, mount and network namespaces, with the
# units as `cmake --install` wrote them. Inside: a tmpfs on /run (the
# prefix is installed there: a prefix under /tmp would be hidden by
# PrivateTmp=) and on /var/lib (StateDirectory=), an /etc/group with the
# tund-keys group bind-mounted over the real one, and a drop-in per unit
# that only removes the default dependencies (no sysinit.target, so no
# boot-time service runs) and sends the daemons' output to $LAB_DIR. What
# the host keeps (the cgroups systemd made at the top of each hierarchy,
# PrivateTmp= directories of a killed unit) cleanup_systemd removes, also
# when the test is interrupted.

SD_PID=
SD_UNSHARE=
SD_BEFORE=

sd() { nsenter -t "$SD_PID" -m -p -n "$@"; }

# What systemd leaves on the host's file systems: cgroup directories at
# the top of each hierarchy, and PrivateTmp='s directories when a unit is
# killed rather than stopped. One per line, to remove only what was added.
host_traces() {
	find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d 2>/dev/null
	find /tmp /var/tmp -maxdepth 1 -name 'systemd-private-*-tund*.service-*' 2>/dev/null
}

cleanup_systemd() {
	local d i
	if [ -n "$SD_PID" ] && lab_alive "$SD_PID"; then
		sd systemctl exit 0 >/dev/null 2>&1 || kill -TERM "$SD_PID" 2>/dev/null
	fi
	# unshare --kill-child: systemd, PID 1 of the namespace, dies with it,
	# and every process of the namespace with systemd.
	[ -z "$SD_UNSHARE" ] || lab_stop "$SD_UNSHARE"
	[ -n "$SD_BEFORE" ] || return 0
	for ((i = 0; i < 50; i++)); do           # cgroups empty once the kernel has reaped
		local left=0
		while read -r d; do
			[ -n "$d" ] || continue
			case $d in
				/sys/fs/cgroup/*)
					find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
					[ -d "$d" ] && left=1 ;;
				*) rm -rf "$d" ;;
			esac
		done < <(comm -13 <(echo "$SD_BEFORE") <(host_traces | sort))
		[ "$left" = 0 ] && break
		sleep 0.1
	done
	return 0
}

write_systemd_boot() {
	local gid=$1
	cat >"$LAB_DIR/sdboot.sh" <<EOF
#!/bin/bash
# PID 1 of the new namespaces until it execs systemd.
set -e
P=/run/tund-lab
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
ip link set lo up
cmake --install "$TUND_BIN_DIR" --prefix \$P >"$LAB_DIR/sd-install.log" 2>&1
(umask 077
 \$P/bin/tunctl genkey >\$P/etc/tund/private.key
 \$P/bin/tunctl genkey >\$P/etc/tund/mediator.key
 \$P/bin/tunctl genkey >\$P/etc/tund/relay.key)
chgrp $gid \$P/etc/tund/mediator.key \$P/etc/tund/relay.key
chmod 0640 \$P/etc/tund/mediator.key \$P/etc/tund/relay.key
cp /etc/group /run/group.lab
grep -q '^tund-keys:' /run/group.lab || echo "tund-keys:x:$gid:" >>/run/group.lab
mount --bind /run/group.lab /etc/group
mkdir -p /run/systemd/system
cp \$P/lib/systemd/system/*.service /run/systemd/system/
for u in tund tund-mediator tund-relay; do
	mkdir -p /run/systemd/system/\$u.service.d
	printf '[Unit]\nDefaultDependencies=no\n[Service]\nStandardOutput=append:$LAB_DIR/sd-%s.log\nStandardError=inherit\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \$u \
		>/run/systemd/system/\$u.service.d/lab.conf
done
printf '[Unit]\nDefaultDependencies=no\nWants=tund.service tund-mediator.service tund-relay.service\n' \
	>/run/systemd/system/tund-lab.target
exec env container=tund-lab /lib/systemd/systemd --system --unit=tund-lab.target --log-target=console
EOF
}

# proc_creds PID: "uid=U groups=(G...) eff=X bnd=X amb=X nnp=N", from
# /proc/PID/status inside the namespace.
proc_creds() {
	# shellcheck disable=SC2016  # awk's own $2
	sd awk '/^Uid:/{u=$2} /^Groups:/{g=$0; sub(/^Groups:[ \t]*/, "", g); sub(/[ \t]+$/, "", g)}
		/^CapEff:/{e=$2} /^CapBnd:/{b=$2} /^CapAmb:/{a=$2} /^NoNewPrivs:/{n=$2}
		END{printf "uid=%s groups=(%s) eff=%s bnd=%s amb=%s nnp=%s", u, g, e, b, a, n}' "/proc/$1/status"
}

all_active() { [ "$(sd systemctl is-active tund tund-mediator tund-relay | sort -u)" = active ]; }

check_systemd() {
	if [ ! -f "$TUND_BIN_DIR/cmake_install.cmake" ]; then
		SKIPPED_SYSTEMD=1
		note "$TUND_BIN_DIR is not a CMake build tree: nothing to install under systemd"
		return 0
	fi
	if [ "$(cat /proc/1/comm)" = systemd ] || [ ! -x /lib/systemd/systemd ]; then
		SKIPPED_SYSTEMD=1
		note "PID 1 is systemd here (or systemd is missing): not booting another one; see docs/install.md"
		return 0
	fi
	local gid
	gid=$(getent group tund-keys | cut -d: -f3)
	if [ -z "$gid" ]; then
		for gid in $(seq 990 -1 900); do getent group "$gid" >/dev/null || break; done
	fi
	write_systemd_boot "$gid"
	SD_BEFORE=$(host_traces | sort)
	setsid unshare --pid --mount --net --fork --kill-child --mount-proc --propagation private \
		bash "$LAB_DIR/sdboot.sh" </dev/null >"$LAB_DIR/sd-manager.log" 2>&1 &
	SD_UNSHARE=$!
	LAB_PIDS+=("$SD_UNSHARE")
	lab_wait_for 20 "systemd as PID 1 of the namespace" \
		bash -c "[ \"\$(cat /proc/\$(pgrep -P $SD_UNSHARE)/comm)\" = systemd ]" ||
		{ show_log sd-manager.log; show_log sd-install.log; return 1; }
	SD_PID=$(pgrep -P "$SD_UNSHARE")
	lab_wait_for 30 "the three units active" all_active ||
		{ sd systemctl --no-pager status tund tund-mediator tund-relay | sed 's/^/    | /'
		  show_log sd-tund.log; return 1; }
	local u pid creds
	for u in tund tund-mediator tund-relay; do
		pid=$(sd systemctl show -P MainPID "$u")
		creds=$(proc_creds "$pid")
		note "$u.service: active, status \"$(sd systemctl show -P StatusText "$u")\", $creds"
		case $u in
			tund) [[ $creds == "uid=0 groups=() eff=0000000000001000 bnd=0000000000001000 amb=0000000000000000 nnp=1" ]] ;;
			tund-mediator) [[ $creds =~ ^uid=[1-9][0-9]*\ groups=\(([0-9]+\ )*$gid(\ [0-9]+)*\)\ eff=0{16}\ bnd=0{16}\ amb=0{16}\ nnp=1$ ]] ;;
			tund-relay) [[ $creds =~ ^uid=[1-9][0-9]*\ groups=\(([0-9]+\ )*$gid(\ [0-9]+)*\)\ eff=0{13}400\ bnd=0{13}400\ amb=0{13}400\ nnp=1$ ]] ;;
		esac || { note "unexpected credentials for $u"; return 1; }
	done
	note "(0x1000 = CAP_NET_ADMIN, 0x400 = CAP_NET_BIND_SERVICE; gid $gid = tund-keys)"
	sd ip -o addr show dev tund0 | grep -q 'inet 100.100.0.1/16' || { note "no tund0 with its address"; return 1; }
	sd /run/tund-lab/bin/tunctl status >/dev/null || { note "tunctl status failed"; return 1; }
	note "tund0 has 100.100.0.1/16; tunctl status answers on /run/tund/tund.sock"
	pid=$(sd systemctl show -P MainPID tund)
	sd systemctl reload tund || { note "systemctl reload tund failed"; return 1; }
	lab_wait_for 10 "tund active after reload" test "$(sd systemctl is-active tund)" = active || return 1
	[ "$(sd systemctl show -P MainPID tund)" = "$pid" ] || { note "tund restarted instead of reloading"; return 1; }
	note "systemctl reload tund: still active, same main PID $pid"
	sd systemctl stop tund tund-mediator tund-relay || return 1
	for u in tund tund-mediator tund-relay; do
		note "$u.service after stop: $(sd systemctl show -P ActiveState "$u"), result $(sd systemctl show -P Result "$u"), exit status $(sd systemctl show -P ExecMainStatus "$u")"
		[ "$(sd systemctl show -P Result "$u")" = success ] || return 1
		[ "$(sd systemctl show -P ExecMainStatus "$u")" = 0 ] || return 1
	done
}

run_check "1 tund: READY=1 only with tund0 up, addressed and routed, ports bound" check_tund_ready
run_check "2 tund: STOPPING=1 on SIGTERM, exit 0" check_tund_stopping
run_check "3 tund-mediator (abstract socket): READY=1 with ports bound, STOPPING=1" check_mediator
run_check "4 tund-relay: READY=1 with port 443 accepting, STOPPING=1" check_relay
run_check "5 no listener / unsupported NOTIFY_SOCKET: daemons run as usual" check_no_listener
SKIPPED_SYSTEMD=0
run_check "6 under systemd 252 as PID 1 of a namespace: the installed units, hardened" check_systemd
if [ "$SKIPPED_SYSTEMD" = 1 ]; then
	N_PASS=$((N_PASS - 1))
	echo "(check 6 was not run, so it is not counted)"
fi

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
fi
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
