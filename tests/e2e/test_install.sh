#!/usr/bin/env bash
#
# test_install.sh - `cmake --install` as docs/install.md describes it, into
# a temporary prefix, and what an administrator does next: check the
# example configs, verify the systemd units, read the man pages, complete
# tunctl commands. No file outside the temporary directory is written, no
# unit is started, and the only namespace is the one tund runs in for the
# completion check.
#
#   $TUND_BIN_DIR (the build tree) --cmake --install--> $T/prefix
#                                  --DESTDIR=$T/stage cmake --install --prefix /usr-->
#   namespace "node": the installed tund, for tunctl's peer-name completion
#
# Why a temporary prefix and not DESTDIR + `systemd-analyze verify --root`:
# the units name the binaries by their installed paths, and verify checks
# that each ExecStart= binary exists. systemd 252's --root= does look for
# them under the root, but it also wants the whole unit graph there
# (sysinit.target, /bin/kill for ExecReload=), which a DESTDIR tree does
# not have ("Unit sysinit.target not found"). Because the units are written
# at install time from the prefix in effect, installing to $T/prefix gives
# units that name $T/prefix/bin/tund, which exists: verify then checks the
# real thing, including that every Documentation= man page is found in the
# installed tree (MANPATH). The DESTDIR install is checked separately: its
# units must name /usr/bin, never the staging directory.
#
# Checks (each prints PASS or FAIL):
#   1 the install puts programs, units, configs (tund.conf mode 0600), man
#     pages, completion and the sysusers.d entry in place, and the units
#     name the installed binaries and configs
#   2 systemd-analyze verify passes on each unit (negative control: a unit
#     naming a missing binary fails)
#   3 tund, tund-mediator and tund-relay --check-config accept the
#     installed example configs (with keys made by tunctl genkey where the
#     configs name them)
#   4 a second install keeps modified configs, and restores a deleted one
#   5 every man page renders without a groff warning (negative control: a
#     bad macro warns), and `man tund`, `man tund.conf` and the others work
#     against the installed tree
#   6 DESTDIR staging with --prefix /usr: files under the stage, config in
#     /etc/tund, units naming /usr/bin/tund and /etc/tund, no stage path in
#     any installed text file
#   7 bash completion: commands from `tunctl help`, --json, peer names from
#     a running tund, client names for revoke, nothing (and no error) when
#     tund is not running, the static list when tunctl cannot answer
#   8 the sysusers.d entry parses (systemd-sysusers --dry-run)
#
# Needs root (the namespace for check 7); without it prints SKIP and exits
# 77. $TUND_BIN_DIR must be a configured and built CMake build tree.
# Debian packages used: cmake, systemd (systemd-analyze, systemd-sysusers),
# man-db, groff-base, iproute2.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_root "$0"
lab_need ip iproute2
lab_need cmake cmake
lab_need systemd-analyze systemd
lab_need man man-db
lab_need groff groff-base
[ -f "$TUND_BIN_DIR/cmake_install.cmake" ] ||
	lab_die "$TUND_BIN_DIR is not a CMake build tree (no cmake_install.cmake): set TUND_BIN_DIR to one"

lab_init install
T=$LAB_DIR
P=$T/prefix
INSTALL_LOG=$T/install.log

PROGRAMS=(tund tunctl tund-mediator tund-relay)
UNITS=(tund tund-mediator tund-relay)
CONFIGS=(tund.conf mediator.conf relay.conf)
MAN8=(tund tunctl tund-mediator tund-relay)
MAN5=(tund.conf tund-mediator.conf tund-relay.conf)

do_install() { # log, then cmake --install with any extra arguments
	local log=$1
	shift
	cmake --install "$TUND_BIN_DIR" "$@" >"$log" 2>&1 ||
		{ note "cmake --install $* failed:"; sed 's/^/    | /' "$log"; return 1; }
}

# ------------------------------------------------------------------ checks

