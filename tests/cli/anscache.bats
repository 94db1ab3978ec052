#!/usr/bin/env bats
# End-to-end retransmission of a request (RFC 6940 s6.2.1): a request sent
# again with the same transaction id, as an originator does when it hears
# no answer, gets the answer the first copy got, and is not handled twice
# (libcore/anscache.h). The kit plays the originator with the identity of
# a node directory no node runs with.

load lib_store

setup() {
	node_setup
	node_overlay 2
	node_start 0
}

teardown() {
	node_teardown
}

@test "a retransmitted Store gets the same answer and is stored once" {
	local a b out
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg store-append --repeat 2 --timeout 20
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	a=${lines[0]}
	b=${lines[1]}
	[[ "$a" == "answer StoreAns "* ]]
	# the same bytes: contents and signature
	[ "$a" = "$b" ]
	grep -q "StoreReq retransmitted: answered again" "$(node_log 0)"
	# p2p-node status counts it
	out=$(p2p-node status --json --dir "$(node_dir 0)")
	[ "$(jq .answer_cache.resent <<<"$out")" -eq 1 ]
	[ "$(jq .answer_cache.answered <<<"$out")" -ge 1 ]
	[ "$(jq .answer_cache.entries <<<"$out")" -ge 1 ]
	p2p-node status --dir "$(node_dir 0)" | grep -qE '^anscache.resent +1$'
	# one append, not two
	out=$(st_get 0 --kind array --json "$(st_user 1)")
	echo "$out"
	[ "$(jq '.values | length' <<<"$out")" -eq 1 ]
	[ "$(jq -r '.values[0].value' <<<"$out")" = "appended" ]
}

@test "a new transaction of the same request is handled anew" {
	local out
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg store-append --timeout 20
	[ "$status" -eq 0 ]
	[[ "$output" == "answer StoreAns" ]]
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg store-append --timeout 20
	[ "$status" -eq 0 ]
	[[ "$output" == "answer StoreAns" ]]
	out=$(st_get 0 --kind array --json "$(st_user 1)")
	[ "$(jq '.values | length' <<<"$out")" -eq 2 ]
}
