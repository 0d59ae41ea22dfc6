#!/usr/bin/env bash
#
# test_proxy.sh - tund at sites whose only way out is an HTTP proxy (a real
# Squid on the site's router, natlab.sh type "proxy"): the relay and the
# mediator's TCP side are reached through it, by whichever method the
# proxy allows (issue 4).
#
#        med 198.51.100.10 (tund-mediator, announces the relay)
#        relay 198.51.100.20:443 (tund-relay; its /tund/v1/mediator gateway
#                                 leads to the mediator's TCP side)
#                  |
#        br-pub --- core --- site routers
#                  |
#   site s  (port-restricted): tund [publish] nvr-s, recorder HTTP :8080
#   site p  (proxy, Squid): tund client of s, http_proxy in its config
#   site q  (proxy, Squid "noconnect"): tund [publish] nvr-q, recorder HTTP
#           :8080; its proxy comes from the https_proxy environment variable
#   site c  (port-restricted): tund client of q
#
# Checks:
#   1  p behind Squid with Debian's stock rules (CONNECT to 443 only, Upgrade
#      dropped): connected through the relay by CONNECT (status and Squid's
#      log say so), ping and a SHA-256-checked download
#   2  p behind Squid refusing CONNECT to every port and dropping Upgrade:
#      connected through the relay by GET + POST (poll), ping and download
#   3  a server behind such a proxy: its pool and its mediator link go
#      through the proxy, a client elsewhere reaches its recorder
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
lab_need squid squid
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
lab_tund_bins
for b in tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || lab_die "$TUND_BIN_DIR/$b not built"
done

N_PASS=0
N_FAIL=0
FAILED=()

lab_init proxy
nat_lab_init
# The relay's gateway needs the mediator's address, so the mediator's
# address is fixed first and both are started in order.
MED_ADDR=198.51.100.10
MED_PORT=3478
svc_relay_start relay 198.51.100.20
svc_mediator_start med "$MED_ADDR"

nat_site s port-restricted --no-check
nat_site c port-restricted --no-check
nat_site p proxy --squid-policy connect443 --no-check
nat_site q proxy --squid-policy noconnect --no-check
nat_verify_sites s c p q
for n in s c p q; do lab_tund_key "$n"; done
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
state_directory = $LAB_DIR/state-$1
$(svc_mediator_conf)
EOF
	mkdir -p "$LAB_DIR/state-$1"
}
server_conf() { # name client
	base_conf "$1" 100.100.0.1/16
	printf 'client_pool = 100.127.0.0/16\n'
	# A proxy-only server names the relay itself: it needs it to reach
	# the mediator at all (the relay's gateway).
	printf 'relay = %s:%s\nrelay_key = %s\n' "$RELAY_ADDR" "$RELAY_PORT" "$RELAY_KEY"
	printf '\n[publish]\nserver_id = nvr-%s\n\n[client "%s"]\nkey = %s\n' "$1" "$2" "${LAB_PUB[$2]}"
}
client_conf() { # name server [extra [tund] lines]
	base_conf "$1" 100.100.0.2/16
	printf 'relay = %s:%s\nrelay_key = %s\n' "$RELAY_ADDR" "$RELAY_PORT" "$RELAY_KEY"
	[ -n "${3:-}" ] && printf '%s\n' "$3"
	printf '\n[peer "%s"]\nsystem = %s\naddress = 100.100.0.11\n' "$2" "$(sysid "$2")"
}

for n in s q; do
	mkdir -p "$LAB_DIR/www-$n"
	head -c $((2 * 1024 * 1024)) /dev/urandom >"$LAB_DIR/www-$n/blob"
	lab_http_serve "$n" "$LAB_DIR/www-$n" 8080
done
server_conf s p >"$(lab_tund_conf s)"
lab_tund_start s s