check_layout() {
	do_install "$INSTALL_LOG" --prefix "$P" || return 1
	note "$(grep -c Installing "$INSTALL_LOG") files installed into $P"
	local f missing=0 u c
	for f in "${PROGRAMS[@]/#/bin/}" "${UNITS[@]/%/.service}" "${CONFIGS[@]/#/etc/tund/}" \
		"${MAN8[@]/%/.8}" "${MAN5[@]/%/.5}" share/bash-completion/completions/tunctl \
		lib/sysusers.d/tund.conf; do
		case $f in
			*.service) f=lib/systemd/system/$f ;;
			*.8) f=share/man/man8/$f ;;
			*.5) f=share/man/man5/$f ;;
		esac
		[ -e "$P/$f" ] || { note "missing: $P/$f"; missing=1; }
	done
	[ "$missing" = 0 ] || return 1
	for f in "${PROGRAMS[@]}"; do
		[ -x "$P/bin/$f" ] || { note "$P/bin/$f is not executable"; return 1; }
	done
	note "mode of tund.conf: $(stat -c %a "$P/etc/tund/tund.conf"), mediator.conf: $(stat -c %a "$P/etc/tund/mediator.conf")"
	[ "$(stat -c %a "$P/etc/tund/tund.conf")" = 600 ] || return 1
	for u in "${UNITS[@]}"; do
		c=${u#tund-}
		[ "$u" = tund ] && c=tund
		local want="ExecStart=$P/bin/$u -c $P/etc/tund/$c.conf"
		grep -qxF "$want" "$P/lib/systemd/system/$u.service" ||
			{ note "$u.service lacks \"$want\":"; grep -n Exec "$P/lib/systemd/system/$u.service" | sed 's/^/    | /'; return 1; }
		note "$u.service: $want"
	done
	if grep -n '@[A-Z_]*@' "$P"/lib/systemd/system/*.service; then
		note "unsubstituted placeholders above"
		return 1
	fi
}

check_verify() {
	local u out rc
	for u in "${UNITS[@]}"; do
		rc=0
		out=$(MANPATH=$P/share/man systemd-analyze verify "$P/lib/systemd/system/$u.service" 2>&1) || rc=$?
		note "systemd-analyze verify $u.service: exit $rc${out:+, said:}"
		[ -z "$out" ] || note "$out"
		[ "$rc" = 0 ] && [ -z "$out" ] || return 1
	done
	# Negative control: the same unit naming a binary that is not there.
	mkdir -p "$T/bad"
	sed "s#^ExecStart=$P/bin/tund #ExecStart=$P/bin/tund-missing #" \
		"$P/lib/systemd/system/tund.service" >"$T/bad/tund.service"
	rc=0
	out=$(MANPATH=$P/share/man systemd-analyze verify "$T/bad/tund.service" 2>&1) || rc=$?
	note "negative control (ExecStart= names a missing binary): exit $rc: $out"
	[ "$rc" != 0 ] && grep -q 'tund-missing' <<<"$out"
}

check_configs() {
	local out
	(umask 077 &&
		"$P/bin/tunctl" genkey >"$P/etc/tund/private.key" &&
		"$P/bin/tunctl" genkey >"$P/etc/tund/mediator.key" &&
		"$P/bin/tunctl" genkey >"$P/etc/tund/relay.key") || return 1
	grep -qxF "private_key_file = $P/etc/tund/private.key" "$P/etc/tund/tund.conf" ||
		{ note "the installed tund.conf does not name the key next to it"; return 1; }
	out=$("$P/bin/tund" --check-config -c "$P/etc/tund/tund.conf" 2>&1) || { note "$out"; return 1; }
	note "$out"
	out=$("$P/bin/tund-mediator" --check-config -c "$P/etc/tund/mediator.conf" 2>&1) || { note "$out"; return 1; }
	note "$out"
	out=$("$P/bin/tund-relay" --check-config -c "$P/etc/tund/relay.conf" 2>&1) || { note "$out"; return 1; }
	note "$out"
}

check_no_overwrite() {
	local c
	for c in "${CONFIGS[@]}"; do
		echo "# local change by test_install" >>"$P/etc/tund/$c"
	done
	chmod 640 "$P/etc/tund/mediator.conf"
	do_install "$T/install2.log" --prefix "$P" || return 1
	for c in "${CONFIGS[@]}"; do
		grep -qxF "# local change by test_install" "$P/etc/tund/$c" ||
			{ note "$c was overwritten by the second install"; return 1; }
	done
	[ "$(stat -c %a "$P/etc/tund/mediator.conf")" = 640 ] ||
		{ note "the mode of mediator.conf was changed"; return 1; }
	note "second install: $(grep -c 'Keeping existing' "$T/install2.log") configs kept:"
	grep 'Keeping existing' "$T/install2.log" | sed 's/^/      /'
	[ "$(grep -c 'Keeping existing' "$T/install2.log")" = 3 ] || return 1
	rm "$P/etc/tund/relay.conf"
	do_install "$T/install3.log" --prefix "$P" || return 1
	if [ ! -f "$P/etc/tund/relay.conf" ] || grep -q "local change" "$P/etc/tund/relay.conf"; then
		note "a deleted relay.conf was not restored"
		return 1
	fi
	note "third install, relay.conf deleted before: restored; the other two still kept"
	grep -qxF "# local change by test_install" "$P/etc/tund/tund.conf"
}

check_man() {
	local f out page n=0
	for f in "$P"/share/man/man[58]/*; do
		out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		[ -z "$out" ] || { note "$(basename "$f"): $out"; return 1; }
		n=$((n + 1))
	done
	note "man --warnings -l: no warnings on $n pages"
	printf '.TH BAD 1\n.SH NAME\nbad \\- control\n.NOSUCHMACRO\n' >"$T/bad.1"
	out=$(MANWIDTH=80 man --warnings -l "$T/bad.1" 2>&1 >/dev/null)
	note "negative control (undefined macro): $out"
	[ -n "$out" ] || return 1
	for page in tund tund.conf tunctl tund-mediator tund-relay "5 tund-mediator.conf" "5 tund-relay.conf"; do
		# shellcheck disable=SC2086  # "5 NAME" is two words on purpose
		out=$(MANPATH=$P/share/man MANPAGER=cat MANWIDTH=80 man $page 2>&1) ||
			{ note "man $page failed: $out"; return 1; }
		grep -q '^NAME' <<<"$out" || { note "man $page: no NAME section"; return 1; }
		note "man $page: $(sed -n '/^NAME/{n;p;q}' <<<"$out" | sed 's/^ *//')"
	done
}

