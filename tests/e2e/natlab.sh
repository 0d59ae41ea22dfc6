# shellcheck shell=bash
#
# natlab.sh - NAT sites for the lab (DESIGN.md §8): router namespaces running
# nftables NAT of a chosen type, hosts behind them, and a probe that proves
# each router behaves as its type says before a test relies on it.
#
# Source it AFTER lib.sh, call lab_init, then nat_lab_init (instead of
# lab_core_init), then one nat_site per site:
#
#   source tests/e2e/lib.sh; source tests/e2e/natlab.sh
#   lab_require_root "$0"; lab_init nat
#   nat_lab_init                                   # core, "pub", probe host
#   lab_ns med; lab_core_attach med eth0 pub 198.51.100.10/24
#   nat_site cli symmetric                         # builds AND verifies
#   nat_site srv full-cone --hosts 2
#   lab_exec "$(nat_host_ns cli)" ...              # run things on the host
#
# Topology (site number X = 1, 2, ... in order of creation, at most 30):
#
#                 probe (198.51.100.201 + .202, natprobe.py serve)
#                   |          mediator, relay, ... (198.51.100.2-.199)
#   br-pub 198.51.100.1/24 ----+----------------------------
#                              |
#                 core (routes between segments, never NATs)
#                              |
#   br-wX 203.0.113.(8X+1)/29 -+- ... one segment per site
#                   |
#   NAME-r  wan 203.0.113.(8X+2)/29   default via 203.0.113.(8X+1)
#           nftables table "natlab"  (the NAT type)
#           lan (bridge) 10.X.0.1/24
#                   |
#   NAME    eth0 10.X.0.2/24, NAME-2 10.X.0.3/24, ... (--hosts N)
#           default via 10.X.0.1
#
# Type "none" gives the site a public LAN instead: 192.0.2.(8X)/29, router
# .8X+1, hosts .8X+2 ... .8X+6 (at most 5), routed by the core via the
# router's WAN address; the router only routes (and can still block UDP).
# NAT LANs are never routed by the core, as on the real internet.
#
# Address plan:
#   198.51.100.1        core, gateway of "pub"
#   198.51.100.2-199    free for the test's public hosts (mediator, relay)
#   198.51.100.201/.202 probe host (NAT_PROBE_A, NAT_PROBE_B); UDP ports
#                       34780 and 34781 on both, TCP 34780 on .201; once
#                       a proxy site exists, labweb.py on .201 TCP 34790
#   203.0.113.8X/29     site X's WAN segment: .8X+1 core, .8X+2 router
#   10.X.0.0/24         site X's LAN (or --lan-subnet), router .1, hosts .2..
#   192.0.2.8X/29       site X's public LAN when its type is "none"
#
# NAT types (RFC 4787 terms; all TCP is masqueraded except for "none"):
#   none                no translation; hosts have public addresses
#   full-cone           endpoint-independent mapping (source port kept when
#                       free) + endpoint-independent filtering: any source
#                       may send to a live mapping
#   address-restricted  EIM + address-dependent filtering: inbound from any
#                       port of an address the mapping has sent to
#   port-restricted     EIM + address-and-port-dependent filtering (plain
#                       Linux masquerade)
#   symmetric           a new public port per destination (masquerade
#                       random) + address-and-port-dependent filtering
#   udp-blocked         no UDP crosses the router in either direction
#   proxy               (not in NAT_TYPES) nothing crosses the router; a
#                       real Squid on it is the only way out: see "proxy
#                       sites" below
#
# How the rules do it (table "ip natlab" in the router, see nat_rules):
# conntrack gives port-restricted filtering for free; for full-cone and
# address-restricted, every outbound UDP packet refreshes a dynamic map
# "mapping" (public port -> host address and port) and a set "contacted"
# (remote address . public port), and inbound UDP matching no conntrack
# entry is DNATed through "mapping" (full-cone), or only when the sender's
# address is in "contacted" (address-restricted). Their entries live 120 s
# after the last outbound packet (the kernel's conntrack defaults are 30 s
# for an unreplied UDP flow, 120 s once replied); nat_site_udp_timeout sets
# all three to one value. Anything else arriving on the WAN that is not a
# reply is dropped silently (no ICMP), as home routers do.
#
# Self-check: nat_site runs natprobe.py on the site's first host before it
# returns (about 0.3 s, 1.1 s for udp-blocked) and dies if the router does
# not behave as declared; it prints one line per site. The probe uses host
# UDP ports 45000 and up (never tund's 41641) and leaves only conntrack and
# set entries toward the probe addresses, which expire on their own.
#
# One lab for many cases: sites are independent, so a client x server NAT
# matrix builds all its sites once ("nat_site_group c s": 12 sites, ~4 s
# including the parallel self-checks, after ~0.4 s of nat_lab_init) and runs
# nat_site_forget on the two sites of a cell before it (~25 ms each), so
# no cell inherits another's mappings. Forgetting under running daemons is
# a NAT reboot for them: their UDP mappings vanish (TCP flows are picked up
# again by conntrack on their next packet).
#
# Functions:
#   nat_lab_init                          core, "pub" segment, probe host
#   nat_site NAME TYPE [options]          build and verify a site
#       --hosts N             N hosts on the LAN (default 1)
#       --lan-subnet A.B.C.0/LEN          LAN other than 10.X.0.0/24
#       --uplink-delay-ms N | UP,DOWN     WAN link through lab_emu_link
#                                         (tests/e2e/linkem.sh, needs
#                                         $TUND_BIN_DIR/linkem), ms one way
#       --uplink-args "ARGS"  more linkem options for that link, e.g.
#                             "--loss-ab 1 --seed 3" (ab = router -> core)
#       --wan-mtu N           MTU of the WAN link
#       --no-check            skip the self-check (see nat_verify_sites)
#       --squid-policy P      type proxy: connect, connect443 or noconnect
#                             (default)
#   nat_site_group PREFIX...              one site per type for each PREFIX, named
#                                         PREFIX-none, -fc, -ar, -pr, -sym, -ub
#                                         (NAT_SHORT), all verified in parallel
#   nat_verify NAME                       re-run the self-check; 0 / 1
#   nat_verify_sites NAME...              self-checks in parallel; dies on a mismatch
#   nat_probe_map NAME SPORT [ADDR [PORT]]
#                                         UDP from host port SPORT to the probe:
#                                         prints the mapping "IP PORT" or fails
#   nat_public_addr NAME                  address the internet sees the site's
#                                         hosts at (router WAN; for none, the
#                                         first host's, nat_host_addr for others)
#   nat_wan_addr NAME                     router WAN address
#   nat_host_ns NAME [I]                  short name of host I (1 = NAME, 2 = NAME-2)
#   nat_host_addr NAME [I]                LAN address of host I
#   nat_router_ns NAME                    short name of the router (NAME-r)
#   nat_site_type NAME
#   nat_site_udp_timeout NAME SECONDS     conntrack UDP timeouts + set timeouts
#   nat_site_forget NAME                  forget every flow and mapping: conntrack
#                                         flushed, dynamic sets emptied (blocks and
#                                         timeouts stay); for reusing a site
#   nat_block_udp_from NAME ADDR, nat_unblock_udp_from NAME ADDR
#                                         drop / pass inbound UDP from ADDR (an
#                                         address or a prefix, e.g. 198.51.100.0/24)
#   nat_block_udp NAME, nat_unblock_udp NAME
#                                         drop / pass all UDP through the router
#   nat_proxy_addr NAME                   proxy site: Squid as its hosts see it,
#                                         "10.X.0.1:3128"
#   nat_proxy_log NAME                    proxy site: path of Squid's access.log
#   nat_proxy_pid NAME, nat_proxy_policy NAME
#   nat_squid_policy NAME POLICY          proxy site: new policy, Squid reloaded
#                                         (open connections keep going)
#   nat_rules TYPE SECONDS                (internal) the nft script of a type
#   nat_apply_rules NAME TYPE             (internal) load TYPE's rules into NAME's
#                                         router; empties blocks and sets, set
#                                         timeouts back to 120 s (sysctls kept)
#
# Source this file at the top level of a script: bash makes declare -A
# arrays local when a function sources a file.
#
# Limits: one address family (IPv4); no hairpinning (hosts of one site do
# not reach each other through the site's public address); full-cone and
# address-restricted inbound follow the last host that used a public port.

