#!/usr/bin/env bats
# The TURN-SERVICE kind (RFC 6940 s9): a peer run with --turn-service
# advertises a TURN server at H(Node-ID || d) for d = 1 .. turn-density,
# other nodes of an ICE overlay discover it (Finds walking the ring from
# a random Resource-ID, then Fetch), the storing peers refuse values that break
# NODE-MULTIPLE or name another iteration, and a clean stop withdraws
# the values. ICE runs on the loopback here; nothing listens at the
# advertised address, which only travels as data.

load lib_node

TURN_ADDR=127.0.0.1:3478

setup() {
	node_setup
}

teardown() {
	node_teardown
}

# rid_of NODE-ID D: the Resource-ID of iteration D of a Node-ID: SHA-1
# of its 16 bytes and D as 4 big-endian bytes, first 16 bytes.
rid_of() {
	printf '%s%08x' "$1" "$2" | xxd -r -p | sha1sum | cut -c1-32
}

# turn_value D: a TurnServer { D, 127.0.0.1:3478 } on stdout (bytes).
turn_value() {
	printf '%02x 01 06 7f000001 0d96' "$1" | tr -d ' ' | xxd -r -p
}

# put_turn I D RID: node I stores TurnServer { D, 127.0.0.1:3478 } at RID
# with p2p-put (output and status as "run" leaves them).
put_turn() {
	run bash -c "$(declare -f turn_value); turn_value $2 |
	    p2p-put --dir '$(node_dir "$1")' --kind TURN-SERVICE \
	    --resource-id '$3' -"
}

# wait_turn I JQ [SECONDS]: poll "p2p-node turn" of node I until the jq
# test JQ holds.
wait_turn() {
	local i=$1 q=$2 secs=$((${3:-60} * NT_SCALE))
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		p2p-node turn --json --dir "$(node_dir "$i")" 2>/dev/null |
		    jq -e "$q" >/dev/null && return 0
		sleep 0.5
	done
	echo "node $i: turn state never matched $q:" >&2
	p2p-node turn --json --dir "$(node_dir "$i")" >&2
	return 1
}

start_overlay() {
	node_overlay 3 --ice --turn-credentials overlay:secret \
	    --turn-density 3
	node_start 0 "" --turn-service "$TURN_ADDR"
	node_start 1 "${NT_NODE_ADDR[0]}"
	node_start 2 "${NT_NODE_ADDR[0]}"
	node_wait_ring 120
}

@test "turn: advertised at each iteration, discovered by the other nodes, fetched with p2p-get" {
	start_overlay
	wait_turn 0 '[.advertised[] | select(.stored)] | length == 3'
	p2p-node turn --json --dir "$(node_dir 0)" >"$NT_DIR/t0"
	for d in 1 2 3; do
		jq -e --arg r "$(rid_of "${NT_NODE_ID[0]}" "$d")" --argjson d "$d" \
		    'any(.advertised[]; .iteration == $d and .resource_id == $r)' \
		    "$NT_DIR/t0"
	done
	# Another node reads each value, checked, as a TurnServer.
	for d in 1 2 3; do
		run p2p-get --dir "$(node_dir 1)" --kind TURN-SERVICE \
		    --resource-id --json "$(rid_of "${NT_NODE_ID[0]}" "$d")"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.values[0].turn_server.address' <<<"$output")" = \
		    127.0.0.1 ]
		[ "$(jq '.values[0].turn_server.port' <<<"$output")" -eq 3478 ]
		[ "$(jq '.values[0].turn_server.iteration' <<<"$output")" -eq \
		    "$d" ]
	done
	run p2p-get --dir "$(node_dir 2)" --kind 2 --resource-id \
	    "$(rid_of "${NT_NODE_ID[0]}" 2)"
	[ "$status" -eq 0 ]
	[ "$output" = "127.0.0.1 port 3478 iteration 2" ]
	# Discovery through Finds from a random Resource-ID finds it.
	for i in 1 2; do
		wait_turn "$i" "any(.discovered[]; .address == \"127.0.0.1\" \
		    and .port == 3478 and .offered_by == \"${NT_NODE_ID[0]}\")" \
		    120
	done
	grep -q "turn: TURN server 127.0.0.1:3478 found, offered by ${NT_NODE_ID[0]:0:8}" \
	    "$(node_log 1)"
	# Nobody else advertises.
	p2p-node turn --json --dir "$(node_dir 1)" |
	    jq -e '.turn_service == null and (.advertised | length) == 0'
}

