#!/usr/bin/env bats
# The SIP control methods of p2p-node (sip.status, sip.register,
# sip.message, sip.events, sip.lookup), as a script uses them, on a
# 3-node overlay on 127.0.0.1. Fixtures in lib_sip.bash.

load lib_sip

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
}

teardown() {
	sip_teardown
}

# events_start I FILE: collect node I's sip.event notifications in FILE.
events_start() {
	python3 - "$(node_dir "$1")/node.sock" >"$2" 2>/dev/null 3>&- <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"sip.events"}\n')
f = s.makefile("r")
for line in f:
    print(line.strip(), flush=True)
PY
	NT_PIDS+=("$!")
}

@test "sip.status, sip.message to a p2p-call user at another node, sip.events, and the refusals" {
	local st out
	sip_overlay 3
	st=$(sip_ctl 1 sip.status)
	[ "$(jq -r '.aors[0]' <<<"$st")" = "$(sip_aor 1)" ]
	[ "$(jq -r .udp <<<"$st")" = "127.0.0.1:$(sip_front_port 1)" ]

	events_start 2 "$NT_DIR/events.json"
	sleep 0.5
	call_start reg 2 --json register
	call_wait_event reg registered 30 "$CALL_PID"
	sip_lookup_wait 0 "$(sip_aor 2)" 30

	# a MESSAGE from node 0's user, made by node 0 itself
	out=$(sip_ctl 0 sip.message "{\"to\": \"$(sip_aor 2)\", \"text\": \"hi from the control socket\"}")
	[ "$(jq -r .status <<<"$out")" = 200 ]
	call_wait_event reg message 10 "$CALL_PID"
	jq -r 'select(.event == "message") | .text' "$NT_DIR/reg.events" |
	    grep -qx 'hi from the control socket'

	# node 2 told its event stream about the binding and the message
	for _ in $(seq 50); do
		grep -q '"message"' "$NT_DIR/events.json" && break
		sleep 0.1
	done
	jq -r '.params.event // empty' "$NT_DIR/events.json" | grep -qx registered
	jq -r 'select(.params.event == "message") | .params.from' \
	    "$NT_DIR/events.json" | grep -qx "$(sip_aor 0)"

	# nobody registered: 404, as JSON-RPC error 2
	run sip_ctl 0 sip.message '{"to": "nobody@test.p2psip", "text": "x"}'
	[ "$status" -ne 0 ]
	[[ "$output" == *"404"* ]]
	# bad parameters
	run sip_ctl 0 sip.message '{"to": "not an aor"}'
	[ "$status" -ne 0 ]
	[[ "$output" == *"-32602"* ]]
	# sip.register for an AOR that is not the node's user: 403
	run sip_ctl 0 sip.register "{\"aor\": \"$(sip_aor 2)\", \"contact\": \"sip:x@127.0.0.1:9\", \"expires\": 60}"
	[ "$status" -ne 0 ]
	[[ "$output" == *"403"* ]]
}