NAT_SELF_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NAT_PROBE_PY=$NAT_SELF_DIR/natprobe.py
NAT_PROBE_A=198.51.100.201
NAT_PROBE_B=198.51.100.202
NAT_PROBE_P1=34780
NAT_PROBE_P2=34781
NAT_PROBE_TCP=34780
NAT_PROBE_SPORT0=45000
NAT_DEFAULT_UDP_TIMEOUT=120
NAT_TYPES="none full-cone address-restricted port-restricted symmetric udp-blocked"
declare -gA NAT_SHORT=([none]=none [full-cone]=fc [address-restricted]=ar
	[port-restricted]=pr [symmetric]=sym [udp-blocked]=ub [proxy]=px)
# Types nat_site knows that are not NAT types: not in NAT_TYPES, so loops
# over NAT_TYPES (nat_site_group, the NAT matrix) leave them out.
NAT_MORE_TYPES=proxy
NAT_SITE_SEQ=0
declare -gA NAT_TYPE=() NAT_WAN=() NAT_PUB=() NAT_NHOSTS=() NAT_LANBASE=() NAT_DELAY=()
declare -gA NAT_LANLEN=()

# The link emulator, for --uplink-delay-ms. Sourced here, at the top level
# of the caller's source command, because its declare -A arrays would be
# local to any function that sourced it.
if ! declare -F lab_emu_link >/dev/null && [ -f "$NAT_SELF_DIR/linkem.sh" ]; then
	# shellcheck source=linkem.sh
	source "$NAT_SELF_DIR/linkem.sh"
fi

# ------------------------------------------------------------ addresses

nat_ip2int() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

nat_int2ip() {
	local n=$1
	echo "$(((n >> 24) & 255)).$(((n >> 16) & 255)).$(((n >> 8) & 255)).$((n & 255))"
}

nat_known() { [ -n "${NAT_TYPE[$1]:-}" ] || lab_die "natlab: no site named '$1'"; }

nat_router_ns() { echo "$1-r"; }
nat_site_type() { nat_known "$1"; echo "${NAT_TYPE[$1]}"; }
nat_wan_addr() { nat_known "$1"; echo "${NAT_WAN[$1]}"; }
nat_public_addr() { nat_known "$1"; echo "${NAT_PUB[$1]}"; }

