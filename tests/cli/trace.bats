#!/usr/bin/env bats
# p2p-trace end-to-end: PathTrack and Diagnostic_Ping on a ring of 25
# nodes on 127.0.0.1 (fixtures in lib_trace.bash). The ring is built once
# for the file; the test that kills a node comes last.

load lib_trace

N=25

setup_file() {
	tr_ring_up "$N" || { tr_dump_logs; tr_ring_down; return 1; }
	# Let the Updates of the last joins settle.
	tr_agreed settle 60 0 7 13 19 24 >/dev/null
}

teardown_file() {
	tr_ring_down
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${TR_DIR:-}" ]; then
		tr_dump_logs
	fi
}

# ---- command line ----------------------------------------------------------

@test "p2p-trace --help and usage errors" {
	run p2p-trace --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: p2p-trace"* ]]
	[[ "$output" == *"--diag NODE-ID"* ]]
	run p2p-trace
	[ "$status" -eq 2 ]
	run p2p-trace --node nothex
	[ "$status" -eq 2 ]
	run p2p-trace --max-hops 0 alice
	[ "$status" -eq 2 ]
	run p2p-trace --timeout soon alice
	[ "$status" -eq 2 ]
	run p2p-trace alice bob
	[ "$status" -eq 2 ]
	run p2p-trace --diag 00 --dir "$(tr_dir 0)"
	[ "$status" -eq 2 ]
	run p2p-trace --kind APP_UPTIME alice
	[ "$status" -eq 2 ]
}

@test "p2p-trace without a node exits 3" {
	mkdir -m 0700 "$TR_DIR/empty"
	run p2p-trace --dir "$TR_DIR/empty" alice
	[ "$status" -eq 3 ]
	run p2p-trace --socket "$TR_DIR/empty/none.sock" --diag \
	    "$(tr_id 0)"
	[ "$status" -eq 3 ]
}

# ---- traces ---------------------------------------------------------------

# check_trace ORIGIN NAME: trace NAME from node ORIGIN and check it
# against the ring.
check_trace() {
	local origin=$1 name=$2 out want resp nhops max prev hop id i
	out=$(p2p-trace --json --timeout 30 --dir "$(tr_dir "$origin")" \
	    "$name") || { echo "trace $name from $origin failed: $out" >&2
		      return 1; }
	jq -e "$TR_JSON_SHAPE" <<<"$out" >/dev/null ||
	    { echo "bad shape: $out" >&2; return 1; }
	resp=$(jq -r .responsible <<<"$out")
	# The peer the other nodes find responsible (Ping routed there).
	want=$(tr_agreed "$name" 30 0 5 11 17 23) || return 1
	if [ "$resp" != "$want" ]; then
		echo "trace of $name from $origin ends at $resp;" \
		    "the ring says $want: $out" >&2
		return 1
	fi
	[ "$(jq -r .target <<<"$out")" = "$(p2p-node route --json \
	    --dir "$(tr_dir 0)" --resource "$name" | jq -r .target)" ]
	[ "$(jq -r .target_type <<<"$out")" = resource ]
	nhops=$(jq '.hops | length' <<<"$out")
	max=$(($(tr_ceil_log2 "$N") + 1))
	if [ "$nhops" -gt "$max" ]; then
		echo "$nhops hops > $max: $out" >&2
		return 1
	fi
	# Each hop is in the routing table of the one before it (the origin
	# for hop 1) and every hop answered.
	prev=$origin
	for ((hop = 0; hop < nhops; hop++)); do
		id=$(jq -r ".hops[$hop].node_id" <<<"$out")
		[ "$(jq -r ".hops[$hop].status" <<<"$out")" = ok ] || return 1
		if ! tr_routes "$prev" | grep -qx "$id"; then
			echo "hop $((hop + 1)) $id is not in the routing" \
			    "table of node $prev: $out" >&2
			return 1
		fi
		i=$(tr_index "$id")
		[ -n "$i" ] || { echo "hop $id is no node of ours" >&2
				 return 1; }
		prev=$i
	done
	# The last hop named itself; it is the responsible peer.
	if [ "$nhops" -gt 0 ]; then
		[ "$(jq -r '.hops[-1].next_hop' <<<"$out")" = "$resp" ]
		[ "$(jq -r '.hops[-1].node_id' <<<"$out")" = "$resp" ]
	else
		[ "$resp" = "$(tr_id "$origin")" ]
	fi
}

