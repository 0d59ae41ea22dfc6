#!/usr/bin/env bash
#
# demo/demo.sh - tund in one minute: a "recorder" with a web server on one
# side, a "laptop" on the other, and the recorder reached through the tunnel
# at a local IP of the laptop's choosing. Everything runs in two network
# namespaces made for the demo; nothing leaves them.
#
#      laptop (namespace)                       site (namespace)
#   +------------------------+    veth     +-------------------------+
#   | eth0 198.51.100.10/24  |-------------| eth0 198.51.100.7/24    |
#   | tund0 100.100.0.2/16   |  UDP 41641  | tund0 100.100.0.1/16    |
#   |  [peer "recorder"]     |=============|  [client "laptop"]      |
#   |   appears at           |  encrypted  |  sees it at an address  |
#   |   100.100.0.10         |             |  from 100.127.0.0/16    |
#   | curl 100.100.0.10:8080 |             | web server 0.0.0.0:8080 |
#   +------------------------+             +-------------------------+
#
# Usage: sudo demo/demo.sh [--keep]
#   --keep   leave it running and print commands to explore and tear down
# Binaries from $TUND_BIN_DIR (default <repo>/build; built there first if
# missing). Needs root, iproute2, curl, python3.

set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"

KEEP=0
case ${1:-} in
--keep) KEEP=1 ;;
"") ;;
-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
show() { printf '    $ %s\n' "$*"; }

lab_require_root "$0"
say "Installing missing Debian packages (tools/install-deps.sh)"
"$LAB_REPO/tools/install-deps.sh"
lab_need ip iproute2
lab_need curl curl
lab_need ping iputils-ping
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3

if [ ! -x "$TUND_BIN_DIR/tund" ] || [ ! -x "$TUND_BIN_DIR/tunctl" ]; then
	if [ "$TUND_BIN_DIR" = "$LAB_REPO/build" ]; then
		say "Building tund (cmake) into $LAB_REPO/build"
		cmake -S "$LAB_REPO" -B "$LAB_REPO/build" >/dev/null
		cmake --build "$LAB_REPO/build" -j"$(nproc)" --target tund tunctl >/dev/null
	fi
fi
lab_tund_bins

lab_init demo

say "Two network namespaces joined by a veth: the laptop and the site"
lab_ns laptop
lab_ns site
lab_veth laptop eth0 site eth0
lab_addr laptop eth0 198.51.100.10/24
lab_addr site eth0 198.51.100.7/24
show "ip netns add $(lab_ns_name laptop); ip netns add $(lab_ns_name site); (veth, 198.51.100.10 <-> .7)"

say "A key pair for each side (tunctl genkey | tunctl pubkey)"
lab_tund_key laptop
lab_tund_key site
echo "    laptop public key: ${LAB_PUB[laptop]}"
echo "    site   public key: ${LAB_PUB[site]}"
echo "    site system id:    $(lab_tunctl id "${LAB_PUB[site]}")   (tunctl id: derived from the key, so it pins it)"

cat >"$(lab_tund_conf site)" <<EOF
[tund]
private_key_file = $LAB_DIR/site.key
interface = tund0
address = 100.100.0.1/16
listen_port = 41641
mtu = 1380
control_socket = $(lab_tund_sock site)
client_pool = 100.127.0.0/16

[client "laptop"]
key = ${LAB_PUB[laptop]}
EOF
cat >"$(lab_tund_conf laptop)" <<EOF
[tund]
private_key_file = $LAB_DIR/laptop.key
interface = tund0
address = 100.100.0.2/16
listen_port = 41641
mtu = 1380
control_socket = $(lab_tund_sock laptop)

[peer "recorder"]
key = ${LAB_PUB[site]}
address = 100.100.0.10
endpoint = 198.51.100.7:41641
EOF
say "The site's tund.conf allows the laptop's key:"
sed 's/^/    | /' "$(lab_tund_conf site)"
say "The laptop's tund.conf: the recorder appears at 100.100.0.10"
sed 's/^/    | /' "$(lab_tund_conf laptop)"

say "A web server on the site, listening on 0.0.0.0:8080 (the 'recorder')"
mkdir -p "$LAB_DIR/www"
cat >"$LAB_DIR/www/index.html" <<EOF
<html><body><h1>Hello from the recorder behind tund</h1>
<p>Served from namespace $(lab_ns_name site), reached through an encrypted tunnel.</p></body></html>
EOF
lab_http_serve site "$LAB_DIR/www" 8080

say "Starting tund on both sides"
lab_tund_start site site
lab_tund_start laptop laptop
show "tund -c $(lab_tund_conf site)      (in the site namespace)"
show "tund -c $(lab_tund_conf laptop)    (in the laptop namespace)"

say "From the laptop: ping the recorder at its local IP 100.100.0.10"
lab_wait_for 10 "tunnel up" lab_exec laptop ping -c1 -W1 -q 100.100.0.10 ||
	lab_die "no answer through the tunnel; logs: $LAB_DIR/laptop.log, $LAB_DIR/site.log"
lab_exec laptop ping -c3 -i0.3 -n 100.100.0.10 | sed 's/^/    /'

say "From the laptop: curl http://100.100.0.10:8080/  (an unmodified client)"
lab_exec laptop curl -sS --max-time 10 http://100.100.0.10:8080/ | sed 's/^/    /'

say "tunctl status on the laptop"
lab_tunctl -s "$(lab_tund_sock laptop)" status | sed 's/^/    /'
say "tunctl status on the site (it sees the laptop at an address from its client pool)"
lab_tunctl -s "$(lab_tund_sock site)" status | sed 's/^/    /'

if [ "$KEEP" = 1 ]; then
	LAB_KEEP=1   # only now: an interrupted --keep run still cleans up
	down="$LAB_DIR/down.sh"
	{
		echo "#!/bin/sh"
		echo "# tears down the demo started at $(date)"
		for pid in "${LAB_PIDS[@]}"; do echo "kill $pid 2>/dev/null"; done
		echo "sleep 1"
		for ns in "${LAB_NS_MADE[@]}"; do echo "ip netns del $ns"; done
		echo "rm -rf $LAB_DIR"
	} >"$down"
	say "Left running. Explore:"
	show "ip netns exec $(lab_ns_name laptop) curl http://100.100.0.10:8080/"
	show "ip netns exec $(lab_ns_name laptop) ping 100.100.0.10"
	show "ip netns exec $(lab_ns_name laptop) ip addr show tund0"
	show "ip netns exec $(lab_ns_name site) tcpdump -ni eth0 udp port 41641   # only ciphertext"
	show "ip netns exec $(lab_ns_name site) tcpdump -ni tund0                  # the clear traffic"
	show "$TUND_BIN_DIR/tunctl -s $(lab_tund_sock laptop) status --json"
	show "$TUND_BIN_DIR/tunctl -s $(lab_tund_sock site) status"
	echo "    logs: $LAB_DIR/laptop.log $LAB_DIR/site.log"
	say "Tear down with:"
	show "sudo sh $down"
else
	say "Done; tearing everything down (run with --keep to leave it up)"
fi