nat_host_ns() {
	local i=${2:-1}
	nat_known "$1"
	[ "$i" -ge 1 ] && [ "$i" -le "${NAT_NHOSTS[$1]}" ] || lab_die "natlab: site $1 has no host $i"
	if [ "$i" = 1 ]; then echo "$1"; else echo "$1-$i"; fi
}

nat_host_addr() {
	local i=${2:-1}
	nat_known "$1"
	[ "$i" -ge 1 ] && [ "$i" -le "${NAT_NHOSTS[$1]}" ] || lab_die "natlab: site $1 has no host $i"
	nat_int2ip $((NAT_LANBASE[$1] + 1 + i))
}

# ------------------------------------------------------------------ lab

nat_lab_init() {
	[ -n "$LAB_PREFIX" ] || lab_die "natlab: call lab_init before nat_lab_init"
	lab_need nft nftables
	[ -x "$LAB_PY" ] || lab_need "$LAB_PY" python3
	lab_core_init
	lab_core_segment pub 198.51.100.1/24
	lab_ns probe
	lab_core_attach probe eth0 pub "$NAT_PROBE_A/24"
	lab_addr probe eth0 "$NAT_PROBE_B/24"
	lab_bg probe "$LAB_DIR/natprobe.log" "$LAB_PY" "$NAT_PROBE_PY" serve \
		--addr "$NAT_PROBE_A" --addr "$NAT_PROBE_B" \
		--port "$NAT_PROBE_P1" --port "$NAT_PROBE_P2" --tcp-port "$NAT_PROBE_TCP"
	lab_wait_for 10 "natprobe server on $NAT_PROBE_A" \
		lab_exec probe bash -c "exec 3<>/dev/tcp/$NAT_PROBE_A/$NAT_PROBE_TCP" ||
		lab_die "natlab: the probe server did not start; its log: $(cat "$LAB_DIR/natprobe.log")"
	mkdir -p "$LAB_DIR/natlab"
}

# --------------------------------------------------------------- rules

# nat_rules TYPE SECONDS: the nftables script (replacing table ip natlab)
# for a router of TYPE whose mappings live SECONDS.
nat_rules() {
	local type=$1 t=$2 masq=masquerade
	[ "$type" = symmetric ] && masq="masquerade random"
	cat <<-EOF
	table ip natlab {}
	delete table ip natlab
	table ip natlab {
		set blocked_from { type ipv4_addr; flags interval; }
		map mapping { type inet_service : ipv4_addr . inet_service; flags dynamic,timeout; timeout ${t}s; }
		set contacted { type ipv4_addr . inet_service; flags dynamic,timeout; timeout ${t}s; }
		# Before conntrack: a blocked sender leaves no state at all.
		chain early { type filter hook prerouting priority raw; policy accept;
			iifname "wan" meta l4proto udp ip saddr @blocked_from counter drop
		}
		# nat_block_udp fills this chain.
		chain gate {
		}
		chain forward { type filter hook forward priority filter; policy accept;
			jump gate
	EOF
	if [ "$type" = udp-blocked ]; then
		echo '		meta l4proto udp counter drop'
	fi
	# A proxy site's router forwards nothing: Squid on the router is the
	# only way out (nat_squid_start).
	[ "$type" = proxy ] && echo '		counter drop'
	if [ "$type" != none ]; then
		cat <<-EOF
			iifname "wan" ct state established,related accept
			iifname "wan" ct status dnat accept
			iifname "wan" counter drop
		EOF
	fi
	cat <<-EOF
		}
		# The router itself offers nothing on its WAN but ping.
		chain input { type filter hook input priority filter; policy accept;
			iifname "wan" ct state established,related accept
			iifname "wan" icmp type echo-request accept
			iifname "wan" counter drop
		}
		chain remember { type filter hook postrouting priority srcnat + 10; policy accept;
	EOF
	nat_remember_rules "$type" "$t" | sed 's/^/\t\t/'
	cat <<-EOF
		}
		chain dstnat { type nat hook prerouting priority dstnat; policy accept;
	EOF
	case $type in
	full-cone)
		echo '		iifname "wan" meta l4proto udp dnat ip addr . port to udp dport map @mapping' ;;
	address-restricted)
		echo '		iifname "wan" ip saddr . udp dport @contacted dnat ip addr . port to udp dport map @mapping' ;;
	esac
	cat <<-EOF
		}
		chain srcnat { type nat hook postrouting priority srcnat; policy accept;
	EOF
	[ "$type" != none ] && [ "$type" != proxy ] && echo "		oifname \"wan\" $masq"
	cat <<-EOF
		}
	}
	EOF
}

# nat_remember_rules TYPE SECONDS: the rules of chain "remember", one per
# line. The chain runs after source NAT, so "udp sport" is the public port;
# the host's own address and port come from conntrack (the original tuple
# of a flow the host opened, the reply tuple of one DNATed to it).
nat_remember_rules() {
	local type=$1 t=$2
	case $type in
	full-cone | address-restricted)
		echo "oifname \"wan\" ct direction original update @mapping { udp sport timeout ${t}s : ct original ip saddr . ct original proto-src }"
		echo "oifname \"wan\" ct direction reply update @mapping { udp sport timeout ${t}s : ct reply ip saddr . ct reply proto-src }"
		;;
	esac
	if [ "$type" = address-restricted ]; then
		echo "oifname \"wan\" meta l4proto udp update @contacted { ip daddr . udp sport timeout ${t}s }"
	fi
	return 0
}

