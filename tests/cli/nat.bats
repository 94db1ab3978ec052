#!/usr/bin/env bats
# The NAT lab (tests/nat/lab.bash): network namespaces with two private
# segments, each behind its own masquerading router, and a public segment
# with coturn (STUN and TURN). ICE agents of libcore/ice.c (driven by the
# p2p-icepeer fixture, whose offer and answer are AttachReqAns bodies
# passed through files) connect across the two NATs. Skipped where the
# machine does not allow network namespaces and iptables.

load lib_store
load ../nat/lab

setup() {
	node_setup
	lab_check || skip "$LAB_WHY"
}

teardown() {
	lab_down
	node_teardown
}

# peers ARGS...: run a controlling agent in a and a controlled one in b,
# each with ARGS, until both are done; $A_RC $B_RC, logs $NT_DIR/[ab].log.
peers() {
	lab_bg a "$NT_DIR/a.log" p2p-icepeer --out "$NT_DIR/a.offer" \
	    --in "$NT_DIR/b.offer" --controlling --local "$LAB_A" --name A \
	    --timeout 40 "$@"
	local pa=$LAB_LAST_PID
	lab_bg b "$NT_DIR/b.log" p2p-icepeer --out "$NT_DIR/b.offer" \
	    --in "$NT_DIR/a.offer" --local "$LAB_B" --name B --timeout 40 "$@"
	local pb=$LAB_LAST_PID
	A_RC=0
	lab_wait "$pa" 60 || A_RC=$?
	B_RC=0
	lab_wait "$pb" 60 || B_RC=$?
	echo "--- a (rc $A_RC)"; cat "$NT_DIR/a.log"
	echo "--- b (rc $B_RC)"; cat "$NT_DIR/b.log"
}

@test "nat lab: the NATed hosts reach the public segment, not each other's private address" {
	lab_up eim
	lab_udp_reach a pub "$LAB_PUB"
	lab_udp_reach b pub "$LAB_PUB"
	run lab_udp_reach a b "$LAB_B"
	[ "$status" -ne 0 ]
	run lab_udp_reach pub a "$LAB_A"
	[ "$status" -ne 0 ]
}

@test "ice through two NATs: server-reflexive candidates from STUN connect" {
	lab_up eim
	lab_turn_start "$NT_DIR"
	peers --stun "$LAB_PUB:3478"
	[ "$A_RC" -eq 0 ] && [ "$B_RC" -eq 0 ]
	grep -q "^candidate srflx $LAB_R1:" "$NT_DIR/a.log"
	grep -q "^candidate srflx $LAB_R2:" "$NT_DIR/b.log"
	grep -q "^received hello from B" "$NT_DIR/a.log"
	grep -q "^received hello from A" "$NT_DIR/b.log"
	# The pair runs between the routers' public addresses.
	grep -qE "^connected .* -> [a-z]+ $LAB_R2:" "$NT_DIR/a.log"
	grep -qE "^connected .* -> [a-z]+ $LAB_R1:" "$NT_DIR/b.log"
}

@test "ice through two NATs: host candidates alone do not connect" {
	lab_up eim
	peers --timeout 8
	[ "$A_RC" -eq 1 ] && [ "$B_RC" -eq 1 ]
	grep -q "^failed " "$NT_DIR/a.log"
	! grep -q "^connected" "$NT_DIR/a.log"
}

@test "ice through two symmetric NATs: STUN is not enough, a TURN relay connects" {
	lab_up symmetric
	lab_turn_start "$NT_DIR"
	peers --stun "$LAB_PUB:3478" --timeout 12
	[ "$A_RC" -eq 1 ] && [ "$B_RC" -eq 1 ]
	grep -q "^candidate srflx $LAB_R1:" "$NT_DIR/a.log"
	rm -f "$NT_DIR"/[ab].offer
	peers --turn "$LAB_PUB:3478" --user "$LAB_TURN_USER" \
	    --pass "$LAB_TURN_PASS" --relay-only
	[ "$A_RC" -eq 0 ] && [ "$B_RC" -eq 0 ]
	grep -q "^received hello from B" "$NT_DIR/a.log"
	grep -q "^received hello from A" "$NT_DIR/b.log"
	grep -qE "^connected relay $LAB_PUB:[0-9]+ -> relay $LAB_PUB:" \
	    "$NT_DIR/a.log"
}

@test "ice through two symmetric NATs: with host, server-reflexive and relayed candidates all offered, a pair through the TURN relay connects" {
	lab_up symmetric
	lab_turn_start "$NT_DIR"
	peers --stun "$LAB_PUB:3478" --turn "$LAB_PUB:3478" \
	    --user "$LAB_TURN_USER" --pass "$LAB_TURN_PASS"
	[ "$A_RC" -eq 0 ] && [ "$B_RC" -eq 0 ]
	grep -q "^candidate host $LAB_A:" "$NT_DIR/a.log"
	grep -q "^candidate srflx $LAB_R1:" "$NT_DIR/a.log"
	grep -q "^candidate relay $LAB_PUB:" "$NT_DIR/a.log"
	grep -q "^received hello from B" "$NT_DIR/a.log"
	grep -q "^received hello from A" "$NT_DIR/b.log"
	# one end of the selected pair is a relay on the TURN server
	grep -qE "^connected (relay $LAB_PUB:[0-9]+ -> |[a-z]+ [0-9.:]+ -> relay $LAB_PUB:)" \
	    "$NT_DIR/a.log"
}

