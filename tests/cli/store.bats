#!/usr/bin/env bats
# Storage end-to-end: p2p-put and p2p-get through real nodes on 127.0.0.1
# (fixtures in lib_node.bash and lib_store.bash). Every kind of a kit
# overlay is USER-MATCH: node I stores under "userI@test.p2psip".

load lib_store

setup() {
	node_setup
}

teardown() {
	node_teardown
}

# overlay N: N nodes in a converged ring.
overlay() {
	node_overlay "$1"
	node_start_all "$1"
	node_wait_ring 120
}

# ---- command line ----------------------------------------------------------

@test "p2p-put and p2p-get: --help, bad options, no node" {
	run p2p-put --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: p2p-put"* ]]
	run p2p-get --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: p2p-get"* ]]
	run p2p-put --key a --index 1 r v
	[ "$status" -eq 2 ]
	run p2p-get --index 1 --range 1-2 r
	[ "$status" -eq 2 ]
	run p2p-get --range 5 r
	[ "$status" -eq 2 ]
	run p2p-put --lifetime -1 r v
	[ "$status" -eq 2 ]
	run p2p-get
	[ "$status" -eq 2 ]
	mkdir -m 0700 "$NT_DIR/empty"
	run p2p-put --dir "$NT_DIR/empty" r v
	[ "$status" -eq 3 ]
	run p2p-get --dir "$NT_DIR/empty" r
	[ "$status" -eq 3 ]
}

# ---- the three data models on 10 nodes -------------------------------------

