# shellcheck shell=bash
#
# svclab.sh - the public services of the NAT lab: tund-mediator and
# tund-relay on hosts of the internet core (198.51.100.0/24). Sourced after
# lib.sh and natlab.sh (nat_lab_init made the core).
#
#   svc_relay_start NS ADDR [PORT]       relay host NS at ADDR (a /24 on the
#                                        core), listening on PORT (443);
#                                        sets RELAY_ADDR, RELAY_PORT, RELAY_KEY
#                                        (public), RELAY_PID
#   svc_relay_restart                    starts it again with the same key
#   svc_mediator_start NS ADDR           mediator host NS at ADDR, UDP+TCP
#                                        3478 and alt 3479, announcing the relay
#                                        when one was started first; sets
#                                        MED_ADDR, MED_PORT, MEDKEY, MED_PID
#   svc_mediator_restart
#   svc_relay_key_conf / svc_mediator_conf   [tund] lines naming them

svc_relay_start() {
	RELAY_NS=$1
	RELAY_ADDR=$2
	RELAY_PORT=${3:-443}
	lab_ns "$RELAY_NS"
	lab_core_attach "$RELAY_NS" eth0 pub "$RELAY_ADDR/24"
	(umask 077 && lab_tunctl genkey >"$LAB_DIR/relay.key")
	RELAY_KEY=$(lab_tunctl pubkey <"$LAB_DIR/relay.key")
	cat >"$LAB_DIR/relay.conf" <<-EOF
	[relay]
	private_key_file = $LAB_DIR/relay.key
	listen = 0.0.0.0:$RELAY_PORT
	log_level = debug
	EOF
	if [ -n "${MED_ADDR:-}" ]; then
		echo "mediator = $MED_ADDR:$MED_PORT" >>"$LAB_DIR/relay.conf"
	fi
	svc_relay_restart
}

svc_relay_restart() {
	lab_bg "$RELAY_NS" "$LAB_DIR/relay.log" "$TUND_BIN_DIR/tund-relay" -c "$LAB_DIR/relay.conf"
	RELAY_PID=$LAB_LAST_PID
	lab_wait_for 10 "relay on $RELAY_ADDR:$RELAY_PORT" \
		lab_exec "$RELAY_NS" bash -c "exec 3<>/dev/tcp/$RELAY_ADDR/$RELAY_PORT" ||
		lab_die "the relay did not start: $(tail -5 "$LAB_DIR/relay.log")"
}

svc_mediator_start() {
	MED_NS=$1
	MED_ADDR=$2
	MED_PORT=3478
	lab_ns "$MED_NS"
	lab_core_attach "$MED_NS" eth0 pub "$MED_ADDR/24"
	(umask 077 && lab_tunctl genkey >"$LAB_DIR/med.key")
	MEDKEY=$(lab_tunctl pubkey <"$LAB_DIR/med.key")
	cat >"$LAB_DIR/mediator.conf" <<-EOF
	[mediator]
	private_key_file = $LAB_DIR/med.key
	listen = 0.0.0.0:$MED_PORT
	alt_port = $((MED_PORT + 1))
	log_level = debug
	EOF
	if [ -n "${RELAY_KEY:-}" ]; then
		printf 'relay = %s:%s\nrelay_key = %s\n' "$RELAY_ADDR" "$RELAY_PORT" "$RELAY_KEY" \
			>>"$LAB_DIR/mediator.conf"
	fi
	svc_mediator_restart
}

svc_mediator_restart() {
	lab_bg "$MED_NS" "$LAB_DIR/mediator.log" "$TUND_BIN_DIR/tund-mediator" -c "$LAB_DIR/mediator.conf"
	MED_PID=$LAB_LAST_PID
	lab_wait_for 10 "mediator on $MED_ADDR:$MED_PORT" \
		lab_exec "$MED_NS" bash -c "exec 3<>/dev/tcp/$MED_ADDR/$MED_PORT" ||
		lab_die "the mediator did not start: $(tail -5 "$LAB_DIR/mediator.log")"
}

# [tund] lines for a tund that uses the lab's mediator (and so learns the
# relay from it).
svc_mediator_conf() {
	printf 'mediator = %s:%s\nmediator_key = %s\n' "$MED_ADDR" "$MED_PORT" "$MEDKEY"
}
