#!/usr/bin/env bats
# p2p-get --find: RFC 6940 Find from the command line, through real nodes
# on 127.0.0.1 (fixtures in lib_node.bash and lib_store.bash).

load lib_store

setup() {
	node_setup
}

teardown() {
	node_teardown
}

@test "p2p-get --find: bad combinations are usage errors" {
	run p2p-get --find --stat r
	[ "$status" -eq 2 ]
	run p2p-get --find --key k r
	[ "$status" -eq 2 ]
	run p2p-get --kind single --kind array r
	[ "$status" -eq 2 ]
	[[ "$output" == *"--find"* ]]
	run p2p-get --help
	[[ "$output" == *"p2p-get --find"* ]]
	mkdir -m 0700 "$NT_DIR/empty"
	run p2p-get --find --dir "$NT_DIR/empty" r
	[ "$status" -eq 3 ]
}

@test "p2p-get --find: the responsible peer names what it holds, per kind, as a table and as JSON" {
	local u0 rid at out
	node_overlay 3
	node_start_all 3
	node_wait_ring 120
	u0=$(st_user 0)
	run st_put 0 --json "$u0" "a value"
	[ "$status" -eq 0 ]
	rid=$(jq -r .resource_id <<<"$output")
	at=$(jq -r .stored_at <<<"$output")
	run st_put 0 --kind dictionary --key k "$u0" "v"
	[ "$status" -eq 0 ]

	# From another node: single and dictionary hold the resource itself,
	# nothing was stored in an array.
	run st_get 2 --find --json --kind single --kind array \
	    --kind dictionary "$u0"
	echo "$output"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jq -r .resource_id <<<"$out")" = "$rid" ]
	[ "$(jq -r .answered_by <<<"$out")" = "$at" ]
	[ "$(jq -r '.results | length' <<<"$out")" -eq 3 ]
	[ "$(jq -r '.results[] | select(.name == "single") | .closest' \
	    <<<"$out")" = "$rid" ]
	[ "$(jq -r '.results[] | select(.name == "dictionary") | .closest' \
	    <<<"$out")" = "$rid" ]
	[ "$(jq -r '.results[] | select(.name == "array") | .closest' \
	    <<<"$out")" = null ]
	[ "$(jq -r '.results[] | select(.name == "single") | .kind' \
	    <<<"$out")" = "$ST_SINGLE" ]

	# The table: a header line, then kind, name, closest (or -).
	run st_get 1 --find --kind single --kind array "$u0"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "resource $rid  answered by $at" ]]
	[[ "${lines[1]}" == KIND*NAME*CLOSEST ]]
	[[ "$output" =~ $ST_SINGLE\ +single\ +$rid ]]
	[[ "$output" =~ [0-9]+\ +array\ +- ]]

	# By Resource-ID, default kind single.
	run st_get 1 --find --resource-id "$rid"
	[ "$status" -eq 0 ]
	[[ "$output" =~ single\ +$rid ]]

	# Nothing of the kind held there: exit 1, with the answer shown.
	run st_get 1 --find --json --kind array "$u0"
	[ "$status" -eq 1 ]
	[[ "$output" == *"holds nothing"* ]]
	# An unknown kind is the node's usage error.
	run st_get 1 --find --kind nosuchkind "$u0"
	[ "$status" -ne 0 ]
	[[ "$output" == *"kinds"* ]]
}
