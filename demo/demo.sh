#!/usr/bin/env bash
#
# demo/demo.sh - tund in one command: a video recorder behind one NAT,
# reached from a laptop behind another NAT, at a local IP of the laptop's
# choosing, with the client programs anyone already has (curl, ffprobe).
# Everything runs in network namespaces made for the demo; no packet
# leaves them, and every address is a documentation or private one.
#
#           mediator 198.51.100.10            relay 198.51.100.20
#        (tund-mediator, UDP+TCP 3478)       (tund-relay, TCP 443)
#                         |                         |
#      ------------- br-pub 198.51.100.0/24 (the "internet") ------
#                         |  core router (routes, never NATs)
#            +------------+-------------+
#     203.0.113.10                 203.0.113.18
#   recorder-r: port-restricted   laptop-r: symmetric NAT
#     NAT router (nftables)         router (nftables)
#            |                             |
#   recorder 10.1.0.2              laptop 10.2.0.2
#     tund [publish] nvr1            tund [peer "recorder"]
#     web page on :80                  system = <recorder's system id>
#     RTSP camera on :8554             address = 100.100.0.10
#     (ffmpeg + rtspcam.py)          curl, ffprobe -> 100.100.0.10
#
# A symmetric NAT facing a port-restricted one leaves no direct path
# (the laptop's router picks a new public port for every destination, and
# the recorder's router only lets in replies from exactly where it sent),
# so the two tunds meet at the relay, which carries only ciphertext.
#
# Usage: sudo bash demo/demo.sh [--keep]
#   (no option)  run every step, print a summary, remove everything
#   --keep       leave it all running and print the commands to look around
#                and the one to tear it down
# Ctrl-C at any point removes everything. Binaries come from $TUND_BIN_DIR;
# without it the demo builds them into <repo>/build first (cmake). Missing
# Debian packages are installed by tools/install-deps.sh. Needs root.

set -euo pipefail

DEMO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEMO_OWN_BUILD=0
[ -n "${TUND_BIN_DIR:-}" ] || DEMO_OWN_BUILD=1

# shellcheck source-path=SCRIPTDIR source=../tests/e2e/lib.sh
source "$DEMO_DIR/../tests/e2e/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/natlab.sh
source "$DEMO_DIR/../tests/e2e/natlab.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/e2e/svclab.sh
source "$DEMO_DIR/../tests/e2e/svclab.sh"

KEEP=0
case ${1:-} in
--keep) KEEP=1 ;;
"") ;;
-h | --help) sed -n '2,36p' "$0"; exit 0 ;;
*) echo "usage: $0 [--keep]" >&2; exit 2 ;;
esac

REC_IP=100.100.0.10          # where the laptop sees the recorder
PAGE_URL=http://$REC_IP/
RTSP_URL=rtsp://$REC_IP:8554/live
PAGE_TITLE="NVR-1 recorder (tund demo)"

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
STEP=0
say() { STEP=$((STEP + 1)); printf '\n%s%d. %s%s\n' "$BOLD" "$STEP" "$*" "$PLAIN"; }
info() { printf '   %s\n' "$*"; }
show() { printf '   $ %s\n' "$*"; }
indent() { sed 's/^/     /'; }
secs() { local ms=$1; printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)); }
kib() { local b=$1; printf '%d.%d KiB' $((b / 1024)) $((b % 1024 * 10 / 1024)); }

# The EXIT trap: lib.sh's cleanup, then a last word on what happened.
demo_exit() {
	local rc=$?
	set +e         # a failing status must not end the trap itself
	(exit "$rc")   # lab_cleanup reads the script's status from $?
	lab_cleanup
	rc=$?
	if [ "$LAB_KEEP" != 1 ]; then
		if [ "$rc" = 0 ]; then
			printf '\nEverything the demo started is stopped and its namespaces are deleted.\n'
		else
			printf '\nThe demo stopped (status %s); everything it started is removed.\n' "$rc" >&2
		fi
	fi
	exit "$rc"
}