@test "10 nodes: single, array, dictionary put on one node, get on every other; --json, --stat, binary stdin" {
	local i out rid at resp u3 u4 u6 b64
	overlay 10
	u3=$(st_user 3) u4=$(st_user 4) u6=$(st_user 6)

	# single: the answer names the responsible peer, as route does.
	run st_put 3 --json "$u3" "single value from n3"
	[ "$status" -eq 0 ]
	out=$output
	rid=$(jq -r .resource_id <<<"$out")
	at=$(jq -r .stored_at <<<"$out")
	[[ "$rid" =~ ^[0-9a-f]{32}$ ]]
	[ "$(jq -r .kind <<<"$out")" = "$ST_SINGLE" ]
	[ "$(jq -r .replicas <<<"$out")" = 2 ]
	st_index "$at" >/dev/null
	node_alive "$(st_index "$at")"
	[ "$(st_route 3 "$u3")" = "$at" ]
	[ "$(st_route 8 "$u3")" = "$at" ]
	for i in 0 1 2 4 5 6 7 8 9; do
		run st_get "$i" "$u3"
		[ "$status" -eq 0 ]
		[ "$output" = "single value from n3" ]
	done
	run st_get 5 --json "$u3"
	[ "$status" -eq 0 ]
	out=$output
	[ "$(jq -r .resource_id <<<"$out")" = "$rid" ]
	[ "$(jq -r .kind <<<"$out")" = "$ST_SINGLE" ]
	[ "$(jq '.values | length' <<<"$out")" -eq 1 ]
	[ "$(jq -r '.values[0].value' <<<"$out")" = "single value from n3" ]
	b64=$(printf 'single value from n3' | base64 -w0)
	[ "$(jq -r '.values[0].value_b64' <<<"$out")" = "$b64" ]
	[ "$(jq -r '.values[0].storer' <<<"$out")" = "$u3" ]
	jq -e '.values[0].lifetime > 3500 and .values[0].lifetime <= 3600' \
	    <<<"$out"
	jq -e --argjson now "$(date +%s%3N)" '.values[0].storage_time |
	    . > $now - 600000 and . <= $now + 5000' <<<"$out"
	jq -e '.values[0] | has("key") or has("index") | not' <<<"$out"
	# A second put replaces the single value.
	st_put 3 "$u3" "replaced" >/dev/null
	[ "$(st_get 9 "$u3")" = replaced ]

	# array: append, index, range.
	for i in 0 1 2; do
		run st_put 4 --kind array --append --json "$u4" "a$i"
		[ "$status" -eq 0 ]
		[ "$(jq -r .kind <<<"$output")" = "$ST_ARRAY" ]
		[ "$(jq -r .stored_at <<<"$output")" = "$(st_route 4 "$u4")" ]
	done
	st_put 4 --kind array --index 10 "$u4" a10 >/dev/null
	st_put 4 --kind array --append "$u4" a11 >/dev/null
	for i in 0 1 2 3 5 6 7 8 9; do
		run st_get "$i" --kind array --json "$u4"
		[ "$status" -eq 0 ]
		[ "$(jq -c '[.values[].index]' <<<"$output")" = "[0,1,2,10,11]" ]
		[ "$(jq -c '[.values[].value]' <<<"$output")" = \
		    '["a0","a1","a2","a10","a11"]' ]
		[ "$(jq -r '[.values[].storer] | unique | .[]' <<<"$output")" = \
		    "$u4" ]
		[ "$(st_get "$i" --kind array --index 1 "$u4")" = a1 ]
	done
	run st_get 7 --kind array --range 1-2 --json "$u4"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.values[] | [.index, .value]]' <<<"$output")" = \
	    '[[1,"a1"],[2,"a2"]]' ]
	[ "$(st_get 7 --kind array --range 1-2 "$u4")" = a1a2 ]
	run st_get 7 --kind array --range 3-9 "$u4"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nothing stored"* ]]
	run st_get 7 --kind array --key x "$u4"
	[ "$status" -eq 2 ]

	# dictionary: keys, all keys.
	st_put 6 --kind dictionary --key alpha "$u6" va >/dev/null
	st_put 6 --kind dictionary --key beta "$u6" vb >/dev/null
	run st_put 6 --kind dictionary --key gamma --json "$u6" vg
	[ "$status" -eq 0 ]
	[ "$(jq -r .kind <<<"$output")" = "$ST_DICT" ]
	[ "$(jq -r .stored_at <<<"$output")" = "$(st_route 6 "$u6")" ]
	run st_put 6 --kind dictionary "$u6" nokey
	[ "$status" -eq 2 ]
	for i in 0 1 2 3 4 5 7 8 9; do
		run st_get "$i" --kind dictionary --json "$u6"
		[ "$status" -eq 0 ]
		[ "$(jq -c '[.values[] | [.key, .value]] | sort' \
		    <<<"$output")" = '[["alpha","va"],["beta","vb"],["gamma","vg"]]' ]
		[ "$(jq -r '.values[0].key_b64' <<<"$output" | base64 -d)" = \
		    "$(jq -r '.values[0].key' <<<"$output")" ]
		[ "$(st_get "$i" --kind dictionary --key beta "$u6")" = vb ]
	done
	run st_get 2 --kind dictionary --key nosuch "$u6"
	[ "$status" -eq 1 ]

	# Stat: lengths and hashes, without the values.
	printf vb >"$NT_DIR/vb"
	run st_get 1 --stat --kind dictionary --json "$u6"
	[ "$status" -eq 0 ]
	[ "$(jq '.values | length' <<<"$output")" -eq 3 ]
	jq -e '[.values[] | .length == 2 and .exists and
	    (.hash | test("^[0-9a-f]{64}$"))] | all' <<<"$output"
	jq -e '.values | all(has("value") | not)' <<<"$output"
	[ "$(jq -r '.values[] | select(.key == "beta") | .hash' \
	    <<<"$output")" = "$(st_sha_stat "$NT_DIR/vb")" ]
	run st_get 8 --stat "$u3"
	[ "$status" -eq 0 ]
	[[ "$output" == "8 bytes  sha256 "*"  lifetime "*s ]]
	run st_get 8 --stat --kind array --json "$u4"
	[ "$(jq -c '[.values[].index]' <<<"$output")" = "[0,1,2,10,11]" ]

	# Binary-safe round trip through standard input.
	head -c 3000 /dev/urandom >"$NT_DIR/bin"
	st_put 6 --kind dictionary --key bin "$u6" - <"$NT_DIR/bin" >/dev/null
	head -c 2500 /dev/urandom >"$NT_DIR/bin2k"
	st_put 3 "$u3" - <"$NT_DIR/bin2k" >/dev/null
	for i in 0 5 9; do
		st_get "$i" --kind dictionary --key bin "$u6" >"$NT_DIR/out"
		cmp "$NT_DIR/bin" "$NT_DIR/out"
		st_get "$i" "$u3" >"$NT_DIR/out"
		cmp "$NT_DIR/bin2k" "$NT_DIR/out"
	done
	run st_get 2 --json "$u3"
	jq -r '.values[0].value_b64' <<<"$output" | base64 -d >"$NT_DIR/out"
	cmp "$NT_DIR/bin2k" "$NT_DIR/out"
	# not UTF-8 (2500 random bytes all but surely are not): no text.
	[ "$(jq -r '.values[0].value' <<<"$output")" = null ]
	st_all_serving
}

