#!/usr/bin/env bats
# NODE-MATCH across nodes: only the peer whose Node-ID hashes to the
# Resource-ID may write it ("node" kind of the kit's overlays).

load lib_node

setup() {
	node_setup
	node_overlay 4
	node_start_all 4
	node_wait_ring 120
}

teardown() {
	node_teardown
}

@test "NODE-MATCH: the Node-ID's own peer may store at its Resource-ID, another peer is refused" {
	local rid
	# Resource-ID of a Node-ID: SHA-1 of its 16 bytes, first 16 bytes
	rid=$(printf '%s' "${NT_NODE_ID[1]}" | xxd -r -p | sha1sum | cut -c1-32)
	run p2p-put --dir "$(node_dir 1)" --kind node --resource-id --json \
	    "$rid" "mine"
	[ "$status" -eq 0 ]
	[ "$(jq -r .resource_id <<<"$output")" = "$rid" ]
	run p2p-put --dir "$(node_dir 2)" --kind node --resource-id "$rid" \
	    "not yours"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	for i in 0 2 3; do
		run p2p-get --dir "$(node_dir "$i")" --kind node --resource-id \
		    --json "$rid"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.values[0].value' <<<"$output")" = mine ]
		[ "$(jq -r '.values | length' <<<"$output")" -eq 1 ]
	done
	# a resource id that is not hex is a usage error
	run p2p-get --dir "$(node_dir 0)" --kind node --resource-id zz
	[ "$status" -eq 2 ]
}