path_of() { lab_tund_get "$1" "peer('$2')['path']" 2>/dev/null || echo "?"; }
path_is() { [ "$(path_of "$1" "$2")" = "$3" ]; }
detail() { lab_tund_get "$1" "peer('$2')['path_detail']" 2>/dev/null || echo "?"; }
fetch_ok() { # site file-dir
	lab_exec "$1" ping -c 2 -i 0.3 -W 2 100.100.0.11 >/dev/null || { note "no ping"; return 1; }
	lab_exec "$1" curl -sf --max-time 30 -o "$LAB_DIR/got-$1" "http://100.100.0.11:8080/blob" || { note "download failed"; return 1; }
	[ "$(sha256sum <"$LAB_DIR/got-$1" | cut -d' ' -f1)" = "$(sha256sum <"$2/blob" | cut -d' ' -f1)" ] ||
		{ note "SHA-256 differs"; return 1; }
}
check_failed() {
	local n
	for n in s p q c; do lab_tund_status "$n" 2>/dev/null | head -c 2500 || true; done
}

# ------------------------------------------------------------ check 1
check_connect443() {
	client_conf p s "http_proxy = http://$(nat_proxy_addr p)" >"$(lab_tund_conf p)"
	lab_tund_start p p || return 1
	lab_wait_for 30 "p on the relay" path_is p s relay || { note "path $(path_of p s)"; return 1; }
	note "p: $(detail p s); proxy: $(lab_tund_get p "d['proxy']")"
	fetch_ok p "$LAB_DIR/www-s" || return 1
	[[ "$(detail p s)" == *"via connect"* ]] || { note "the relay session did not use CONNECT"; return 1; }
	lab_tund_kill p # CONNECT tunnels are logged by Squid when they close
	sleep 0.5
	grep -q "CONNECT $RELAY_ADDR:$RELAY_PORT" "$(nat_proxy_log p)" || { note "no CONNECT in Squid's log"; return 1; }
	note "squid: $(grep -c "TCP_TUNNEL/200.*CONNECT $RELAY_ADDR:$RELAY_PORT" "$(nat_proxy_log p)") CONNECT tunnels to the relay"
}
run_check "1 behind Squid with stock rules: relay by CONNECT" check_connect443

# ------------------------------------------------------------ check 2
check_noconnect() {
	nat_squid_policy p noconnect
	: >"$(nat_proxy_log p)"
	lab_tund_start p p || return 1
	lab_wait_for 30 "p on the relay" path_is p s relay || { note "path $(path_of p s)"; return 1; }
	note "p: $(detail p s); proxy: $(lab_tund_get p "d['proxy']")"
	fetch_ok p "$LAB_DIR/www-s" || return 1
	[[ "$(detail p s)" == *"via poll"* ]] || { note "the relay session did not use GET+POST"; return 1; }
	grep -q "POST http://$RELAY_ADDR:$RELAY_PORT/tund/v1/up/" "$(nat_proxy_log p)" ||
		{ note "no POST to the relay in Squid's log"; return 1; }
	note "squid: $(grep -c 'TCP_DENIED/403' "$(nat_proxy_log p)") CONNECTs refused," \
		"$(grep -c "POST http://$RELAY_ADDR" "$(nat_proxy_log p)") POSTs to the relay"
}
run_check "2 behind Squid refusing CONNECT and Upgrade: relay by GET+POST" check_noconnect

# ------------------------------------------------------------ check 3
q_registered() { [ "$(lab_tund_get q "d['mediator_state']")" = registered ]; }
check_server_behind_proxy() {
	server_conf q c >"$(lab_tund_conf q)"
	lab_tund_start q q "https_proxy=http://$(nat_proxy_addr q)" || return 1
	client_conf c q >"$(lab_tund_conf c)"
	lab_wait_for 30 "q registered" q_registered ||
		{ note "q: mediator $(lab_tund_get q "d['mediator_state']") $(lab_tund_get q "d['mediator']")"; return 1; }
	note "q: mediator $(lab_tund_get q "d['mediator']"); relay $(lab_tund_get q "d['relay_state']")"
	lab_tund_start c c || return 1
	lab_wait_for 30 "c on the relay" path_is c q relay || { note "path $(path_of c q)"; return 1; }
	note "c: $(detail c q)"
	fetch_ok c "$LAB_DIR/www-q"
}
run_check "3 a server behind Squid (proxy from https_proxy): pool and mediator through it" check_server_behind_proxy

echo
echo "proxy: $N_PASS passed, $N_FAIL failed"
if [ "$N_FAIL" -gt 0 ]; then
	LAB_KEEP_DIR=1
	exit 1
fi