@test "an empty value (no VALUE argument, or empty standard input) is stored and fetched" {
	local u1
	overlay 2
	u1=$(st_user 1)
	run st_put 1 --kind dictionary --key none "$u1"
	[ "$status" -eq 0 ]
	run st_put 1 --kind dictionary --key stdin "$u1" - </dev/null
	[ "$status" -eq 0 ]
	run st_get 0 --kind dictionary --json "$u1"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.values[] | [.key, .value, .value_b64]] | sort' \
	    <<<"$output")" = '[["none","",""],["stdin","",""]]' ]
	st_all_serving
}

# rpc SOCKET METHOD PARAMS-JSON: one JSON-RPC call over the control socket.
rpc() {
	jq -nc --arg m "$2" --argjson p "$3" \
	    '{jsonrpc: "2.0", id: 1, method: $m, params: $p}' |
	    node_ctl_raw "$1"
}

@test "control socket: put, get, stat and find for scripts" {
	local sock u0 p
	overlay 2
	sock=$(node_dir 0)/node.sock
	u0=$(st_user 0)
	p=$(jq -nc --arg r "$u0" '{resource: $r, kind: "dictionary"}')
	run rpc "$sock" put "$(jq -c '. + {key: "a", value_b64: "aGk="}' \
	    <<<"$p")"
	[ "$(jq -r .result.stored_at <<<"$output")" = "$(st_route 0 "$u0")" ]
	run rpc "$sock" get "$p"
	[ "$(jq -c '.result.values | map([.key, .value])' <<<"$output")" = \
	    '[["a","hi"]]' ]
	run rpc "$sock" stat "$p"
	[ "$(jq -r '.result.values[0].length' <<<"$output")" = 2 ]
	# Find: issue 5 asks for it beside put, get and stat.
	run rpc "$sock" find "$p"
	echo "find: $output" >&2
	[ "$(jq -r '.error.code // 0' <<<"$output")" = 0 ]
	jq -e '.result' <<<"$output"
	st_all_serving
}

# ---- refusals --------------------------------------------------------------

# refused RC PATTERN CMD...: CMD exits RC with PATTERN in its message.
refused() {
	local rc=$1 pat=$2
	shift 2
	run "$@"
	if [ "$status" -ne "$rc" ] || [[ "$output" != *"$pat"* ]]; then
		echo "$* -> exit $status, wanted $rc with '$pat': $output" >&2
		return 1
	fi
}