# nat_apply_rules NAME TYPE: loads TYPE's rules into NAME's router,
# atomically replacing what was there (blocks and sets emptied, set
# timeouts back to the default; the declared type and the sysctls are not
# changed). Used by nat_site, and by the lab's own test to prove
# the self-check catches a router that misbehaves.
nat_apply_rules() {
	local name=$1 type=$2
	nat_known "$name"
	nat_rules "$type" "$NAT_DEFAULT_UDP_TIMEOUT" | lab_exec "$(nat_router_ns "$name")" nft -f - ||
		lab_die "natlab: nft refused the $type rules for $name"
}

# nat_site_udp_timeout NAME SECONDS: UDP conntrack timeouts (unreplied and
# stream) of NAME's router, and the lifetime of its mapping/contacted
# entries, all set to SECONDS, so that a mapping dies SECONDS after the last
# packet whatever the type. Existing set entries keep their old deadline
# until the next packet refreshes them.
nat_site_udp_timeout() {
	local name=$1 t=$2 r
	nat_known "$name"
	[[ $t =~ ^[0-9]+$ ]] && [ "$t" -ge 1 ] || lab_die "natlab: bad timeout '$t' for $name"
	r=$(nat_router_ns "$name")
	lab_exec "$r" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$t" \
		net.netfilter.nf_conntrack_udp_timeout_stream="$t" >/dev/null ||
		lab_die "natlab: cannot set conntrack UDP timeouts in $r"
	{
		echo "flush chain ip natlab remember"
		nat_remember_rules "${NAT_TYPE[$name]}" "$t" | sed 's/^/add rule ip natlab remember /'
	} | lab_exec "$r" nft -f - || lab_die "natlab: cannot set set timeouts in $r"
}

# nat_site_forget NAME: the router forgets every flow (conntrack table
# flushed) and every mapping (sets "mapping" and "contacted" emptied), as if
# it had just booted with the same rules; blocks and timeouts are kept.
# Lets one lab serve many test cases without one case's mappings opening
# the NAT for the next. Needs conntrack(8), Debian package conntrack.
nat_site_forget() {
	local r
	nat_known "$1"
	lab_need conntrack conntrack
	r=$(nat_router_ns "$1")
	lab_exec "$r" nft -f - <<-EOF || lab_die "natlab: cannot empty the sets of $r"
	flush set ip natlab contacted
	flush map ip natlab mapping
	EOF
	lab_exec "$r" conntrack -F >/dev/null 2>&1 || lab_die "natlab: conntrack -F failed in $r"
}

# nat_block_udp_from NAME ADDR: NAME's router drops UDP arriving from ADDR
# (address or prefix) before conntrack sees it: replies on open flows too.
nat_block_udp_from() {
	nat_known "$1"
	lab_exec "$(nat_router_ns "$1")" nft add element ip natlab blocked_from "{ $2 }"
}

nat_unblock_udp_from() {
	nat_known "$1"
	lab_exec "$(nat_router_ns "$1")" nft delete element ip natlab blocked_from "{ $2 }"
}

nat_block_udp() {
	nat_known "$1"
	lab_exec "$(nat_router_ns "$1")" nft -f - <<-EOF
	flush chain ip natlab gate
	add rule ip natlab gate meta l4proto udp counter drop
	EOF
}

nat_unblock_udp() {
	nat_known "$1"
	lab_exec "$(nat_router_ns "$1")" nft flush chain ip natlab gate
}

# ---------------------------------------------------------------- sites