@test "25 nodes: traces end at the agreed responsible peer through routing tables in at most ceil(log2 N)+1 hops" {
	local name origin
	for name in alice bob carol sip:dave@example.com erin; do
		for origin in 1 9 20; do
			check_trace "$origin" "$name"
		done
	done
}

@test "a trace from the responsible node itself has no hops" {
	local resp i out
	resp=$(tr_agreed alice 30 0 5)
	i=$(tr_index "$resp")
	run p2p-trace --json --dir "$(tr_dir "$i")" alice
	[ "$status" -eq 0 ]
	[ "$(jq '.hops | length' <<<"$output")" -eq 0 ]
	[ "$(jq -r .responsible <<<"$output")" = "$resp" ]
	run p2p-trace --dir "$(tr_dir "$i")" alice
	[ "$status" -eq 0 ]
	[[ "$output" == *"responsible: $resp (this node)"* ]]
}

@test "traces to a Node-ID and to a Resource-ID end at that node and its owner" {
	local target out rid
	target=$(tr_id 12)
	run p2p-trace --json --dir "$(tr_dir 3)" --node "$target"
	[ "$status" -eq 0 ]
	jq -e "$TR_JSON_SHAPE" <<<"$output" >/dev/null
	[ "$(jq -r .responsible <<<"$output")" = "$target" ]
	[ "$(jq -r .target_type <<<"$output")" = node ]
	[ "$(jq -r .target <<<"$output")" = "$target" ]
	# The Resource-ID of "alice" gives the same trace as the name.
	rid=$(p2p-trace --json --dir "$(tr_dir 3)" alice | jq -r .target)
	run p2p-trace --json --dir "$(tr_dir 3)" --resource-id "$rid"
	[ "$status" -eq 0 ]
	[ "$(jq -r .target <<<"$output")" = "$rid" ]
	[ "$(jq -r .responsible <<<"$output")" = "$(tr_agreed alice 30 0)" ]
}

@test "the text output prints one line a hop and names the responsible peer" {
	local out resp n
	out=$(p2p-trace --dir "$(tr_dir 4)" bob)
	resp=$(tr_agreed bob 30 0 9)
	[[ "$(head -n 1 <<<"$out")" == "trace from $(tr_id 4) to "* ]]
	[ "$(tail -n 1 <<<"$out" | cut -d' ' -f1-2)" = "responsible: $resp" ]
	n=$(p2p-trace --json --dir "$(tr_dir 4)" bob | jq '.hops | length')
	[ "$(grep -cE '^ ?[0-9]+  [0-9a-f]{32}  ' <<<"$out")" -eq "$n" ]
	if [ "$n" -gt 0 ]; then
		grep -E "^ ?$n  $resp  .* ms  responsible$" <<<"$out"
	fi
}

@test "--max-hops stops a long trace with exit 1" {
	local name out n
	# A name whose trace from node 2 takes at least two hops.
	for name in m1 m2 m3 m4 m5 m6 m7 m8 m9 m10 m11 m12; do
		n=$(p2p-trace --json --dir "$(tr_dir 2)" "$name" |
		    jq '.hops | length')
		[ "$n" -ge 2 ] && break
	done
	[ "$n" -ge 2 ]
	run p2p-trace --json --max-hops 1 --dir "$(tr_dir 2)" "$name"
	[ "$status" -eq 1 ]
	jq -e "$TR_JSON_SHAPE" <<<"$output" >/dev/null
	[ "$(jq '.hops | length' <<<"$output")" -eq 1 ]
	[ "$(jq -r .complete <<<"$output")" = false ]
	[[ "$(jq -r .error <<<"$output")" == *"maximum number of hops"* ]]
}

# ---- diagnostics ---------------------------------------------------------