@test "another user's write, too large, too many, unknown kind, generation too low are refused; the nodes keep serving" {
	local u0 at errs gen
	overlay 4
	u0=$(st_user 0)
	run st_put 0 --json "$u0" mine
	[ "$status" -eq 0 ]
	at=$(st_index "$(jq -r .stored_at <<<"$output")")
	gen=$(jq -r .generation <<<"$output")
	errs=$(node_counter "$at" errors_sent)
	st_put 0 --kind array --index 0 "$u0" arr0 >/dev/null
	st_put 0 --kind dictionary --key k "$u0" dict0 >/dev/null

	# Another user writes under user0's name: Error_Forbidden, nothing
	# changes, for every data model.
	refused 1 Error_Forbidden st_put 1 "$u0" theirs
	st_serving "$at"
	refused 1 Error_Forbidden st_put 2 --kind array --index 0 "$u0" theirs
	refused 1 Error_Forbidden st_put 2 --kind array --append "$u0" theirs
	refused 1 Error_Forbidden st_put 3 --kind dictionary --key k "$u0" x
	refused 1 Error_Forbidden st_put 3 --kind dictionary --key new "$u0" x
	[ "$(st_get 3 "$u0")" = mine ]
	[ "$(st_get 1 --kind array --json "$u0" | jq -c '[.values[].value]')" = \
	    '["arr0"]' ]
	[ "$(st_get 2 --kind dictionary --json "$u0" |
	    jq -c '[.values[] | [.key, .value]]')" = '[["k","dict0"]]' ]
	st_all_serving

	# Too large: over max-size (4096) but small enough to be sent.
	head -c 4120 /dev/urandom >"$NT_DIR/big"
	refused 1 Error_Data_Too_Large st_put 0 "$u0" - <"$NT_DIR/big"
	refused 1 Error_Data_Too_Large \
	    st_put 0 --kind dictionary --key big "$u0" - <"$NT_DIR/big"
	[ "$(st_get 2 "$u0")" = mine ]
	st_serving "$at"
	# Too large to fit a message at all: refused before it is sent.
	head -c 6000 /dev/urandom >"$NT_DIR/huge"
	refused 1 "could not be sent" st_put 0 "$u0" - <"$NT_DIR/huge"
	st_serving 0

	# Too many: the array kind's max-count is 256 (indexes 0 .. 255).
	st_put 0 --kind array --index 255 "$u0" last >/dev/null
	refused 1 Error_Data_Too_Large st_put 0 --kind array --append "$u0" x
	refused 1 Error_Data_Too_Large \
	    st_put 0 --kind array --index 256 "$u0" x
	[ "$(st_get 3 --kind array --index 0 "$u0")" = arr0 ]
	[ "$(st_get 3 --kind array --index 255 "$u0")" = last ]
	run st_get 3 --kind array --index 256 "$u0"
	[ "$status" -eq 1 ]
	st_serving "$at"

	# Unknown kind: a number the overlay does not define.
	refused 1 Error_Unknown_Kind st_put 0 --kind 77 "$u0" x
	refused 1 Error_Unknown_Kind st_get 1 --kind 77 "$u0"
	# A name it does not define is the caller's mistake.
	refused 2 'no kind "nosuch"' st_put 0 --kind nosuch "$u0" x
	st_serving "$at"

	# Generation counter: only the current one is accepted.
	refused 1 Error_Generation_Counter_Too_Low \
	    st_put 0 --generation $((gen + 5)) "$u0" x
	if [ "$gen" -gt 1 ]; then
		refused 1 Error_Generation_Counter_Too_Low \
		    st_put 0 --generation $((gen - 1)) "$u0" x
	fi
	[ "$(st_get 1 "$u0")" = mine ]
	run st_put 0 --json --generation "$gen" "$u0" newer
	[ "$status" -eq 0 ]
	[ "$(jq -r .generation <<<"$output")" -gt "$gen" ]
	[ "$(st_get 1 "$u0")" = newer ]

	# The storing peer answered each refusal with an error and is fine.
	[ "$(node_counter "$at" errors_sent)" -ge $((errs + 10)) ]
	st_all_serving
	[ "$(node_live | wc -l)" -eq 4 ]
}