# nat_wan_link NAME SEG ADDR DELAY MTU EMU_ARGS: the router's WAN link to
# the core, through the link emulator when DELAY ("N" or "UP,DOWN" ms) is
# set (EMU_ARGS: more linkem options, word-split).
nat_wan_link() {
	local name=$1 seg=$2 addr=$3 delay=$4 mtu=$5 emu_args=$6 r up down port core
	local -a extra=()
	r=$(nat_router_ns "$name")
	if [ -z "$delay" ]; then
		lab_core_attach "$r" wan "$seg" "$addr" "$mtu"
		return
	fi
	declare -F lab_emu_link >/dev/null ||
		lab_die "natlab: --uplink-delay-ms needs lab_emu_link from $NAT_SELF_DIR/linkem.sh, which is missing or does not define it"
	up=${delay%,*}
	down=${delay#*,}
	[[ $up =~ ^[0-9]+$ && $down =~ ^[0-9]+$ ]] || lab_die "natlab: bad --uplink-delay-ms '$delay'"
	NAT_DELAY[$name]=$((up + down))
	read -r -a extra <<<"$emu_args"
	core=$(lab_ns_name core)
	LAB_LINK_SEQ=$((LAB_LINK_SEQ + 1))
	port="c$LAB_LINK_SEQ-$seg"
	port=${port:0:15}
	lab_emu_link "$r" wan core "$port" "$up" "$down" "${extra[@]}" ||
		lab_die "natlab: lab_emu_link failed for the WAN of $name"
	ip -n "$core" link set "$port" master "br-$seg"
	if [ -n "$mtu" ]; then
		ip -n "$core" link set "$port" mtu "$mtu"
		ip -n "$(lab_ns_name "$r")" link set wan mtu "$mtu"
	fi
	lab_addr "$r" wan "$addr"
	lab_route "$r" default via "${LAB_SEG_GW[$seg]}"
}

# nat_site NAME TYPE [--hosts N] [--lan-subnet CIDR] [--uplink-delay-ms D]
#                    [--uplink-args ARGS] [--wan-mtu N] [--no-check]
#                    [--squid-policy P]
nat_site() {
	local name=$1 type=$2 nhosts=1 lan='' delay='' emu_args='' mtu='' check=1 x seg wan r i h base len
	local policy=''
	shift 2 || lab_die "natlab: usage: nat_site NAME TYPE [options]"
	[[ " $NAT_TYPES $NAT_MORE_TYPES " == *" $type "* ]] ||
		lab_die "natlab: unknown NAT type '$type' (one of: $NAT_TYPES $NAT_MORE_TYPES)"
	[ -z "${NAT_TYPE[$name]:-}" ] || lab_die "natlab: site $name exists"
	[ -d "$LAB_DIR/natlab" ] || lab_die "natlab: call nat_lab_init before nat_site"
	while [ $# -gt 0 ]; do
		case $1 in
		--hosts) nhosts=$2; shift 2 ;;
		--lan-subnet) lan=$2; shift 2 ;;
		--uplink-delay-ms) delay=$2; shift 2 ;;
		--uplink-args) emu_args=$2; shift 2 ;;
		--wan-mtu) mtu=$2; shift 2 ;;
		--no-check) check=0; shift ;;
		--squid-policy) policy=$2; shift 2 ;;
		*) lab_die "natlab: nat_site $name: unknown option '$1'" ;;
		esac
	done
	[[ $nhosts =~ ^[0-9]+$ ]] && [ "$nhosts" -ge 1 ] || lab_die "natlab: bad --hosts '$nhosts'"
	[ -z "$policy" ] || [ "$type" = proxy ] || lab_die "natlab: --squid-policy is for type proxy"
	NAT_SITE_SEQ=$((NAT_SITE_SEQ + 1))
	x=$NAT_SITE_SEQ
	[ "$x" -le 30 ] || lab_die "natlab: at most 30 sites"

	if [ "$type" = none ]; then
		[ -z "$lan" ] || lab_die "natlab: --lan-subnet makes no sense for type none"
		[ "$nhosts" -le 5 ] || lab_die "natlab: a 'none' site has at most 5 hosts"
		base=$(nat_ip2int "192.0.2.$((8 * x))")
		len=29
	else
		lan=${lan:-10.$x.0.0/24}
		[[ $lan =~ ^([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)/([0-9]+)$ ]] || lab_die "natlab: bad --lan-subnet '$lan'"
		len=${BASH_REMATCH[2]}
		base=$(nat_ip2int "${BASH_REMATCH[1]}")
		[ "$len" -ge 8 ] && [ "$len" -le 29 ] || lab_die "natlab: --lan-subnet $lan: length 8..29"
		base=$((base & ~((1 << (32 - len)) - 1) & 0xffffffff))
		[ $((nhosts + 2)) -lt $((1 << (32 - len))) ] || lab_die "natlab: $nhosts hosts do not fit in $lan"
	fi
	NAT_TYPE[$name]=$type
	NAT_NHOSTS[$name]=$nhosts
	NAT_LANBASE[$name]=$base
	NAT_LANLEN[$name]=$len
	wan=203.0.113.$((8 * x + 2))
	NAT_WAN[$name]=$wan
	if [ "$type" = none ]; then
		NAT_PUB[$name]=$(nat_host_addr "$name" 1)
	else
		NAT_PUB[$name]=$wan
	fi

	seg=w$x
	r=$(nat_router_ns "$name")
	lab_core_segment "$seg" "203.0.113.$((8 * x + 1))/29"
	lab_ns "$r"
	[ -z "$emu_args" ] || [ -n "$delay" ] || lab_die "natlab: --uplink-args needs --uplink-delay-ms"
	NAT_DELAY[$name]=0
	nat_wan_link "$name" "$seg" "$wan/29" "$delay" "$mtu" "$emu_args"
	lab_exec "$r" sysctl -qw net.ipv4.ip_forward=1 >/dev/null
	ip -n "$(lab_ns_name "$r")" link add lan type bridge
	ip -n "$(lab_ns_name "$r")" link set lan up
	lab_addr "$r" lan "$(nat_int2ip $((base + 1)))/$len"
	for ((i = 1; i <= nhosts; i++)); do
		h=$(nat_host_ns "$name" "$i")
		lab_ns "$h"
		lab_veth "$h" eth0 "$r" "h$i"
		ip -n "$(lab_ns_name "$r")" link set "h$i" master lan
		lab_addr "$h" eth0 "$(nat_host_addr "$name" "$i")/$len"
		lab_route "$h" default via "$(nat_int2ip $((base + 1)))"
	done
	[ "$type" = none ] && lab_route core "$(nat_int2ip "$base")/$len" via "$wan"
	nat_apply_rules "$name" "$type"
	[ "$type" = proxy ] && nat_squid_start "$name" "${policy:-noconnect}"
	if [ "$check" = 1 ]; then
		nat_verify "$name" || lab_die "natlab: site $name does not behave as $type (see the line above)"
	fi
}

