#!/usr/bin/env bats
# Routing rules of RFC 6940 s6.3.2: forwarding options the node does not
# know but must understand are refused with the right error.

load lib_node


setup() {
	node_setup
	node_overlay 2
	node_start_all 2
}

teardown() {
	node_teardown
}

@test "an unknown forward-critical option gets Error_Unsupported_Forwarding_Option" {
	run p2p-testkit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --critical-option forward
	[ "$status" -eq 0 ]
	[[ "$output" == "error Error_Unsupported_Forwarding_Option"* ]]
}

@test "an unknown destination-critical option gets Error_Unsupported_Forwarding_Option" {
	run p2p-testkit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --critical-option destination
	[ "$status" -eq 0 ]
	[[ "$output" == "error Error_Unsupported_Forwarding_Option"* ]]
	# and the node goes on answering
	run p2p-testkit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}"
	[ "$status" -eq 0 ]
	[ "$output" = "answer PingAns" ]
}