check_destdir() {
	local stage=$T/stage f
	DESTDIR=$stage do_install "$T/install-stage.log" --prefix /usr || return 1
	for f in usr/bin/tund usr/lib/systemd/system/tund.service etc/tund/tund.conf \
		usr/share/man/man8/tund.8 usr/share/bash-completion/completions/tunctl; do
		[ -e "$stage/$f" ] || { note "missing: $stage/$f"; return 1; }
	done
	grep -qxF "ExecStart=/usr/bin/tund -c /etc/tund/tund.conf" "$stage/usr/lib/systemd/system/tund.service" ||
		{ note "tund.service:"; grep -n Exec "$stage/usr/lib/systemd/system/tund.service"; return 1; }
	grep -qxF "private_key_file = /etc/tund/private.key" "$stage/etc/tund/tund.conf" || return 1
	if grep -rlF "$stage" "$stage/usr/lib" "$stage/etc" "$stage/usr/share"; then
		note "the staging directory leaked into the files above"
		return 1
	fi
	note "DESTDIR=$stage --prefix /usr: ExecStart=/usr/bin/tund -c /etc/tund/tund.conf, config in $stage/etc/tund"
}

# complete_line WORDS...: what _tunctl offers for the command line WORDS
# (split as readline splits them), the last word being the one completed;
# one line, sorted. With BASH_COMPLETION set to bash-completion's main
# script, that is loaded first, so _tunctl goes through _init_completion
# as in an interactive Debian shell; without it, through its own fallback.
complete_line() {
	PATH="$P/bin:$PATH" BASH_COMPLETION=${BASH_COMPLETION:-} bash -c '
		[ -z "${BASH_COMPLETION:-}" ] || source "$BASH_COMPLETION"
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_tunctl tunctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "
	' complete "$P/share/bash-completion/completions/tunctl" "$@" 2>&1
}

# expect_completion WANT WORDS...: WANT is the sorted list, space-separated.
expect_completion() {
	local want=$1 got
	shift
	got=$(complete_line "$@")
	got=${got% }
	note "tunctl completion of \"$*\": ${got:-(nothing)}"
	[ "$got" = "$want" ] || { note "expected: ${want:-(nothing)}"; return 1; }
}

