#!/usr/bin/env bash
#
# test_tunctl.sh - every tunctl command against real daemons in the lab:
# output, --json validated against docs/tunctl.schema.json, exit codes and
# the messages of the error paths (docs/tunctl.md).
#
#        med   198.51.100.10  tund-mediator (UDP/TCP 3478, alt 3479)
#        relay 198.51.100.20  tund-relay :443 (announced by the mediator)
#                  |
#        br-pub 198.51.100.1/24 --- core --- site routers (type none:
#                  |                          public LANs, UDP blockable)
#   site s: tund [publish] nvr-s, 100.100.0.1/16, [client "c"]
#   site c: tund 100.100.0.2/16, [peer "s"] by system id at 100.100.0.11,
#           [peer "ghost"] at 100.100.0.12: a key and an endpoint where
#           nothing answers (never a session)
#
# Checks:
#   1  offline commands: genkey, pubkey, id (stdin, argument, --private),
#      help, --version, bad key input
#   2  usage errors: exit 2 and the usage line
#   3  no daemon: missing socket and stale socket, exit 3 and the message
#   4  no permission: tunctl as nobody against the root-only socket, exit 4
#   5  status and peers, text and --json (schema)
#   6  ping over the direct path: text, -c 3 --json (schema), exit 0
#   7  unknown peer: exit 5 for ping, connect, disconnect; the peer list
#   8  ping of a peer without a session: exit 1, "has no session"
#   9  disconnect: path "disconnected" in status and peers, no reconnect on
#      its own (even with traffic to it), ping says so; connect brings it
#      back; connect again says "is connected"
#  10  ping timeout: the path drops UDP silently, exit 1 "no answer"
#  11  ping over the relay (UDP blocked, disconnect + connect): "via relay
#      198.51.100.20:443 ...", --json (schema)
#  12  netcheck, text and --json (schema); a tund without a mediator: exit 1
#
# Needs root (exit 77 and SKIP otherwise); python3-jsonschema (installed
# with apt-get when missing). Binaries from $TUND_BIN_DIR: tund, tunctl,
# tund-mediator, tund-relay. LAB_KEEP=1 leaves the lab up. Takes ~1 min.

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
lab_need setpriv util-linux
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
if ! "$LAB_PY" -c 'import jsonschema' 2>/dev/null; then
	lab_log "installing Debian package python3-jsonschema"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-jsonschema >/dev/null 2>&1 || true
	"$LAB_PY" -c 'import jsonschema' 2>/dev/null ||
		{ echo "SKIP: needs python3-jsonschema, which could not be installed" >&2; exit 77; }
fi
lab_tund_bins
for b in tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not built"
done

SCHEMA=$LAB_REPO/docs/tunctl.schema.json
S_IP=100.100.0.11
TUNCTL=$TUND_BIN_DIR/tunctl

lab_init tunctl
nat_lab_init
svc_relay_start relay 198.51.100.20
svc_mediator_start med 198.51.100.10
for n in s c; do nat_site "$n" none --no-check; done
nat_verify_sites s c
for n in s c ghost; do lab_tund_key "$n"; done
sysid() { lab_tunctl id --private <"$LAB_DIR/$1.key"; }

base_conf() { # name address
	cat <<-EOF
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
	printf '\n[client "c"]\nkey = %s\n' "${LAB_PUB[c]}"
} >"$(lab_tund_conf s)"
{
	base_conf c 100.100.0.2/16
	printf '\n[peer "s"]\nsystem = %s\naddress = %s\n' "$(sysid s)" "$S_IP"
	printf '\n[peer "ghost"]\nkey = %s\naddress = 100.100.0.12\nendpoint = 198.51.100.99:41641\n' \
		"${LAB_PUB[ghost]}"
} >"$(lab_tund_conf c)"

lab_tund_start "$(nat_host_ns s)" s || lab_die "tund s did not start"
lab_tund_start "$(nat_host_ns c)" c || lab_die "tund c did not start"
SOCK=$(lab_tund_sock c)

# ------------------------------------------------------------ helpers