# get_bounded I SECONDS ARGS...: p2p-get through node I, killed after
# SECONDS; sets status, output (stderr) and $NT_DIR/got (stdout).
get_bounded() {
	local i=$1 secs=$2
	shift 2
	status=0
	timeout "$secs" p2p-get --dir "$(node_dir "$i")" "$@" \
	    >"$NT_DIR/got" 2>"$NT_DIR/err" || status=$?
	output=$(cat "$NT_DIR/err")
}

@test "a Fetch whose answer exceeds max-message-size is answered at once: the values or Error_Response_Too_Large" {
	local i x=-1 u
	overlay 4
	# A user whose resource another peer is responsible for: the answer
	# then carries two certificates (the storer's and the answerer's).
	for i in 0 1 2 3; do
		if [ "$(st_route "$i" "$(st_user "$i")")" != "${NT_NODE_ID[$i]}" ]
		then
			x=$i
			break
		fi
	done
	[ "$x" -ge 0 ] || skip "every node is responsible for its own user"
	u=$(st_user "$x")
	# 4096 bytes is the kind's max-size: the Store is accepted.
	head -c 4096 /dev/urandom >"$NT_DIR/v"
	st_put "$x" "$u" - <"$NT_DIR/v" >/dev/null
	for i in 0 1 2 3; do
		get_bounded "$i" 10 "$u"
		echo "get through n$i: exit $status: $output" >&2
		if [ "$status" -eq 0 ]; then
			cmp "$NT_DIR/v" "$NT_DIR/got"
		else
			[ "$status" -eq 1 ]
			[[ "$output" == *Error_Response_Too_Large* ]]
		fi
	done
	# A sparse array, indexes 0 and 255: a whole-array Fetch answers
	# 256 entries (254 of them nonexistent).
	st_put "$x" --kind array --index 0 "$u" first >/dev/null
	st_put "$x" --kind array --index 255 "$u" last >/dev/null
	get_bounded "$x" 10 --kind array --json "$u"
	echo "array get: exit $status: $output" >&2
	if [ "$status" -eq 0 ]; then
		[ "$(jq -c '[.values[].index]' "$NT_DIR/got")" = "[0,255]" ]
	else
		[ "$status" -eq 1 ]
		[[ "$output" == *Error_Response_Too_Large* ]]
	fi
	st_all_serving
}

# NODE-MATCH across nodes is tested in nodematch.bats, forged stored-data
# signatures in forged.bats.

# ---- lifetimes -------------------------------------------------------------

@test "expiry: a value stored with --lifetime 2 is gone after it; a refresh keeps a value" {
	local u1 i gone=0
	overlay 3
	u1=$(st_user 1)
	run st_put 1 --lifetime 2 --json "$u1" short-lived
	[ "$status" -eq 0 ]
	run st_get 2 --json "$u1"
	if [ "$status" -eq 0 ]; then
		[ "$(jq -r '.values[0].value' <<<"$output")" = short-lived ]
		jq -e '.values[0].lifetime <= 2' <<<"$output"
	fi
	# A value that is refreshed before it expires stays.
	st_put 1 --kind dictionary --key r --lifetime 3 "$u1" keep >/dev/null
	st_put 1 --kind dictionary --key r --lifetime 3600 "$u1" keep >/dev/null
	for ((i = 0; i < 10 * NT_SCALE; i++)); do
		sleep 1
		run st_get 0 "$u1"
		if [ "$status" -eq 1 ] && [[ "$output" == *"nothing stored"* ]]
		then
			gone=1
			break
		fi
		[ "$status" -eq 0 ]
	done
	[ "$gone" -eq 1 ]
	# Gone from every node's view, and the replicas do not bring it back.
	for i in 0 1 2; do
		run st_get "$i" "$u1"
		[ "$status" -eq 1 ]
	done
	sleep 4
	[ "$(st_get 2 --kind dictionary --key r "$u1")" = keep ]
	run st_get 0 "$u1"
	[ "$status" -eq 1 ]
	st_all_serving
}

