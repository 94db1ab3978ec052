#!/usr/bin/env bats
# Requests for a resource go straight to its responsible peer once the
# node has learnt which peer that is (node_route.c): the first Fetch takes
# the ring's route and its signed answer names the owner, to which the
# node attaches; later requests use that link. When the owner is gone the
# ring's route is taken again and the new owner is learnt.

load lib_store

setup() {
	node_setup
}

teardown() {
	node_teardown
}

# dr_owner I RID: the responsible peer node I has learnt for RID, with a
# link up to it ("" when none).
dr_owner() {
	node_status "$1" | jq -r --arg r "$2" \
	    '.direct_routes[] | select(.resource_id == $r and .linked)
	    | .node_id'
}

# dr_wait_owner I RID NOT: poll until node I has a linked route for RID
# to a peer other than NOT; print it.
dr_wait_owner() {
	local i=$1 rid=$2 not=$3 o secs=$((20 * NT_SCALE))
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		o=$(dr_owner "$i" "$rid")
		if [ -n "$o" ] && [ "$o" != "$not" ]; then
			echo "$o"
			return 0
		fi
		sleep 0.2
	done
	echo "node $i: no direct route for $rid (besides '$not')" >&2
	node_status "$i" | jq -c .direct_routes >&2
	return 1
}

# dr_learnt I RID: the responsible peer node I has learnt for RID,
# linked or not ("" when none).
dr_learnt() {
	node_status "$1" | jq -r --arg r "$2" \
	    '.direct_routes[] | select(.resource_id == $r) | .node_id'
}

# dr_linked I ID: has node I a link to the peer ID?
dr_linked() {
	p2p-node peers --json --dir "$(node_dir "$1")" |
	    jq -e --arg o "$2" 'any(.[]; .node_id == $o)' >/dev/null
}

# dr_ring N VALUE: N nodes in a converged ring; the first user whose
# resource node 0 is not responsible for (every node has a link to node
# 0, the bootstrap node, for a while) puts VALUE under it from its own
# node. Sets U0 (the resource name), PI (the node that put it), RID,
# OWNER (the responsible peer's Node-ID) and OI (its index).
dr_ring() {
	local u
	node_overlay "$1"
	node_start_all "$1"
	node_wait_ring 120
	for ((u = 0; u < $1; u++)); do
		[ "$(st_route 0 "$(st_user "$u")")" != "${NT_NODE_ID[0]}" ] &&
		    break
	done
	[ "$u" -lt "$1" ]
	PI=$u
	U0=$(st_user "$u")
	run st_put "$u" --json "$U0" "$2"
	[ "$status" -eq 0 ]
	RID=$(jq -r .resource_id <<<"$output")
	OWNER=$(jq -r .stored_at <<<"$output")
	OI=$(st_index "$OWNER")
}

# dr_other: a node index that is neither OI nor PI.
dr_other() {
	local i
	for i in 1 2 3; do
		if [ "$i" != "$OI" ] && [ "$i" != "$PI" ]; then
			echo "$i"
			return 0
		fi
	done
}