# run_ctl CMD...: tunctl (bounded), stdout in OUT, stderr in ERR, status in RC.
run_ctl() {
	local o e
	o=$(mktemp "$LAB_DIR/out.XXXXXX")
	e=$(mktemp "$LAB_DIR/err.XXXXXX")
	RC=0
	timeout 30 "$@" >"$o" 2>"$e" || RC=$?
	OUT=$(cat "$o")
	ERR=$(cat "$e")
	rm -f "$o" "$e"
}

# expect RC REGEX CMD...: runs CMD; 0 when its exit status is RC and its
# stdout+stderr match the extended REGEX. Shows the evidence either way.
expect() {
	local want=$1 re=$2
	shift 2
	run_ctl "$@"
	note "\$ ${*#"$TUND_BIN_DIR/"} -> exit $RC"
	[ -n "$OUT" ] && note "$(printf '%s\n' "$OUT" | head -n 12 | sed 's/^/  /')"
	[ -n "$ERR" ] && note "$(printf '%s\n' "$ERR" | head -n 6 | sed 's/^/  stderr: /')"
	if [ "$RC" != "$want" ]; then
		note "FAILED: expected exit $want"
		return 1
	fi
	# A here-string, not a pipe: grep -q may exit before printf is done,
	# and pipefail would count printf's SIGPIPE as no match.
	if ! grep -Eq -- "$re" <<<"$OUT"$'\n'"$ERR"; then
		note "FAILED: output does not match /$re/"
		return 1
	fi
}

ctl() { expect "$1" "$2" "$TUNCTL" -s "$SOCK" "${@:3}"; }

# schema_ok DEF: validates the JSON on stdin against $defs/DEF of the schema.
# shellcheck disable=SC2016 # python source, not shell
schema_ok() {
	"$LAB_PY" -c '
import json, sys, jsonschema
root = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(root)
schema = {"$schema": root["$schema"], "$defs": root["$defs"], "$ref": "#/$defs/" + sys.argv[2]}
try:
    jsonschema.Draft202012Validator(schema).validate(json.load(sys.stdin))
except jsonschema.ValidationError as e:
    print("schema %s: %s at %s" % (sys.argv[2], e.message, list(e.absolute_path)))
    sys.exit(1)
' "$SCHEMA" "$1"
}

# json_ok DEF CMD...: CMD exits 0 and prints JSON that fits DEF; JSON in OUT.
json_ok() {
	local def=$1 why
	shift
	run_ctl "$TUNCTL" -s "$SOCK" "$@"
	[ "$RC" = 0 ] || { note "tunctl $* -> exit $RC: $ERR"; return 1; }
	why=$(printf '%s' "$OUT" | schema_ok "$def" 2>&1) || { note "$why"; return 1; }
	note "tunctl $*: valid against \$defs/$def"
}

jget() { printf '%s' "$OUT" | lab_json "$1"; }
path_of() { lab_tund_get c "peer('$1')['path']" 2>/dev/null || echo "?"; }
path_is() { [ "$(path_of "$1")" = "$2" ]; }

check_failed() {
	note "--- last lines of the tund logs:"
	tail -n 15 "$(lab_tund_logf c)" | sed 's/^/    c| /'
	tail -n 8 "$(lab_tund_logf s)" | sed 's/^/    s| /'
}