# ---- durability ------------------------------------------------------------

@test "durability: 200 values, responsible peer and its successor killed at once, then 5 joins" {
	local i k u r s ri si boot moved=0 pids=() nres
	node_overlay 15
	node_start_all 10
	node_wait_ring 120
	# 20 dictionary keys under each of the 10 users, stored in parallel
	# through each user's own node.
	for i in $(seq 0 9); do
		u=$(st_user "$i")
		for k in $(seq -w 0 19); do
			echo "k$k=v$i.$k.$RANDOM$RANDOM"
		done | sort >"$NT_DIR/want$i"
		(
			while IFS== read -r k v; do
				st_put "$i" --kind dictionary --key "$k" "$u" "$v" \
				    >/dev/null || exit 1
			done <"$NT_DIR/want$i"
		) &
		pids+=("$!")
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	for i in $(seq 0 9); do
		st_wait_dict "$(( (i + 5) % 10 ))" "$(st_user "$i")" \
		    "$NT_DIR/want$i" 30
	done
	[ "$(cat "$NT_DIR"/want* | wc -l)" -eq 200 ]

	# The responsible peer of user0's resource and its first successor
	# (a replica holder) die at once.
	r=$(st_route 0 "$(st_user 0)")
	ri=$(st_index "$r")
	s=$(node_status "$ri" | jq -r '.successors[0]')
	si=$(st_index "$s")
	[ "$ri" != "$si" ]
	echo "# killing n$ri ($r) and n$si ($s)" >&3
	kill -KILL "${NT_NODE_PID[$ri]}" "${NT_NODE_PID[$si]}"
	wait "${NT_NODE_PID[$ri]}" "${NT_NODE_PID[$si]}" 2>/dev/null || true
	node_wait_ring 180
	boot=${NT_NODE_ADDR[$(st_first_live)]}
	# Every value is still there, and verifies, through every live node
	# in turn.
	for i in $(seq 0 9); do
		st_wait_dict "$(node_live | sed -n "$((i % 8 + 1))p")" \
		    "$(st_user "$i")" "$NT_DIR/want$i" 120
	done

	# 5 new nodes join.
	for i in $(seq 10 14); do
		node_start "$i" "$boot"
	done
	node_wait_ring 180
	for i in $(seq 0 9); do
		st_wait_dict "$(node_live | sed -n "$((i % 13 + 1))p")" \
		    "$(st_user "$i")" "$NT_DIR/want$i" 120
	done
	# Each resource is held by its responsible peer now: a get through
	# that peer is answered from its own store, and a new put through the
	# user's node is stored there.
	for i in $(seq 0 9); do
		u=$(st_user "$i")
		r=$(st_route "$(st_first_live)" "$u")
		ri=$(st_index "$r")
		node_alive "$ri"
		[ "$ri" -ge 10 ] && moved=$((moved + 1))
		st_wait_dict "$ri" "$u" "$NT_DIR/want$i" 60
		if node_alive "$i"; then
			run st_put "$i" --kind dictionary --key kafter --json "$u" x
			[ "$status" -eq 0 ]
			[ "$(jq -r .stored_at <<<"$output")" = "$r" ]
			echo "kafter=x" >>"$NT_DIR/want$i"
			sort -o "$NT_DIR/want$i" "$NT_DIR/want$i"
			st_wait_dict "$ri" "$u" "$NT_DIR/want$i" 30
		fi
	done
	nres=$(node_live | wc -l)
	echo "# $moved of 10 resources moved to a new node; $nres nodes live" >&3
	[ "$nres" -eq 13 ]
	st_all_serving
}