fail() {
	echo "ERROR: $*" >&2
	exit 1
}

# ----------------------------------------------------------- preparation

printf '%stund demo: reach a video recorder behind NAT from a laptop behind another NAT%s\n' "$BOLD" "$PLAIN"
lab_require_root "$0"

say "Checking the Debian packages the demo uses (tools/install-deps.sh installs what is missing)"
"$LAB_REPO/tools/install-deps.sh"
lab_need ip iproute2
lab_need nft nftables
lab_need curl curl
lab_need ping iputils-ping
lab_need ffmpeg ffmpeg
lab_need ffprobe ffmpeg
[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3

lab_init demo
trap demo_exit EXIT

if [ "$DEMO_OWN_BUILD" = 1 ]; then
	say "Building tund, tunctl, tund-mediator and tund-relay into $LAB_REPO/build (cmake; the first build takes about a minute)"
	blog=$LAB_DIR/build.log
	if [ ! -f "$LAB_REPO/build/CMakeCache.txt" ]; then
		cmake -S "$LAB_REPO" -B "$LAB_REPO/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$blog" 2>&1 ||
			{ tail -n 30 "$blog" >&2; fail "cmake could not configure the build (log above)"; }
	fi
	cmake --build "$LAB_REPO/build" -j"$(nproc)" --target tund tunctl tund-mediator tund-relay >>"$blog" 2>&1 ||
		{ tail -n 30 "$blog" >&2; fail "the build failed (log above)"; }
fi
for b in tund tunctl tund-mediator tund-relay; do
	[ -x "$TUND_BIN_DIR/$b" ] || fail "$TUND_BIN_DIR/$b not found: unset TUND_BIN_DIR to let the demo build, or build it there"
done
info "programs from $TUND_BIN_DIR"
T_START=$(lab_now_ms)

# ----------------------------------------------------------------- the lab

say "Building a small internet out of network namespaces"
info "namespaces are named ${LAB_PREFIX}<role>; work files (configs, logs) in $LAB_DIR"
nat_lab_init
info "core: a router joining the public segment 198.51.100.0/24 and one segment per site"
info "probe (198.51.100.201): a helper that checks each NAT router behaves as its type says"

say "Two sites behind NAT routers, each checked against the probe"
nat_site recorder port-restricted --no-check
nat_site laptop symmetric --no-check
info "recorder site: host $(nat_host_addr recorder) behind a port-restricted NAT, public address $(nat_public_addr recorder)"
info "laptop site:   host $(nat_host_addr laptop) behind a symmetric NAT, public address $(nat_public_addr laptop)"
nat_verify_sites recorder laptop 2>&1 | indent

say "The public services: tund-relay on 198.51.100.20:443 and tund-mediator on 198.51.100.10:3478"
svc_relay_start relay 198.51.100.20
svc_mediator_start med 198.51.100.10
info "the mediator introduces the two sides to each other and tells every tund where the relay is"
info "the relay joins the two sides when no direct path exists; it sees only encrypted bytes"

# ------------------------------------------------------------ the recorder

say "A stand-in recorder on the recorder host: a web page on port 80 and a live camera on RTSP port 8554"
mkdir -p "$LAB_DIR/www"
cat >"$LAB_DIR/www/index.html" <<EOF
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>$PAGE_TITLE</title></head>
<body><h1>NVR-1: a stand-in video recorder</h1>
<p>Served by the recorder on its own LAN ($(nat_host_addr recorder)), behind a port-restricted NAT.</p>
<p>Camera 1: live H.264 video at rtsp://&lt;this address&gt;:8554/live</p>
</body></html>
EOF
lab_http_serve recorder "$LAB_DIR/www" 80 || fail "the recorder's web server did not start"
info "web server: python3 -m http.server 80 (the recorder's web interface)"
# rtspcam.py first, so ffmpeg's first RTP packets find its port open.
lab_bg recorder "$LAB_DIR/rtspcam.log" "$LAB_PY" "$DEMO_DIR/rtspcam.py" \
	--sdp "$LAB_DIR/camera.sdp" --listen 0.0.0.0:8554 --path /live --rtp-port 5004 --name "NVR-1 camera 1"
lab_wait_for 10 "rtspcam listening" grep -q listening "$LAB_DIR/rtspcam.log" ||
	fail "the RTSP server did not start: $(cat "$LAB_DIR/rtspcam.log")"
# A one-second key frame interval: a player that joins gets a picture fast.
lab_bg recorder "$LAB_DIR/ffmpeg.log" ffmpeg -hide_banner -loglevel warning -nostdin \
	-re -f lavfi -i testsrc=size=640x360:rate=25 \
	-c:v libx264 -preset ultrafast -tune zerolatency -g 25 -pix_fmt yuv420p -threads 1 \
	-f rtp -sdp_file "$LAB_DIR/camera.sdp" 'rtp://127.0.0.1:5004?rtcpport=5005&pkt_size=1200'
lab_wait_for 10 "ffmpeg's stream description" test -s "$LAB_DIR/camera.sdp" ||
	fail "ffmpeg did not start: $(cat "$LAB_DIR/ffmpeg.log")"
info "camera: ffmpeg encodes a test pattern (H.264, 640x360, 25 frames/s) and demo/rtspcam.py serves it"
info "        as rtsp://<recorder>:8554/live, the way recorders offer their cameras"

# ---------------------------------------------------------------- keys, configs

say "A key pair for each tund; the recorder's system id comes from its public key"
lab_tund_key recorder
lab_tund_key laptop
SYSID=$(lab_tunctl id "${LAB_PUB[recorder]}")
show "tunctl genkey > recorder.key; tunctl pubkey < recorder.key; tunctl id KEY"
info "recorder public key: ${LAB_PUB[recorder]}"
info "recorder system id:  $SYSID"
info "laptop public key:   ${LAB_PUB[laptop]}"
info "the id is a hash of the key: only the holder of the recorder's private key can answer to it"

cat >"$(lab_tund_conf recorder)" <<EOF
[tund]
private_key_file = $LAB_DIR/recorder.key
interface = tund0
address = 100.100.0.1/16
listen_port = 41641
control_socket = $(lab_tund_sock recorder)
$(svc_mediator_conf)
client_pool = 100.127.0.0/16

[publish]
server_id = nvr1

[client "laptop"]
key = ${LAB_PUB[laptop]}
EOF
cat >"$(lab_tund_conf laptop)" <<EOF
[tund]
private_key_file = $LAB_DIR/laptop.key
interface = tund0
address = 100.100.0.2/16
listen_port = 41641
control_socket = $(lab_tund_sock laptop)
$(svc_mediator_conf)

[peer "recorder"]
system = $SYSID
address = $REC_IP
EOF

say "The recorder's tund.conf: publish the system at the mediator, allow only the laptop's key"
indent <"$(lab_tund_conf recorder)"
say "The laptop's tund.conf: the recorder is named only by its system id and appears at $REC_IP"
info "(no address of the recorder anywhere: the mediator finds it)"
indent <"$(lab_tund_conf laptop)"

# ------------------------------------------------------------------ tunnel

say "Starting tund on the recorder"
show "ip netns exec $(lab_ns_name recorder) tund -c $(lab_tund_conf recorder)"
lab_tund_start recorder recorder || fail "tund did not start on the recorder"
rec_ready() {
	[ "$(lab_tund_get recorder "d['mediator_state']")" = registered ] &&
		[[ "$(lab_tund_get recorder "d['relay_state']")" == "pool "[1-9]* ]]
}
lab_wait_for 15 "recorder registered and pooled" rec_ready ||
	fail "the recorder did not register (mediator: $(lab_tund_get recorder "d['mediator_state']"), relay: $(lab_tund_get recorder "d['relay_state']")); log: $(lab_tund_logf recorder)"
info "registered with the mediator (over one outgoing TCP connection, proving it holds the key);"
info "relay: $(lab_tund_get recorder "d['relay_state']") idle connections open at the relay, waiting for a client"
info "no port is open or forwarded on the recorder's router"

say "Starting tund on the laptop"
show "ip netns exec $(lab_ns_name laptop) tund -c $(lab_tund_conf laptop)"
t_tund=$(lab_now_ms)
lab_tund_start laptop laptop || fail "tund did not start on the laptop"
lab_wait_for 20 "first answer from $REC_IP" lab_exec laptop ping -c 1 -W 1 -q "$REC_IP" ||
	fail "no answer from the recorder through the tunnel; logs: $(lab_tund_logf laptop) $(lab_tund_logf recorder)"
T_UP=$(($(lab_now_ms) - t_tund))
info "the recorder answers at $REC_IP $T_UP ms after the laptop's tund started:"
lab_exec laptop ping -c 3 -i 0.2 -n "$REC_IP" 2>&1 | grep -E 'bytes from|rtt' | indent

say "What each tund found out about its NAT (tunctl netcheck asks the mediator's two ports)"
info "laptop:"
lab_tunctl -s "$(lab_tund_sock laptop)" netcheck 2>&1 | indent || true
info "recorder:"
lab_tunctl -s "$(lab_tund_sock recorder)" netcheck 2>&1 | indent || true
info "a symmetric NAT facing a port-restricted NAT: no direct UDP path can exist,"
info "so tund carries the tunnel through the relay (still end-to-end encrypted)"

PATH_NOW=$(lab_tund_get laptop "peer('recorder')['path']")
say "tunctl status on the laptop (path: $PATH_NOW)"
show "tunctl -s $(lab_tund_sock laptop) status"
lab_tunctl -s "$(lab_tund_sock laptop)" status | indent
SEEN_AS=$(lab_tund_get recorder "next(p['address'] for p in d['peers'] if p['name'] == 'laptop')")
info "(the recorder sees the laptop at $SEEN_AS, from its own client pool)"

# ------------------------------------------------------------ the clients

say "The recorder's web page with curl, at the recorder's local IP"
show "curl $PAGE_URL      (from the laptop)"
curl_out=$(lab_exec laptop curl -sS --max-time 10 -o "$LAB_DIR/page.html" \
	-w '%{http_code} %{size_download} %{time_total}' "$PAGE_URL") ||
	fail "curl $PAGE_URL failed"
read -r HTTP_CODE PAGE_BYTES PAGE_TIME <<<"$curl_out"
indent <"$LAB_DIR/page.html"
GOT_TITLE=$(sed -n 's:.*<title>\(.*\)</title>.*:\1:p' "$LAB_DIR/page.html" | head -n 1)
if [ "$HTTP_CODE" != 200 ] || [ -z "$GOT_TITLE" ]; then
	fail "the page came back as HTTP $HTTP_CODE without a title"
fi
PAGE_MS=$(awk '{ printf "%.1f", $1 * 1000 }' <<<"$PAGE_TIME")
info "HTTP $HTTP_CODE, $PAGE_BYTES bytes in $PAGE_MS ms; title: $GOT_TITLE"

say "The camera stream with ffprobe, at the same local IP"
show "ffprobe -rtsp_transport tcp -show_entries stream=codec_name,profile,width,height,r_frame_rate $RTSP_URL"
info "(RTSP over TCP, as VMS clients commonly use it; the stream is RTP inside the RTSP connection)"
probe=$(lab_exec laptop timeout 20 ffprobe -v error -rtsp_transport tcp -select_streams v:0 \
	-show_entries stream=codec_name,profile,width,height,r_frame_rate -of default=nw=1 \
	"$RTSP_URL" 2>"$LAB_DIR/ffprobe.err") ||
	fail "ffprobe $RTSP_URL failed: $(tail -n 5 "$LAB_DIR/ffprobe.err")"
pv() { sed -n "s/^$1=//p" <<<"$probe" | head -n 1; }
CODEC=$(pv codec_name)
PROFILE=$(pv profile)
SIZE="$(pv width)x$(pv height)"
RATE=$(pv r_frame_rate)
FPS=$(awk -F/ '{ if ($2 > 0) printf "%g", $1 / $2; else print $1 }' <<<"$RATE")
if [ -z "$CODEC" ] || [ "$SIZE" = x ]; then
	fail "ffprobe found no video stream: $probe"
fi
STREAM="video $CODEC ($PROFILE), $SIZE, $FPS frames/s"
info "ffprobe: $STREAM"

# ----------------------------------------------------------------- summary

T_ALL=$(($(lab_now_ms) - T_START))
RELAY_DETAIL=$(lab_tund_get laptop "peer('recorder')['path_detail']")
RX=$(lab_tund_get laptop "peer('recorder')['rx_bytes']")
TX=$(lab_tund_get laptop "peer('recorder')['tx_bytes']")
say "Summary"
info "recorder page:  \"$GOT_TITLE\" from $PAGE_URL (HTTP $HTTP_CODE)"
info "camera stream:  $STREAM from $RTSP_URL"
info "path:           $PATH_NOW${RELAY_DETAIL:+ ($RELAY_DETAIL)}"
info "why:            laptop behind a symmetric NAT, recorder behind a port-restricted NAT: no direct path"
[ "$PATH_NOW" = relay ] || info "note:           tund should have used the relay for this pair of NATs; it uses $PATH_NOW"
info "tunnel up:      $T_UP ms after the laptop's tund started (mediator lookup, relay session, handshake)"
info "carried:        $(kib "$RX") to the laptop, $(kib "$TX") from it, all of it encrypted end to end"
info "demo run:       $(secs "$T_ALL") (lab, services, tunnel and clients)"

if [ "$KEEP" = 1 ]; then
	LAB_KEEP=1   # only now: an interrupted --keep run still cleans up
	down=$LAB_DIR/down.sh
	{
		echo "#!/bin/sh"
		echo "# Tears down the tund demo started $(date '+%F %T'): stops every process"
		echo "# inside its namespaces, deletes them, removes its work directory."
		echo "for ns in ${LAB_NS_MADE[*]}; do"
		echo "	pids=\$(ip netns pids \"\$ns\" 2>/dev/null); [ -z \"\$pids\" ] || kill \$pids 2>/dev/null"
		echo "done"
		echo "sleep 1"
		echo "for ns in ${LAB_NS_MADE[*]}; do"
		echo "	pids=\$(ip netns pids \"\$ns\" 2>/dev/null); [ -z \"\$pids\" ] || kill -KILL \$pids 2>/dev/null"
		echo "	ip netns del \"\$ns\" 2>/dev/null"
		echo "done"
		echo "rm -rf $LAB_DIR"
		echo "echo 'tund demo removed'"
	} >"$down"
	L=$(lab_ns_name laptop)
	R=$(lab_ns_name recorder)
	say "Left running; look around (as root)"
	show "ip netns exec $L curl $PAGE_URL"
	show "ip netns exec $L ffprobe -rtsp_transport tcp $RTSP_URL"
	show "ip netns exec $L ffmpeg -rtsp_transport tcp -i $RTSP_URL -frames:v 1 /tmp/frame.jpg"
	show "ip netns exec $L ping $REC_IP"
	show "$TUND_BIN_DIR/tunctl -s $(lab_tund_sock laptop) status        # or --json, netcheck"
	show "$TUND_BIN_DIR/tunctl -s $(lab_tund_sock recorder) status"
	show "ip netns exec $L bash                                  # a shell on the laptop"
	show "ip netns exec $R tcpdump -ni tund0                     # the recorder's clear traffic"
	show "ip netns exec $(lab_ns_name relay) tcpdump -ni eth0 tcp port 443 -X   # what the relay sees: ciphertext"
	info "logs: $LAB_DIR/*.log"
	say "Tear it all down with"
	show "sh $down"
else
	say "Done; removing everything (run with --keep to leave it up)"
fi