# ------------------------------------------------------------ check 1
check_offline() {
	local key pub id1 id2 rc=0
	run_ctl "$TUNCTL" genkey
	key=$OUT
	[ "$RC" = 0 ] && [[ "$key" =~ ^[A-Za-z0-9+/]{43}=$ ]] || { note "genkey: '$key' exit $RC"; return 1; }
	pub=$(printf '%s\n' "$key" | "$TUNCTL" pubkey) || return 1
	[[ "$pub" =~ ^[A-Za-z0-9+/]{43}=$ ]] && [ "$pub" != "$key" ] || { note "pubkey: '$pub'"; return 1; }
	id1=$(printf '%s\n' "$key" | "$TUNCTL" id --private)
	id2=$("$TUNCTL" id "$pub")
	note "genkey -> private key; pubkey -> $pub; id -> $id2"
	[[ "$id1" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] && [ "$id1" = "$id2" ] ||
		{ note "id --private $id1 != id PUB $id2"; rc=1; }
	[ "$(printf '%s' "$pub" | "$TUNCTL" id -)" = "$id2" ] || { note "id - differs"; rc=1; }
	expect 1 "stdin is not a base64 private key" bash -c "echo nonsense | '$TUNCTL' pubkey" || rc=1
	expect 0 "5  tund has no peer of that name" "$TUNCTL" help || rc=1
	expect 0 "usage: tunctl \[-s SOCKET\] ping PEER \[-c N\] \[--json\]" "$TUNCTL" help ping || rc=1
	expect 0 "^tunctl [0-9]" "$TUNCTL" --version || rc=1
	return $rc
}
run_check "1 offline commands: genkey, pubkey, id, help, --version" check_offline

# ------------------------------------------------------------ check 2
check_usage() {
	local rc=0
	expect 2 'unknown command "bogus"' "$TUNCTL" bogus || rc=1
	expect 2 'unknown option "--frob"' "$TUNCTL" --frob status || rc=1
	expect 2 "option -s needs a path" "$TUNCTL" -s || rc=1
	ctl 2 'tunctl status: unknown argument "extra"' status extra || rc=1
	ctl 2 'tunctl peers: unknown argument "--jsn"' peers --jsn || rc=1
	ctl 2 "tunctl ping: which peer\?" ping || rc=1
	ctl 2 '-c needs a count from 1 to 1000, not "0"' ping s -c 0 || rc=1
	ctl 2 "tunctl ping: -c needs a count" ping s -c || rc=1
	ctl 2 'one peer at a time' ping s ghost || rc=1
	ctl 2 "tunctl connect: which peer\?" connect || rc=1
	ctl 2 "tunctl disconnect: too many arguments" disconnect s ghost || rc=1
	ctl 2 'tunctl netcheck: unknown argument "now"' netcheck now || rc=1
	ctl 2 "usage: tunctl \[-s SOCKET\] connect PEER" connect --all || rc=1
	return $rc
}
run_check "2 usage errors: exit 2 and the usage line" check_usage

# ------------------------------------------------------------ check 3
check_no_daemon() {
	local rc=0 stale=$LAB_DIR/stale.sock
	expect 3 "^tunctl: tund is not running \(no socket at $LAB_DIR/none.sock\)$" \
		"$TUNCTL" -s "$LAB_DIR/none.sock" status || rc=1
	expect 3 "tund is not running \(no socket at $LAB_DIR/none.sock\)" \
		"$TUNCTL" -s "$LAB_DIR/none.sock" ping s || rc=1
	expect 3 "tund is not running \(no socket at $LAB_DIR/none.sock\)" \
		env TUND_SOCKET="$LAB_DIR/none.sock" "$TUNCTL" peers --json || rc=1
	# A socket file nobody listens on: what a killed tund leaves behind.
	"$LAB_PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$stale"
	expect 3 "^tunctl: tund is not running \(nothing listens on $stale\)$" \
		"$TUNCTL" -s "$stale" netcheck || rc=1
	return $rc
}
run_check "3 no daemon: exit 3, 'tund is not running'" check_no_daemon

# ------------------------------------------------------------ check 4
check_no_permission() {
	local rc=0 mode
	# The work dir may be entered by anyone (0711: not listed), so what
	# stops nobody is the socket's own mode, 0660 root:root.
	chmod 0711 "$LAB_DIR"
	mode=$(stat -c '%a %U:%G' "$SOCK")
	note "socket: $SOCK, mode $mode"
	[ "$mode" = "660 root:root" ] || rc=1
	expect 4 "^tunctl: permission denied on $SOCK: run as root or as a member of the socket's group$" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$TUNCTL" -s "$SOCK" status || rc=1
	expect 4 "permission denied on $SOCK" \
		setpriv --reuid=nobody --regid=nogroup --clear-groups "$TUNCTL" -s "$SOCK" ping s || rc=1
	chmod 0700 "$LAB_DIR"
	return $rc
}
run_check "4 no permission: exit 4, 'permission denied'" check_no_permission

# ------------------------------------------------------------ check 5
check_status_peers() {
	local rc=0
	lab_wait_for 15 "c reaches s" path_is s direct || { note "path of s: $(path_of s)"; return 1; }
	ctl 0 "^peer: s$" status || rc=1
	json_ok status status --json || rc=1
	[ "$(jget "peer('s')['path']")" = direct ] || { note "status --json: s not direct"; rc=1; }
	# Positive control: the validator does reject what breaks the schema.
	printf '%s' "$OUT" | "$LAB_PY" -c 'import json, sys; d = json.load(sys.stdin); d["peers"][0]["rx_bytes"] = -1; print(json.dumps(d))' |
		schema_ok status >/dev/null && { note "the schema check accepted rx_bytes = -1"; rc=1; }
	ctl 0 "^s +peer +100\.100\.0\.11 +direct +[0-9]+s ago" peers || rc=1
	grep -Eq "^ghost +peer +100\.100\.0\.12 +(none|no path) +never +0 B +[0-9.]+ (B|KiB)$" <<<"$OUT" ||
		{ note "no ghost line"; rc=1; }
	grep -Eq "^NAME +ROLE +ADDRESS +PATH +HANDSHAKE +RX +TX$" <<<"${OUT%%$'\n'*}" ||
		{ note "no header"; rc=1; }
	json_ok peers peers --json || rc=1
	[ "$(jget "len(d)")" = 2 ] && [ "$(jget "d[0]['name']")" = s ] || { note "peers --json: wrong list"; rc=1; }
	json_ok peers -s "$(lab_tund_sock s)" peers --json || rc=1
	[ "$(jget "d[0]['role']")" = client ] || { note "s should list c as a client"; rc=1; }
	return $rc
}
run_check "5 status and peers, text and --json" check_status_peers

# ------------------------------------------------------------ check 6
check_ping_direct() {
	local rc=0 sa
	sa=$(nat_host_addr s)
	ctl 0 "^pong from s via direct $sa:41641: [0-9]+\.[0-9]{3} ms$" ping s || rc=1
	ctl 0 "^--- s: 3 probes, 3 answered, rtt min/avg/max [0-9.]+/[0-9.]+/[0-9.]+ ms$" ping -c 3 s || rc=1
	json_ok ping ping s -c 3 --json || rc=1
	[ "$(jget "d['answered']")" = 3 ] && [ "$(jget "d['probes'][2]['via']")" = "direct $sa:41641" ] ||
		{ note "ping --json: $(printf '%s' "$OUT" | tr -d '\n' | head -c 300)"; rc=1; }
	note "rtt: $(jget "d['rtt_avg_us']") us on average"
	return $rc
}
run_check "6 ping over the direct path" check_ping_direct

# ------------------------------------------------------------ check 7
check_unknown_peer() {
	local rc=0
	ctl 5 "^tunctl ping: no peer named 'nope' \(peers: s, ghost\)$" ping nope || rc=1
	ctl 5 "^tunctl connect: no peer named 'nope' \(peers: s, ghost\)$" connect nope || rc=1
	ctl 5 "^tunctl disconnect: no peer named 'nope'" disconnect nope || rc=1
	ctl 5 "no peer named 's' \(peers: c\)" -s "$(lab_tund_sock s)" ping s || rc=1
	return $rc
}
run_check "7 unknown peer: exit 5 and the peer list" check_unknown_peer

# ------------------------------------------------------------ check 8
check_no_session() {
	ctl 1 "^tunctl ping: peer 'ghost' has no session: nothing to ping" ping ghost
}
run_check "8 ping of a peer without a session: exit 1" check_no_session

# ------------------------------------------------------------ check 9
check_disconnect() {
	local rc=0 hs0 hs1
	ctl 0 "^disconnected s: tund starts nothing towards it until 'tunctl connect s'$" disconnect s || return 1
	json_ok status status --json || rc=1
	[ "$(jget "peer('s')['path']")" = disconnected ] || { note "status: $(jget "peer('s')")"; rc=1; }
	note "error: $(jget "peer('s')['error']")"
	ctl 0 "^s +peer +100\.100\.0\.11 +disconnected " peers || rc=1
	ctl 1 "^tunctl ping: peer 's' is disconnected: nothing to ping" ping s || rc=1
	# Traffic to it must not bring it back, nor time.
	hs0=$(lab_tund_get c "counter('handshakes_completed')")
	lab_exec c ping -c 3 -i 0.5 -W 1 "$S_IP" >/dev/null 2>&1 && { note "ICMP got through while disconnected"; rc=1; }
	sleep 2
	hs1=$(lab_tund_get c "counter('handshakes_completed')")
	path_is s disconnected && [ "$hs0" = "$hs1" ] ||
		{ note "reconnected on its own: path $(path_of s), handshakes $hs0 -> $hs1"; rc=1; }
	note "after 3 pings through the TUN and 2 s more: path $(path_of s), handshakes $hs0 -> $hs1"
	ctl 0 "^connecting to s \('tunctl peers' shows when its path is up\)$" connect s || rc=1
	lab_wait_for 15 "s direct again" path_is s direct || { note "path $(path_of s)"; rc=1; }
	lab_exec c ping -c 2 -W 2 "$S_IP" >/dev/null || { note "no ICMP after connect"; rc=1; }
	ctl 0 "^s is connected: direct [0-9.]+:41641" connect s || rc=1
	ctl 0 "^pong from s via direct" ping s || rc=1
	return $rc
}
run_check "9 disconnect sticks until connect" check_disconnect

# ------------------------------------------------------------ check 10
check_ping_timeout() {
	local rc=0
	# The tunnel is idle, so the path manager has no reason to leave the
	# direct path during the ping: its probe is simply lost.
	nat_block_udp c
	ctl 1 "^no answer from s via direct [0-9.]+:41641 within 2\.0 s$" ping s || rc=1
	return $rc
}
run_check "10 ping without an answer: exit 1" check_ping_timeout

# ------------------------------------------------------------ check 11
check_ping_relay() {
	local rc=0
	# UDP is still blocked at c: a fresh connect can only get through the relay.
	ctl 0 "^disconnected s" disconnect s || return 1
	ctl 0 "^connecting to s" connect s || return 1
	lab_wait_for 20 "s on the relay" path_is s relay || { note "path $(path_of s)"; return 1; }
	ctl 0 "^pong from s via relay 198\.51\.100\.20:443 via [a-z]+: [0-9.]+ ms$" ping s || rc=1
	json_ok ping ping -c 2 --json s || rc=1
	[ "$(jget "d['probes'][0]['path']")" = relay ] || rc=1
	json_ok peers peers --json || rc=1
	[ "$(jget "d[0]['path']")" = relay ] || rc=1
	nat_unblock_udp c
	return $rc
}
run_check "11 ping over the relay names the relay" check_ping_relay

# ------------------------------------------------------------ check 12
check_netcheck() {
	local rc=0 nomed
	ctl 0 "^UDP: +works$" netcheck || rc=1
	json_ok netcheck netcheck --json || rc=1
	[ "$(jget "d['udp']")" = True ] && [ "$(jget "d['mediator']")" = "$MED_ADDR:$MED_PORT" ] ||
		{ note "netcheck --json: $OUT"; rc=1; }
	# A second tund on s's host, without a mediator: netcheck says so.
	nomed=$LAB_DIR/nomed.conf
	cat >"$nomed" <<-EOF
	[tund]
	private_key_file = $LAB_DIR/ghost.key
	interface = tund1
	address = 100.101.0.1/16
	listen_port = 41650
	control_socket = $LAB_DIR/nomed.sock
	EOF
	lab_bg "$(nat_host_ns s)" "$LAB_DIR/nomed.log" "$TUND_BIN_DIR/tund" -c "$nomed"
	lab_wait_for 10 "tund without a mediator" "$TUNCTL" -s "$LAB_DIR/nomed.sock" status ||
		{ note "$(tail -n 5 "$LAB_DIR/nomed.log")"; return 1; }
	expect 1 "^tunctl netcheck: no mediator configured" "$TUNCTL" -s "$LAB_DIR/nomed.sock" netcheck || rc=1
	expect 0 "^NAME +ROLE" "$TUNCTL" -s "$LAB_DIR/nomed.sock" peers || rc=1
	expect 0 "^\[\]$" "$TUNCTL" -s "$LAB_DIR/nomed.sock" peers --json || rc=1
	return $rc
}
run_check "12 netcheck, text and --json" check_netcheck

echo "tunctl e2e: $N_PASS passed, $N_FAIL failed${FAILED[*]:+ (${FAILED[*]})}"
[ "$N_FAIL" = 0 ]
