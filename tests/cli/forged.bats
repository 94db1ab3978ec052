#!/usr/bin/env bats
# A stored value whose signature does not verify is refused by the
# storing peer, end to end: sent over a real link, routed to the peer
# responsible for the resource, answered with Error_Forbidden, and nothing
# is stored.

load lib_node

setup() {
	node_setup
	# n3's identity is used by the kit only (no node runs with it)
	node_overlay 4
	node_start_all 3
	node_wait_ring 120
}

teardown() {
	node_teardown
}

@test "a forged stored-data signature is refused with Error_Forbidden and nothing is stored" {
	run p2p-testkit send --dir "$(node_dir 3)" --to "${NT_NODE_ADDR[0]}" \
	    --msg store-forged
	[ "$status" -eq 0 ]
	[[ "$output" == "error Error_Forbidden"* ]]
	for i in 0 1 2; do
		run p2p-get --dir "$(node_dir "$i")" user3@test.p2psip
		[ "$status" -eq 1 ]
		[[ "$output" == *"nothing stored"* ]]
	done
}