@test "diag: a peer gives its public kinds, the node itself every kind" {
	local out
	run p2p-trace --json --dir "$(tr_dir 6)" --diag "$(tr_id 14)"
	[ "$status" -eq 0 ]
	[ "$(jq -r .node_id <<<"$output")" = "$(tr_id 14)" ]
	[ "$(jq -r '.kinds | keys | sort | join(",")' <<<"$output")" = \
	    "APP_UPTIME,ROUTING_TABLE_SIZE,STATUS_INFO" ]
	[ "$(jq '.kinds.ROUTING_TABLE_SIZE' <<<"$output")" -gt 0 ]
	[ "$(jq '.kinds.ROUTING_TABLE_SIZE' <<<"$output")" -lt "$N" ]
	[ "$(jq '.kinds.STATUS_INFO.congestion' <<<"$output")" -le 15 ]

	run p2p-trace --json --dir "$(tr_dir 6)" --diag "$(tr_id 6)"
	[ "$status" -eq 0 ]
	out=$output
	for k in STATUS_INFO ROUTING_TABLE_SIZE SOFTWARE_VERSION \
	    MACHINE_UPTIME APP_UPTIME MEMORY_FOOTPRINT DATASIZE_STORED \
	    INSTANCES_STORED MESSAGES_SENT_RCVD EWMA_BYTES_SENT \
	    EWMA_BYTES_RCVD; do
		jq -e ".kinds | has(\"$k\")" <<<"$out" >/dev/null ||
		    { echo "no $k: $out" >&2; return 1; }
	done
	# Never faked: no bandwidth figures, no battery.
	jq -e '.kinds | has("UPSTREAM_BANDWIDTH") | not' <<<"$out"
	jq -e '.kinds | has("BATTERY_STATUS") | not' <<<"$out"
	[[ "$(jq -r .kinds.SOFTWARE_VERSION <<<"$out")" == p2psip/* ]]
	[ "$(jq .kinds.MEMORY_FOOTPRINT <<<"$out")" -gt 1000 ]
	[ "$(jq .kinds.DATASIZE_STORED <<<"$out")" -ge 0 ]
	jq -e '.kinds.INSTANCES_STORED | type == "array"' <<<"$out"
	# The node has exchanged Updates: they are counted both ways.
	jq -e '[.kinds.MESSAGES_SENT_RCVD[] | select(.name == "UpdateReq")
	    | .sent > 0 and .rcvd > 0] | any' <<<"$out"
	# The machine's uptime is the kernel's.
	up=$(cut -d. -f1 /proc/uptime)
	[ "$(jq .kinds.MACHINE_UPTIME <<<"$out")" -le "$up" ]
	[ "$(jq .kinds.MACHINE_UPTIME <<<"$out")" -ge $((up - 60)) ]

	run p2p-trace --dir "$(tr_dir 6)" --diag "$(tr_id 6)"
	[ "$status" -eq 0 ]
	[[ "$output" == *"MEMORY_FOOTPRINT"*KiB* ]]
}

@test "diag: asking another peer only for sensitive kinds gets Error_Forbidden" {
	run p2p-trace --dir "$(tr_dir 6)" --diag "$(tr_id 15)" \
	    --kind SOFTWARE_VERSION --kind MEMORY_FOOTPRINT
	[ "$status" -eq 1 ]
	[[ "$output" == *"Error_Forbidden"* ]]
	# Mixed with a public kind: the public one is given, the rest left out.
	run p2p-trace --json --dir "$(tr_dir 6)" --diag "$(tr_id 15)" \
	    --kind software_version --kind app_uptime
	[ "$status" -eq 0 ]
	[ "$(jq -r '.kinds | keys | join(",")' <<<"$output")" = APP_UPTIME ]
	# An unknown kind name is a usage error.
	run p2p-trace --dir "$(tr_dir 6)" --diag "$(tr_id 15)" --kind NOPE
	[ "$status" -eq 2 ]
}

@test "diag: the peer that stores a value counts it; the trace to its Resource-ID ends there" {
	local out at rid i
	# USER-MATCH: node 1 (user1) may store under its own user name.
	out=$(p2p-put --json --dir "$(tr_dir 1)" user1@test.p2psip hello)
	at=$(jq -r .stored_at <<<"$out")
	rid=$(jq -r .resource_id <<<"$out")
	i=$(tr_index "$at")
	[ -n "$i" ]
	run p2p-trace --json --dir "$(tr_dir "$i")" --diag "$at" \
	    --kind DATASIZE_STORED --kind INSTANCES_STORED
	[ "$status" -eq 0 ]
	[ "$(jq .kinds.DATASIZE_STORED <<<"$output")" -gt 5 ]
	jq -e '[.kinds.INSTANCES_STORED[] | select(.count >= 1)] | length
	    >= 1' <<<"$output"
	run p2p-trace --json --dir "$(tr_dir 1)" --resource-id "$rid"
	[ "$status" -eq 0 ]
	[ "$(jq -r .responsible <<<"$output")" = "$at" ]
}

# ---- failure -------------------------------------------------------------

@test "a silent responsible peer shows as * and the trace ends at the new responsible peer once the ring repairs" {
	local name resp ri o1 o2 o3 out pid tp1 tp2 tp3 want
	# A resource owned by a node other than the bootstrap node, traced
	# from two nodes other than its owner.
	for name in f1 f2 f3 f4 f5 f6 f7 f8 f9 f10; do
		resp=$(tr_agreed "$name" 30 0 8)
		ri=$(tr_index "$resp")
		[ "$ri" != 0 ] && break
	done
	[ "$ri" != 0 ]
	o1=3 o2=16
	[ "$ri" = 3 ] && o1=21
	[ "$ri" = 16 ] && o2=22
	pid=$(tr_pid "$ri")
	# Its predecessor's own first hop is the silent peer itself.
	o3=$(tr_index "$(tr_status "$ri" | jq -r '.predecessors[0]')")
	[ -n "$o3" ]
	# Freeze it: its connections stay open, it answers nothing.
	kill -STOP "$pid"
	p2p-trace --json --hop-timeout 2 --timeout 60 --dir "$(tr_dir "$o3")" \
	    "$name" >"$TR_DIR/kill3.json" 2>"$TR_DIR/kill3.err" 3>&- &
	tp3=$!
	p2p-trace --json --hop-timeout 2 --timeout 60 --dir "$(tr_dir "$o1")" \
	    "$name" >"$TR_DIR/kill.json" 2>"$TR_DIR/kill.err" 3>&- &
	tp1=$!
	p2p-trace --hop-timeout 2 --timeout 60 --dir "$(tr_dir "$o2")" \
	    "$name" >"$TR_DIR/kill.txt" 2>&1 3>&- &
	tp2=$!
	# Once the traces have given up on it, kill it: the kernel closes
	# its connections, its neighbors drop it and the ring repairs.
	sleep 5
	kill -KILL "$pid"
	wait "$tp1" || { cat "$TR_DIR/kill.err" "$TR_DIR/kill.json" >&2
			 return 1; }
	wait "$tp2" || { cat "$TR_DIR/kill.txt" >&2; return 1; }
	wait "$tp3" || { cat "$TR_DIR/kill3.err" "$TR_DIR/kill3.json" >&2
			 return 1; }
	want=$(tr_agreed "$name" 60 0 8 13)
	[ "$want" != "$resp" ]
	for out in "$(cat "$TR_DIR/kill.json")" "$(cat "$TR_DIR/kill3.json")"
	do
		jq -e "$TR_JSON_SHAPE" <<<"$out" >/dev/null
		# The silent hop is reported, without a round-trip time.
		jq -e --arg r "$resp" '[.hops[] | select(.node_id == $r and
		    .rtt_ms == null and .status == "timeout")] | length == 1' \
		    <<<"$out"
		# And the trace ends at the peer the live nodes now agree on.
		[ "$(jq -r .responsible <<<"$out")" = "$want" ]
		[ "$(jq -r '.hops[-1].node_id' <<<"$out")" = "$want" ]
	done
	# From the predecessor, the silent peer was the first hop.
	[ "$(jq -r '.hops[0].node_id' "$TR_DIR/kill3.json")" = "$resp" ]
	# The text form shows the silent hop as "*", then the new owner.
	out=$(cat "$TR_DIR/kill.txt")
	grep -E "^ ?[0-9]+  $resp  .* \*  \(no answer\)$" <<<"$out"
	[ "$(tail -n 1 <<<"$out" | cut -d' ' -f1-2)" = "responsible: $want" ]
}