@test "40 nodes: a resource asked for twice gets a link to its responsible peer and later requests go straight there, to the next one after it is killed" {
	local u0 rid owner oi i j= k c1 c2 owner2
	dr_ring 40 "direct value"
	u0=$U0 rid=$RID owner=$OWNER oi=$OI
	# A node that has no link to the owner asks. A peer is linked to its
	# neighbors and fingers and to those that have it as theirs: in a
	# ring of 20 that is nearly everyone, in one of 40 a good half.
	# Not the node that put it: its StoreAns named the owner already.
	for i in $(seq 1 39); do
		if [ "$i" != "$oi" ] && [ "$i" != "$PI" ] &&
		    ! dr_linked "$i" "$owner"; then
			j=$i
			break
		fi
	done
	[ -n "$j" ]
	echo "# n$j asks for $u0, held by n$oi" >&3

	# The first get takes the ring's route; its answer names the owner,
	# which is remembered but not attached to.
	[ "$(node_status "$j" | jq '.direct_routes | length')" -eq 0 ]
	run st_get "$j" "$u0"
	[ "$status" -eq 0 ]
	[ "$output" = "direct value" ]
	[ "$(dr_learnt "$j" "$rid")" = "$owner" ]
	[ "$(dr_owner "$j" "$rid")" = "" ]
	! dr_linked "$j" "$owner"
	# The second one comes from the same owner: a link to it comes up.
	run st_get "$j" "$u0"
	[ "$status" -eq 0 ]
	[ "$(node_counter "$j" sent_direct)" -eq 0 ]
	[ "$(dr_wait_owner "$j" "$rid" none)" = "$owner" ]
	dr_linked "$j" "$owner"
	p2p-node status --dir "$(node_dir "$j")" |
	    grep -q "^direct  *$rid -> $owner (linked, "

	# The next gets and a stat go straight there.
	for k in 1 2 3; do
		run st_get "$j" "$u0"
		[ "$status" -eq 0 ]
		[ "$output" = "direct value" ]
	done
	run st_get "$j" --stat "$u0"
	[ "$status" -eq 0 ]
	c1=$(node_counter "$j" sent_direct)
	[ "$c1" -eq 4 ]
	# The value's signature was verified once by n$j: the later gets
	# found it among the signatures verified before.
	[ "$(node_counter "$j" signature_cache_hits)" -ge 4 ]

	# The owner dies: the value is fetched from the peer that takes its
	# place (a replica), and that peer is learnt and then used.
	kill -KILL "${NT_NODE_PID[$oi]}"
	wait "${NT_NODE_PID[$oi]}" 2>/dev/null || true
	node_wait_ring 120
	for k in 1 2; do
		run st_get "$j" "$u0"
		[ "$status" -eq 0 ]
		[ "$output" = "direct value" ]
	done
	owner2=$(dr_wait_owner "$j" "$rid" "$owner")
	[ "$owner2" != "$owner" ]
	[ "$(st_route "$j" "$u0")" = "$owner2" ]
	run st_get "$j" "$u0"
	[ "$status" -eq 0 ]
	[ "$output" = "direct value" ]
	c2=$(node_counter "$j" sent_direct)
	[ "$c2" -gt "$c1" ]
}

@test "a node responsible for the resource itself learns no route, and trace shows the ring's route" {
	local u0 rid owner oi j k hops1 hops2
	dr_ring 12 v
	u0=$U0 rid=$RID owner=$OWNER oi=$OI
	run st_get "$oi" "$u0"
	[ "$status" -eq 0 ]
	[ "$(node_status "$oi" | jq '.direct_routes | length')" -eq 0 ]
	[ "$(node_counter "$oi" sent_direct)" -eq 0 ]
	# From another node: trace reports the same hops before and after
	# the owner is learnt.
	j=$(dr_other)
	hops1=$(p2p-trace --json --dir "$(node_dir "$j")" "$u0" | jq -c '[.hops[].node_id]')
	for k in 1 2; do
		run st_get "$j" "$u0"
		[ "$status" -eq 0 ]
	done
	dr_wait_owner "$j" "$rid" none >/dev/null
	hops2=$(p2p-trace --json --dir "$(node_dir "$j")" "$u0" | jq -c '[.hops[].node_id]')
	[ "$hops1" = "$hops2" ]
	[ "$(p2p-trace --json --dir "$(node_dir "$j")" "$u0" |
	    jq -r .responsible)" = "$owner" ]
}

@test "an error answer to a request sent straight: the route is forgotten and the request goes round the ring once" {
	local u0 rid owner oi j k resent c
	dr_ring 12 "v"
	u0=$U0 rid=$RID owner=$OWNER oi=$OI
	j=$(dr_other)
	for k in 1 2; do
		run st_get "$j" "$u0"
		[ "$status" -eq 0 ]
	done
	[ "$(dr_wait_owner "$j" "$rid" none)" = "$owner" ]
	resent=$(node_status "$oi" | jq .answer_cache.resent)
	c=$(node_counter "$j" sent_direct)
	# n$j writes another user's resource: the owner refuses it
	# (USER-MATCH).
	# The refusal of the copy sent straight makes n$j forget the route
	# and send the same request (same transaction) round the ring: the
	# owner answers it again from its answer cache, and that answer is
	# the one the user sees.
	run st_put "$j" "$u0" "not mine"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden* ]]
	[ "$(node_counter "$j" sent_direct)" -eq $((c + 1)) ]
	[ "$(node_status "$oi" | jq .answer_cache.resent)" -eq $((resent + 1)) ]
	[ -z "$(dr_learnt "$j" "$rid")" ]
	# The next get goes the ring's way and learns the owner again.
	run st_get "$j" "$u0"
	[ "$status" -eq 0 ]
	[ "$output" = v ]
	[ "$(node_counter "$j" sent_direct)" -eq $((c + 1)) ]
	[ "$(dr_learnt "$j" "$rid")" = "$owner" ]
}