# nat_site_group PREFIX...: for each PREFIX, one site of every type, named
# PREFIX-${NAT_SHORT[type]}; built one after another, then verified all at
# once (the udp-blocked check, ~1 s, bounds the whole). "nat_site_group c s"
# is the lab of a client x server NAT matrix.
nat_site_group() {
	local p type names=()
	for p in "$@"; do
		for type in $NAT_TYPES; do
			nat_site "$p-${NAT_SHORT[$type]}" "$type" --no-check
			names+=("$p-${NAT_SHORT[$type]}")
		done
	done
	nat_verify_sites "${names[@]}"
}

# nat_verify NAME: runs the self-check from NAME's first host; prints its
# summary line; 0 when the router behaves as the declared type. Its waits
# grow by twice the WAN link's round-trip delay, if it has one. Each run
# uses two fresh host ports (a per-site counter kept in the work dir, so
# subshells count too): an earlier run's conntrack entries never open the
# filter this run measures.
nat_verify() {
	local name=$1 seqf seq sport
	nat_known "$name"
	[ "${NAT_TYPE[$name]}" = proxy ] && { nat_verify_proxy "$name"; return; }
	seqf=$LAB_DIR/natlab/$name.probeseq
	seq=$(cat "$seqf" 2>/dev/null || echo 0)
	echo $((seq + 1)) >"$seqf"
	sport=$((NAT_PROBE_SPORT0 + 2 * seq))
	[ "$sport" -lt 46000 ] || lab_die "natlab: too many self-checks of $name"
	lab_exec "$(nat_host_ns "$name")" "$LAB_PY" "$NAT_PROBE_PY" check \
		--site "$name" --type "${NAT_TYPE[$name]}" \
		--server "$NAT_PROBE_A" --server "$NAT_PROBE_B" \
		--port "$NAT_PROBE_P1" --port "$NAT_PROBE_P2" --tcp-port "$NAT_PROBE_TCP" \
		--expect-ip "${NAT_PUB[$name]}" --host-ip "$(nat_host_addr "$name")" \
		--map-sport "$sport" --filter-sport $((sport + 1)) \
		--wait-ms $((250 + 2 * NAT_DELAY[$name]))
}

# nat_probe_map NAME SPORT [ADDR [PORT]]: from NAME's first host, UDP from
# SPORT to the probe server at ADDR:PORT (default probe A, first port);
# prints the mapping the probe saw ("IP PORT"), or fails after ~0.6 s.
nat_probe_map() {
	nat_known "$1"
	lab_exec "$(nat_host_ns "$1")" "$LAB_PY" "$NAT_PROBE_PY" map --sport "$2" \
		--server "${3:-$NAT_PROBE_A}" --port "${4:-$NAT_PROBE_P1}"
}

