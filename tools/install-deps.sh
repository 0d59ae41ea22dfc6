#!/usr/bin/env bash
# Installs the Debian 12 packages tund needs to build, test, benchmark and
# run the demo. Installs only what is missing; needs root for that.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config clang              # build, fuzzing (libFuzzer ships with clang)
	libuv1-dev libsodium-dev libmnl-dev libinih-dev libcmocka-dev
	libssl-dev                                          # libcrypto: the data path's ChaCha20-Poly1305 (shared/aead.h)
	iproute2 iputils-ping nftables conntrack tcpdump iperf3 curl python3 jq  # network-namespace tests, demo, benchmarks
	coturn                                              # turnutils_stunclient: a STUN client nobody here wrote
	squid                                               # the NAT lab's proxy-only site (a real HTTP proxy)
	ffmpeg                                              # the demo's camera stream (encoder) and ffprobe (the client)
	python3-jsonschema                                  # e2e: tunctl --json checked against docs/tunctl.schema.json
	systemd man-db groff-base bash-completion procps    # test_install/test_notify: systemd-analyze, systemd itself, man, tunctl completion, pgrep
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