@test "turn: a lone advertisement is found in a joining node's first round: the Finds walk the ring" {
	local i
	# One value in a ring of 6: a Find at a random Resource-ID alone
	# would miss it most of the time; walking on from each answering
	# peer to the next covers the ring within a round of 8 Finds.
	node_overlay 6 --ice --turn-credentials overlay:secret \
	    --turn-density 1
	node_start 0 "" --turn-service "$TURN_ADDR"
	wait_turn 0 '[.advertised[] | select(.stored)] | length == 1'
	for i in 1 2; do
		node_start "$i" "${NT_NODE_ADDR[0]}"
	done
	node_wait_ring 120
	# Each newcomer's first round (once its links to the neighbors it
	# was told of are up) finds it, in at most 8 Finds.
	for i in 3 4 5; do
		node_start "$i" "${NT_NODE_ADDR[0]}"
		wait_turn "$i" "any(.discovered[]; .offered_by == \"${NT_NODE_ID[0]}\")" 60
		p2p-node turn --json --dir "$(node_dir "$i")" >"$NT_DIR/t$i"
		jq -e '.finds >= 1 and .finds <= 8' "$NT_DIR/t$i" ||
		    { cat "$NT_DIR/t$i"; false; }
		! grep -q "no TURN server found" "$(node_log "$i")"
	done
}

@test "turn: the storing peer refuses another node's Resource-ID and a wrong iteration" {
	start_overlay
	# Node 1 writing at node 0's Resource-ID: not its Node-ID.
	put_turn 1 1 "$(rid_of "${NT_NODE_ID[0]}" 1)"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	# At its own Resource-ID of iteration 1, a value claiming 2.
	put_turn 1 2 "$(rid_of "${NT_NODE_ID[1]}" 1)"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	# Not a TurnServer at all.
	run p2p-put --dir "$(node_dir 1)" --kind TURN-SERVICE --resource-id \
	    "$(rid_of "${NT_NODE_ID[1]}" 1)" "turn:127.0.0.1"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	# Past the kind's max-node-multiple (20).
	put_turn 1 21 "$(rid_of "${NT_NODE_ID[1]}" 21)"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	# The matching iteration at its own Resource-ID is taken.
	put_turn 1 2 "$(rid_of "${NT_NODE_ID[1]}" 2)"
	[ "$status" -eq 0 ]
	run p2p-get --dir "$(node_dir 2)" --kind TURN-SERVICE --resource-id \
	    "$(rid_of "${NT_NODE_ID[1]}" 2)"
	[ "$status" -eq 0 ]
	[ "$output" = "127.0.0.1 port 3478 iteration 2" ]
	# Nothing was stored where the refused values went.
	run p2p-get --dir "$(node_dir 2)" --kind TURN-SERVICE --resource-id \
	    "$(rid_of "${NT_NODE_ID[1]}" 1)"
	[ "$status" -eq 1 ]
}

@test "turn: a clean stop withdraws the advertised values" {
	start_overlay
	wait_turn 0 '[.advertised[] | select(.stored)] | length == 3'
	kill -TERM "${NT_NODE_PID[0]}"
	node_wait_exit "${NT_NODE_PID[0]}" 30
	[ "$NT_EXIT" -eq 0 ]
	grep -q "turn: withdrawing $TURN_ADDR from 3 Resource-IDs" \
	    "$(node_log 0)"
	for d in 1 2 3; do
		run p2p-get --dir "$(node_dir 1)" --kind TURN-SERVICE \
		    --resource-id "$(rid_of "${NT_NODE_ID[0]}" "$d")"
		[ "$status" -eq 1 ]
		[[ "$output" == *"nothing stored"* ]]
	done
}

@test "turn: --turn-service is for peers, with an address and a port" {
	node_overlay 1 --ice --turn-credentials overlay:secret
	run p2p-node run --dir "$(node_dir 0)" --client \
	    --bootstrap 127.0.0.1:9 --turn-service "$TURN_ADDR"
	[ "$status" -eq 2 ]
	[[ "$output" == *"run the node as a peer"* ]]
	run p2p-node run --dir "$(node_dir 0)" --listen 127.0.0.1:0 \
	    --turn-service turn.example:3478
	[ "$status" -eq 1 ]
	[[ "$output" == *"--turn-service"* ]]
	run p2p-node run --dir "$(node_dir 0)" --listen 127.0.0.1:0 \
	    --turn-service 127.0.0.1:0
	[ "$status" -eq 1 ]
}

@test "turn: no turn-credentials, no discovery; turn-density 0 advertises nothing" {
	node_overlay 1 --ice --turn-density 0
	node_start 0 "" --turn-service "$TURN_ADDR"
	p2p-node turn --json --dir "$(node_dir 0)" >"$NT_DIR/t0"
	jq -e '.discovery == false and (.advertised | length) == 0 and
	    .turn_service == "127.0.0.1:3478"' "$NT_DIR/t0"
}

@test "turn: p2p-ca init --turn-density writes turn-density" {
	run p2p-ca init --dir "$NT_DIR/ca" --overlay turn.test --ice \
	    --turn-credentials u:p --turn-density 5
	[ "$status" -eq 0 ]
	grep -q '<turn-density>5</turn-density>' "$NT_DIR/ca/overlay.xml"
	grep -q '<kind name="TURN-SERVICE">' "$NT_DIR/ca/overlay.xml"
	run p2p-ca init --dir "$NT_DIR/ca2" --overlay turn.test \
	    --turn-density 21
	[ "$status" -eq 2 ]
	run p2p-ca init --dir "$NT_DIR/ca3" --overlay turn.test
	[ "$status" -eq 0 ]
	grep -q '<turn-density>1</turn-density>' "$NT_DIR/ca3/overlay.xml"
}