# nat_verify_sites NAME...: the self-checks of several sites at once (for
# sites made with --no-check); dies naming every site that failed.
nat_verify_sites() {
	local name pids=() bad=() i=0
	for name in "$@"; do
		nat_known "$name"
		nat_verify "$name" >"$LAB_DIR/natlab/$name.verify" 2>&1 &
		pids+=($!)
	done
	for name in "$@"; do
		if wait "${pids[$i]}"; then :; else bad+=("$name"); fi
		cat "$LAB_DIR/natlab/$name.verify"
		i=$((i + 1))
	done
	[ ${#bad[@]} -eq 0 ] || lab_die "natlab: sites not behaving as declared: ${bad[*]}"
}

# ----------------------------------------------------------- proxy sites
#
# Type "proxy": the router forwards nothing from the LAN (no NAT, forward
# dropped, see nat_rules); a real Squid (Debian's squid 5.7) on the router,
# listening on the LAN address port 3128 and connecting out from the WAN
# address, is the only way out. The policy (nat_site --squid-policy, or
# nat_squid_policy later) is one of:
#   connect     CONNECT to any port; HTTP Upgrade offers forwarded
#               (http_upgrade_request_protocols OTHER allow all)
#   connect443  Debian's stock rules: CONNECT to port 443 only; Upgrade
#               offers dropped (Squid's default)
#   noconnect   CONNECT refused (403) to every port; Upgrade offers dropped;
#               GET/POST to any port: the "common configuration" tund must
#               get through with plain HTTP
# Squid runs as its own PID (lab_bg, killed by the lab's trap) with every
# file in $LAB_DIR/natlab/squid-NAME: squid.conf, cache.log, access.log,
# squid.pid, core files, and its shared-memory segments (a bind mount over
# /dev/shm inside the namespace's private mount namespace, so two proxy
# sites never share Squid's "squid-cf__*.shm" names and none is left in the
# host's /dev/shm). Squid refuses to run as root and drops to
# cache_effective_user "proxy" before opening its logs, so the work dir is
# given group proxy with g+x (traverse only). No name is ever resolved:
# dns_nameservers is the router's own loopback, where nothing listens; use
# IP literals. The router sends nothing but Squid's TCP to the outside.
# labweb.py (public web server for these sites: /hello, /stream, /idle,
# /post, /upgrade; and raw clients) runs on probe A, port NAT_WEB_PORT,
# started with the first proxy site.

NAT_WEB_PY=$NAT_SELF_DIR/labweb.py
NAT_WEB_PORT=34790
NAT_SQUID_PORT=3128
NAT_SQUID_POLICIES="connect connect443 noconnect"
declare -gA NAT_SQUID_PID=() NAT_SQUID_POLICY=()

nat_squid_dir() { echo "$LAB_DIR/natlab/squid-$1"; }

nat_proxy_known() {
	nat_known "$1"
	[ "${NAT_TYPE[$1]}" = proxy ] || lab_die "natlab: site $1 is not a proxy site"
}

# nat_proxy_addr NAME: the proxy as the site's hosts see it, "IP:PORT".
nat_proxy_addr() {
	nat_proxy_known "$1"
	echo "$(nat_int2ip $((NAT_LANBASE[$1] + 1))):$NAT_SQUID_PORT"
}

# nat_proxy_log NAME: Squid's access.log ("squid" format: time, elapsed ms,
# client, CODE/STATUS, bytes, METHOD, URL, -, HIER/peer, type). A line is
# written when a transaction ends: a CONNECT tunnel's on its close.
nat_proxy_log() { nat_proxy_known "$1"; echo "$(nat_squid_dir "$1")/access.log"; }
nat_proxy_pid() { nat_proxy_known "$1"; echo "${NAT_SQUID_PID[$1]}"; }
nat_proxy_policy() { nat_proxy_known "$1"; echo "${NAT_SQUID_POLICY[$1]}"; }

# nat_squid_conf NAME POLICY: squid.conf for NAME's router.
nat_squid_conf() {
	local name=$1 policy=$2 dir lan
	dir=$(nat_squid_dir "$name")
	lan=$(nat_int2ip $((NAT_LANBASE[$name] + 1)))
	cat <<-EOF
	# Squid of natlab proxy site $name, policy $policy (natlab.sh)
	http_port $lan:$NAT_SQUID_PORT
	tcp_outgoing_address ${NAT_WAN[$name]}
	visible_hostname $name-r.natlab.invalid
	pid_filename $dir/squid.pid
	cache_log $dir/cache.log
	access_log stdio:$dir/access.log
	cache_store_log none
	netdb_filename none
	coredump_dir $dir
	cache deny all
	cache_mem 8 MB
	# Names are never resolved outside: the only name server is the
	# router's loopback, where nothing listens; a name fails in ~3 s (502).
	dns_nameservers 127.0.0.1
	dns_timeout 2 seconds
	dns_retransmit_interval 1 seconds
	pinger_enable off
	# Timeouts. Squid's defaults already let a long poll live: read_timeout
	# (no byte from the server, also an idle CONNECT tunnel) 15 min,
	# client_lifetime 1 day; they are stated to be visible, not changed.
	# Shortened only so that the lab stays bounded: connecting to a dead
	# server (default 1 min), finding a path (4 min), shutdown (30 s).
	read_timeout 15 minutes
	client_lifetime 1 day
	connect_timeout 10 seconds
	forward_timeout 20 seconds
	shutdown_lifetime 1 seconds
	acl lan src $(nat_int2ip "${NAT_LANBASE[$name]}")/${NAT_LANLEN[$name]}
	EOF
	case $policy in
	connect) echo "http_upgrade_request_protocols OTHER allow all" ;;
	connect443)
		echo "acl SSL_ports port 443"
		echo "http_access deny CONNECT !SSL_ports"
		;;
	noconnect) echo "http_access deny CONNECT" ;;
	*) lab_die "natlab: unknown squid policy '$policy' (one of: $NAT_SQUID_POLICIES)" ;;
	esac
	echo "http_access allow lan"
	echo "http_access deny all"
}

nat_squid_listening() {
	[ -n "$(lab_exec "$(nat_router_ns "$1")" ss -Hltn "sport = :$NAT_SQUID_PORT")" ]
}

nat_squid_accepting() { grep -c 'Accepting HTTP Socket connections' "$(nat_squid_dir "$1")/cache.log"; }

# nat_squid_reloaded NAME N: Squid has opened its port more than N times
# and listens.
nat_squid_reloaded() { [ "$(nat_squid_accepting "$1")" -gt "$2" ] && nat_squid_listening "$1"; }

# nat_squid_start NAME POLICY: (internal, from nat_site) Squid in NAME's
# router; returns once it listens. Also starts labweb.py on the probe.
nat_squid_start() {
	local name=$1 policy=$2 dir r
	[[ " $NAT_SQUID_POLICIES " == *" $policy "* ]] ||
		lab_die "natlab: unknown squid policy '$policy' (one of: $NAT_SQUID_POLICIES)"
	lab_need squid squid
	lab_need ss iproute2
	id proxy >/dev/null 2>&1 || lab_die "natlab: no user 'proxy' (Debian's squid package makes it)"
	dir=$(nat_squid_dir "$name")
	mkdir -p "$dir/shm"
	chgrp proxy "$LAB_DIR" "$LAB_DIR/natlab" && chmod g+x "$LAB_DIR" "$LAB_DIR/natlab" &&
		chown proxy:proxy "$dir" "$dir/shm" || lab_die "natlab: cannot give user proxy $dir"
	nat_squid_conf "$name" "$policy" >"$dir/squid.conf"
	NAT_SQUID_POLICY[$name]=$policy
	r=$(nat_router_ns "$name")
	# shellcheck disable=SC2016 # $1, $2 are sh's
	lab_bg "$r" "$dir/squid.out" sh -c 'mount --bind "$1" /dev/shm && exec squid -N -f "$2"' \
		squid "$dir/shm" "$dir/squid.conf"
	NAT_SQUID_PID[$name]=$LAB_LAST_PID
	lab_wait_for 10 "squid of $name" nat_squid_listening "$name" ||
		lab_die "natlab: squid of $name did not start; see $dir/cache.log: $(tail -n 5 "$dir/cache.log" "$dir/squid.out" 2>&1)"
	nat_web_start
}