@test "ice through two NATs: relay only, wrong TURN password fails" {
	lab_up eim
	lab_turn_start "$NT_DIR"
	peers --turn "$LAB_PUB:3478" --user "$LAB_TURN_USER" --pass wrong \
	    --relay-only --timeout 10
	[ "$A_RC" -eq 1 ] && [ "$B_RC" -eq 1 ]
	rm -f "$NT_DIR"/[ab].offer
	peers --turn "$LAB_PUB:3478" --user "$LAB_TURN_USER" \
	    --pass "$LAB_TURN_PASS" --relay-only
	[ "$A_RC" -eq 0 ] && [ "$B_RC" -eq 0 ]
	grep -qE "^connected relay $LAB_PUB:[0-9]+ -> relay $LAB_PUB:" \
	    "$NT_DIR/a.log"
}

# nat_nodes MODE [overlay options...]: the lab in MODE, a bootstrap peer
# on the public segment, node 1 behind NAT a and node 2 behind NAT b, in
# a converged ring.
nat_nodes() {
	lab_up "$1"
	shift
	lab_turn_start "$NT_DIR"
	node_overlay 3 --ice --stun "$LAB_PUB:3478" "$@"
	lab_node 0 pub "$LAB_PUB"
	lab_node 1 a "$LAB_A" "${NT_NODE_ADDR[0]}"
	lab_node 2 b "$LAB_B" "${NT_NODE_ADDR[0]}"
	node_wait_ring 120
}

# nat_link_and_data: node 1 holds a DTLS-UDP-SR link to node 2, and data
# stored from behind one NAT is read from behind the other (and from the
# public peer).
nat_link_and_data() {
	p2p-node peers --json --dir "$(node_dir 1)" >"$NT_DIR/peers1"
	jq -e --arg id "${NT_NODE_ID[2]}" \
	    'any(.[]; .node_id == $id and .link_type == "DTLS-UDP-SR")' \
	    "$NT_DIR/peers1"
	st_put 1 "$(st_user 1)" "from behind NAT a"
	[ "$(st_get 2 "$(st_user 1)")" = "from behind NAT a" ]
	st_put 2 "$(st_user 2)" "from behind NAT b"
	[ "$(st_get 1 "$(st_user 2)")" = "from behind NAT b" ]
	[ "$(st_get 0 "$(st_user 2)")" = "from behind NAT b" ]
}

@test "nodes behind two NATs join through a public bootstrap peer over ICE and DTLS, then put and get" {
	nat_nodes eim
	# The two NATed nodes have an ICE link between their routers'
	# public addresses, DTLS over the selected pair.
	grep -qE "ICE with ${NT_NODE_ID[2]:0:8}: [a-z]+ [0-9.:]+ -> [a-z]+ $LAB_R2:" \
	    "$(node_log 1)"
	nat_link_and_data
}

@test "nodes behind two symmetric NATs link through the TURN relay of the configuration, then put and get" {
	nat_nodes symmetric --turn "$LAB_PUB:3478" \
	    --turn-credentials "$LAB_TURN_USER:$LAB_TURN_PASS"
	# Node 1's ICE link to node 2 has one end on a TURN relay: the
	# mappings of a symmetric NAT depend on the destination, so no
	# server-reflexive pair can work.
	grep -qE "ICE with ${NT_NODE_ID[2]:0:8}: (relay $LAB_PUB:[0-9]+ -> |[a-z]+ [0-9.:]+ -> relay $LAB_PUB:)" \
	    "$(node_log 1)"
	nat_link_and_data
}

@test "nodes behind two symmetric NATs link through a TURN server they found in the overlay (TURN-SERVICE), not in the configuration" {
	lab_up symmetric
	lab_turn_start "$NT_DIR"
	# The configuration names a STUN server and the TURN credentials,
	# no TURN server: the public peer advertises coturn.
	node_overlay 3 --ice --stun "$LAB_PUB:3478" \
	    --turn-credentials "$LAB_TURN_USER:$LAB_TURN_PASS"
	lab_node 0 pub "$LAB_PUB" "" --turn-service "$LAB_PUB:3478"
	lab_node 1 a "$LAB_A" "${NT_NODE_ADDR[0]}"
	lab_node 2 b "$LAB_B" "${NT_NODE_ADDR[0]}"
	node_wait_ring 180
	# (one relay end is enough for the pair: at least one of the two
	# has found the server by the time they link)
	cat "$(node_log 1)" "$(node_log 2)" |
	    grep -q "turn: TURN server $LAB_PUB:3478 found"
	grep -qE "ICE with ${NT_NODE_ID[2]:0:8}: (relay $LAB_PUB:[0-9]+ -> |[a-z]+ [0-9.:]+ -> relay $LAB_PUB:)" \
	    "$(node_log 1)"
	nat_link_and_data
}

@test "a client node behind a NAT is admitted, puts and gets" {
	lab_up eim
	lab_turn_start "$NT_DIR"
	node_overlay 3 --ice --stun "$LAB_PUB:3478"
	lab_node 0 pub "$LAB_PUB"
	lab_node 1 a "$LAB_A" "${NT_NODE_ADDR[0]}"
	node_wait_ring 120
	lab_node 2 b "$LAB_B" "${NT_NODE_ADDR[0]}" --client
	# The client's link to its admitting peer: the bootstrap link when
	# that peer admits it, else an ICE link through the NAT.
	p2p-node peers --json --dir "$(node_dir 2)" >"$NT_DIR/peers2"
	jq -e 'length >= 1' "$NT_DIR/peers2"
	st_put 2 "$(st_user 2)" "from a client behind NAT b"
	[ "$(st_get 1 "$(st_user 2)")" = "from a client behind NAT b" ]
	st_put 1 "$(st_user 1)" "from a peer behind NAT a"
	[ "$(st_get 2 "$(st_user 1)")" = "from a peer behind NAT a" ]
}