check_completion() {
	local mode
	for mode in "" /usr/share/bash-completion/bash_completion; do
		if [ -n "$mode" ] && [ ! -f "$mode" ]; then
			note "bash-completion is not installed: only the plain mode was checked"
			continue
		fi
		note "-- ${mode:+with }${mode:-without bash-completion}"
		BASH_COMPLETION=$mode completion_cases || return 1
	done
}

completion_cases() {
	local sock=$T/tund.sock cmds
	cmds=$("$P/bin/tunctl" help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\).*/\1/p' | sort | tr '\n' ' ')
	cmds=${cmds% }
	expect_completion "$cmds" tunctl "" || return 1
	expect_completion "help" tunctl he || return 1
	expect_completion "--json" tunctl status --j || return 1
	expect_completion "--socket" tunctl --so || return 1
	[ -n "${NODE_PID:-}" ] || start_node "$sock" || return 1
	expect_completion "hq laptop site-2" tunctl -s "$sock" ping "" || return 1
	expect_completion "site-2" tunctl -s "$sock" connect si || return 1
	expect_completion "laptop" tunctl --socket = "$sock" revoke "" || return 1
	expect_completion "" tunctl -s "$sock" connect hq "" || return 1
	expect_completion "" tunctl -s "$T/nobody.sock" disconnect "" || return 1
	# A tunctl that cannot print its help: the static list.
	local out c
	out=$(complete_line /bin/false "")
	note "completion with a tunctl whose help fails: $out"
	for c in status peers ping connect disconnect reload allow revoke genkey pubkey id help; do
		grep -qw -- "$c" <<<"$out" || { note "fallback list lacks $c"; return 1; }
	done
}

# start_node SOCKET: the installed tund with two peers and a client, in a
# namespace, for peer-name completion.
start_node() {
	local sock=$1
	lab_ns node
	cat >"$T/node.conf" <<-EOF
	[tund]
	private_key_file = $P/etc/tund/private.key
	address = 100.100.0.1/16
	listen_port = 41641
	control_socket = $sock
	client_pool = 100.127.0.0/16
	[peer "hq"]
	key = $("$P/bin/tunctl" genkey | "$P/bin/tunctl" pubkey)
	address = 100.100.0.10
	endpoint = 192.0.2.7:41641
	[peer "site-2"]
	key = $("$P/bin/tunctl" genkey | "$P/bin/tunctl" pubkey)
	address = 100.100.0.11
	endpoint = 192.0.2.8:41641
	[client "laptop"]
	key = $("$P/bin/tunctl" genkey | "$P/bin/tunctl" pubkey)
	EOF
	lab_bg node "$T/node.log" "$P/bin/tund" -c "$T/node.conf"
	NODE_PID=$LAB_LAST_PID
	lab_wait_for 10 "tund answering" "$P/bin/tunctl" -s "$sock" status ||
		{ tail -n 20 "$T/node.log" | sed 's/^/    | /'; return 1; }
}

check_sysusers() {
	local out rc=0
	out=$(systemd-sysusers --dry-run "$P/lib/sysusers.d/tund.conf" 2>&1) || rc=$?
	note "systemd-sysusers --dry-run: exit $rc: ${out:-(nothing to do: the group exists)}"
	[ "$rc" = 0 ] || return 1
	grep -q "tund-keys" <<<"$out" || getent group tund-keys >/dev/null
}

run_check "1 install layout; units name the installed binaries and configs" check_layout
run_check "2 systemd-analyze verify on every installed unit" check_verify
run_check "3 --check-config accepts the installed example configs" check_configs
run_check "4 reinstall keeps modified configs, restores a deleted one" check_no_overwrite
run_check "5 man pages render without warnings; man tund / man tund.conf work" check_man
run_check "6 DESTDIR staging: units name the final paths" check_destdir
run_check "7 bash completion of tunctl" check_completion
run_check "8 sysusers.d entry for the tund-keys group" check_sysusers

if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	echo "failed: ${FAILED[*]}"
fi
echo "e2e: $N_PASS passed, $N_FAIL failed"
[ "$N_FAIL" -eq 0 ]