# nat_squid_policy NAME POLICY: rewrites NAME's squid.conf for POLICY and
# makes Squid reload it (SIGHUP, as "squid -k reconfigure" does); returns
# once it listens again (~0.1 s, during which new connections are refused).
nat_squid_policy() {
	local name=$1 policy=$2 n
	nat_proxy_known "$name"
	n=$(nat_squid_accepting "$name")
	nat_squid_conf "$name" "$policy" >"$(nat_squid_dir "$name")/squid.conf"
	NAT_SQUID_POLICY[$name]=$policy
	kill -HUP "${NAT_SQUID_PID[$name]}" || lab_die "natlab: squid of $name is not running"
	lab_wait_for 10 "squid of $name reconfigured" nat_squid_reloaded "$name" "$n" ||
		lab_die "natlab: squid of $name did not come back; see $(nat_squid_dir "$name")/cache.log"
}

nat_web_up() { [ -n "$(lab_exec probe ss -Hltn "sport = :$NAT_WEB_PORT")" ]; }

# nat_web_start: labweb.py on probe A (idempotent).
nat_web_start() {
	nat_web_up && return 0
	lab_bg probe "$LAB_DIR/natlab/labweb.log" "$LAB_PY" "$NAT_WEB_PY" serve \
		--addr "$NAT_PROBE_A" --port "$NAT_WEB_PORT"
	lab_wait_for 10 "labweb on $NAT_PROBE_A:$NAT_WEB_PORT" nat_web_up ||
		lab_die "natlab: labweb.py did not start: $(cat "$LAB_DIR/natlab/labweb.log")"
}

# nat_verify_proxy NAME: (nat_verify for a proxy site) from NAME's first
# host: UDP and TCP straight to the probe get nothing; GET through the
# proxy works and the web server sees the router's WAN address; CONNECT to
# the probe's TCP port is answered per policy (200 and the probe sees the
# WAN address, or 403). One summary line; 0 when all hold. About 1 s.
nat_verify_proxy() {
	local name=$1 h proxy wan policy t0 udp_pid out code text rc=0 seqf seq direct=nothing problems=()
	h=$(nat_host_ns "$name")
	proxy=$(nat_proxy_addr "$name")
	wan=${NAT_WAN[$name]}
	policy=${NAT_SQUID_POLICY[$name]}
	seqf=$LAB_DIR/natlab/$name.probeseq
	seq=$(cat "$seqf" 2>/dev/null || echo 0)
	echo $((seq + 1)) >"$seqf"
	[ "$seq" -lt 1000 ] || lab_die "natlab: too many self-checks of $name"
	t0=$(lab_now_ms)
	lab_exec "$h" "$LAB_PY" "$NAT_PROBE_PY" map --sport $((NAT_PROBE_SPORT0 + seq)) \
		--server "$NAT_PROBE_A" --port "$NAT_PROBE_P1" >"$seqf.udp" 2>&1 &
	udp_pid=$!
	# Dropped silently: the connect times out (124), neither works nor is refused.
	lab_exec "$h" timeout 1 bash -c "exec 3<>/dev/tcp/$NAT_PROBE_A/$NAT_PROBE_TCP" 2>/dev/null || rc=$?
	[ "$rc" = 124 ] || { problems+=("direct TCP to the probe: exit $rc, expected a timeout"); direct=something; }
	if wait "$udp_pid"; then
		problems+=("direct UDP to the probe answered")
		direct=something
	elif ! grep -q 'no answer' "$seqf.udp"; then
		problems+=("UDP probe: $(cat "$seqf.udp")")
	fi
	out=$(lab_exec "$h" "$LAB_PY" "$NAT_WEB_PY" get --proxy "$proxy" \
		"http://$NAT_PROBE_A:$NAT_WEB_PORT/hello?verify=$name" 2>&1) || true
	[ "$out" = "200 hello $wan" ] || problems+=("GET via proxy: '${out//$'\n'/ }', expected '200 hello $wan'")
	out=$(lab_exec "$h" "$LAB_PY" "$NAT_WEB_PY" connect --proxy "$proxy" \
		--target "$NAT_PROBE_A:$NAT_PROBE_TCP" 2>&1) || true
	code=${out%%$'\n'*}
	case $policy in
	connect)
		[[ $out == $'200\nnatprobe1 SEEN - '"$wan "* ]] ||
			problems+=("CONNECT: '${out//$'\n'/ }', expected 200 and the probe seeing $wan") ;;
	*) [ "$out" = 403 ] || problems+=("CONNECT: '${out//$'\n'/ }', expected 403") ;;
	esac
	text="direct UDP and TCP get $direct, GET via $proxy seen from $wan, CONNECT to port $NAT_PROBE_TCP: $code"
	if [ ${#problems[@]} -gt 0 ]; then
		echo "natlab: site $name proxy ($policy): $text  [MISMATCH: $(IFS=';'; echo "${problems[*]}")] ($(($(lab_now_ms) - t0)) ms)"
		return 1
	fi
	echo "natlab: site $name proxy ($policy): $text  [ok] ($(($(lab_now_ms) - t0)) ms)"
}
