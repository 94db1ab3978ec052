#!/usr/bin/env bats
# Client nodes (p2p-node run --client, RFC 6940 s3.2) on 127.0.0.1: a
# ring of peers plus clients that take no place in it. Fixtures in
# lib_node.bash, lib_store.bash and lib_sip.bash; node I's certificate
# carries the user "userI@test.p2psip".

load lib_store
load lib_sip

CL_PID=()	# client index -> PID
CL_ID=()	# client index -> Node-ID
CL_ADDR=()	# client index -> its listening address

setup() {
	sip_setup
	CL_PID=()
	CL_ID=()
	CL_ADDR=()
}

teardown() {
	sip_teardown
}

# peers N: node directories for N peers and the clients after them, then
# peers 0 .. N-1 in a converged ring.
peers() {
	node_overlay "$2"
	node_start_all "$1"
	node_wait_ring 120
}

# boot_args: --bootstrap for every live peer.
boot_args() {
	local i
	for i in $(node_live); do
		echo "--bootstrap ${NT_NODE_ADDR[$i]}"
	done
}

# cl_status I: the status of client I.
cl_status() {
	node_status "$1"
}

# cl_start I [extra run options...]: start node directory I as a client
# through every live peer and wait until it is connected to its
# admitting peer. Its PID and Node-ID go to CL_PID[I] and CL_ID[I], not
# to the peers' arrays (the ring checks look at peers only).
cl_start() {
	local i=$1
	shift
	# shellcheck disable=SC2046
	node_start "$i" "${NT_NODE_ADDR[$(st_first_live)]}" --client \
	    $(boot_args) "$@" || return 1
	CL_PID[$i]=${NT_NODE_PID[$i]}
	CL_ID[$i]=${NT_NODE_ID[$i]}
	CL_ADDR[$i]=${NT_NODE_ADDR[$i]}
	unset "NT_NODE_PID[$i]" "NT_NODE_ADDR[$i]" "NT_NODE_ID[$i]"
}

# cl_admitting I: the admitting peer client I reports.
cl_admitting() {
	cl_status "$1" | jq -r '.admitting_peer // empty'
}

# responsible_for ID: the peer that peer (first live) finds responsible
# for the Resource-ID ID.
responsible_for() {
	p2p-node route --json --timeout 20 --dir "$(node_dir \
	    "$(st_first_live)")" --resource-id "$1" | jq -r .responsible
}

# no_peer_routes_to ID: no live peer has ID among its successors,
# predecessors or fingers, and none says the link to it is routable.
no_peer_routes_to() {
	local i s
	for i in $(node_live); do
		s=$(node_status "$i") || return 1
		if jq -e --arg id "$1" '[.successors[], .predecessors[],
		    .fingers[].node_id] | index($id)' <<<"$s" >/dev/null; then
			echo "peer $i routes to $1: $s" >&2
			return 1
		fi
		if p2p-node peers --json --dir "$(node_dir "$i")" | jq -e \
		    --arg id "$1" 'map(select(.node_id == $id and
		    .routable)) | length > 0' >/dev/null; then
			echo "peer $i has $1 as routable" >&2
			return 1
		fi
	done
}

# cl_wait_moved I OLD [SECONDS]: wait until client I is connected to an
# admitting peer other than OLD.
cl_wait_moved() {
	local i=$1 old=$2 secs=$((${3:-90} * NT_SCALE)) s a
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		s=$(cl_status "$i" 2>/dev/null) || s=
		a=$(jq -r '.admitting_peer // empty' <<<"$s" 2>/dev/null)
		if [ -n "$a" ] && [ "$a" != "$old" ] &&
		    [ "$(jq -r .state <<<"$s")" = connected ]; then
			return 0
		fi
		sleep 0.5
	done
	echo "client $i still not moved from $old after ${secs}s: $s" >&2
	return 1
}

# retry SECONDS CMD...: run CMD until it succeeds or SECONDS pass.
retry() {
	local secs=$(($1 * NT_SCALE))
	shift
	SECONDS=0
	until "$@"; do
		[ "$SECONDS" -ge "$secs" ] && return 1
		sleep 1
	done
}

# cl_stores_nothing I: client I's own diagnostics: no value held, an
# empty routing table.
cl_stores_nothing() {
	local out
	out=$(p2p-trace --json --dir "$(node_dir "$1")" --diag "${CL_ID[$1]}")
	[ "$(jq .kinds.DATASIZE_STORED <<<"$out")" -eq 0 ] &&
	    [ "$(jq '[.kinds.INSTANCES_STORED[].count] | add // 0' \
	    <<<"$out")" -eq 0 ] &&
	    [ "$(jq .kinds.ROUTING_TABLE_SIZE <<<"$out")" -eq 0 ] ||
	    { echo "client $1 holds something: $out" >&2; return 1; }
}

# admitted_by_responsible I: client I's admitting peer is the peer
# responsible for its Node-ID.
admitted_by_responsible() {
	[ "$(responsible_for "${CL_ID[$1]}")" = "$(cl_admitting "$1")" ]
}

# got I RESOURCE VALUE: p2p-get through node I prints VALUE.
got() {
	[ "$(st_get "$1" "$2")" = "$3" ]
}

# call_done ANSWER APID FROM TO: the user of node FROM dials the user of
# node TO, whose p2p-call (run ANSWER, PID APID) waits with a.wav; the
# call is answered, carries media both ways for 2 s and ends cleanly.
call_done() {
	local answer=$1 apid=$2 from=$3 to=$4 dpid
	call_start "dial$from" "$from" dial "$(sip_aor "$to")" --duration 2 \
	    --play "$NT_DIR/b.wav" --json
	dpid=$CALL_PID
	call_wait_event "dial$from" answered 40 "$dpid"
	call_wait_event "$answer" answered 10 "$apid"
	call_wait_event "dial$from" ended 30 "$dpid"
	call_wait_event "$answer" ended 30 "$apid"
	node_wait_exit "$dpid" 20
	[ "$NT_EXIT" -eq 0 ]
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/dial$from.events")" -ge 50 ]
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/$answer.events")" -ge 50 ]
}

# cert_id I: the Node-ID in node directory I's certificate.
cert_id() {
	openssl x509 -in "$(node_dir "$1")/cert.pem" -noout \
	    -ext subjectAltName | grep -o 'reload://0110[0-9a-f]\{32\}' |
	    cut -c14-
}

# succ_of ID ID...: the first of the other ids clockwise from ID on the
# ring (the one responsible for ID among them).
succ_of() {
	local me=$1
	shift
	printf '%s\n' "$@" | sort | awk -v me="$me" '
	    NR == 1 { first = $0 }
	    $0 > me && !found { found = $0 }
	    END { print (found != "" ? found : first) }'
}

# ---- command line ----------------------------------------------------------

@test "--client without a bootstrap peer is refused at start" {
	node_overlay 1
	run p2p-node run --client --dir "$(node_dir 0)" --listen 127.0.0.1:0
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bootstrap"* ]]
}

# to_client I ARGS...: one request from peer 1's identity over a link of
# its own straight to client I (run: $status, $output).
to_client() {
	local i=$1
	shift
	run kit send --dir "$(node_dir 1)" --to "${CL_ADDR[$i]}" --timeout 20 \
	    "$@"
	echo "$output"
}

@test "a client answers Ping and refuses to store, to route for others and Join" {
	peers 3 4
	cl_start 3
	# straight to the client, over a link of peer 1's identity
	to_client 3 --msg ping
	[ "$status" -eq 0 ]
	[[ "$output" == "answer Ping"* ]]
	# a Store addressed to the client itself
	to_client 3 --msg store-forged --dest "${CL_ID[3]}"
	[[ "$output" == "error Error_Forbidden a client node neither"* ]]
	# a Store for a Resource-ID, and a Ping for a peer: not forwarded
	to_client 3 --msg store-forged
	[[ "$output" == "error Error_Forbidden a client node does not route"* ]]
	to_client 3 --msg ping --dest "${NT_NODE_ID[2]}"
	[[ "$output" == "error Error_Forbidden a client node does not route"* ]]
	to_client 3 --msg join-other
	[[ "$output" == "error Error_Forbidden a client node neither"* ]]
	# still a client of its admitting peer alone
	[ "$(cl_status 3 | jq -r .state)" = connected ]
	[ "$(cl_status 3 | jq '.successors + .predecessors | length')" -eq 0 ]
	cl_stores_nothing 3
}

# ---- a ring of 5 peers and 2 clients ---------------------------------------

@test "5 peers, 2 clients: admitted by the responsible peer, in no routing table, put/get both ways, ping and trace, nothing stored" {
	local c a out i rid u5 u6 u1 resp
	peers 5 7
	cl_start 5
	cl_start 6

	for c in 5 6; do
		out=$(cl_status "$c")
		[ "$(jq -r .role <<<"$out")" = client ]
		[ "$(jq '.successors + .predecessors + .fingers | length' \
		    <<<"$out")" -eq 0 ]
		# one link, to the admitting peer: the one responsible for
		# the client's Node-ID
		a=$(jq -r .admitting_peer <<<"$out")
		[ "$(jq .connections <<<"$out")" -eq 1 ]
		[ "$(responsible_for "${CL_ID[$c]}")" = "$a" ]
		# that peer lists it as a client of its own
		i=$(st_index "$a")
		node_status "$i" | jq -e --arg id "${CL_ID[$c]}" \
		    '.role == "peer" and (.clients | index($id))'
		no_peer_routes_to "${CL_ID[$c]}"
	done
	# route info says what the node is
	out=$(p2p-node route --json --dir "$(node_dir 5)" --resource x)
	[ "$(jq -r .role <<<"$out")" = client ]
	[ "$(jq -r .local <<<"$out")" = false ]
	[ "$(jq -r .next_hop <<<"$out")" = "$(cl_admitting 5)" ]
	[ "$(jq -r .responsible <<<"$out")" = "$(responsible_for \
	    "$(jq -r .target <<<"$out")")" ]

	# put from a client, get from a peer and from the other client
	u5=$(st_user 5) u6=$(st_user 6) u1=$(st_user 1)
	run st_put 5 "$u5" "from client 5"
	echo "$output"
	[ "$status" -eq 0 ]
	run st_get 2 "$u5"
	[ "$status" -eq 0 ]
	[ "$output" = "from client 5" ]
	run st_get 6 "$u5"
	[ "$status" -eq 0 ]
	[ "$output" = "from client 5" ]
	# put from a peer, get from a client
	run st_put 1 --kind dictionary --key k "$u1" "from peer 1"
	[ "$status" -eq 0 ]
	run st_get 6 --kind dictionary --key k "$u1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"from peer 1"* ]]
	run st_put 6 --kind array --index 0 "$u6" "from client 6"
	[ "$status" -eq 0 ]
	run st_get 3 --kind array "$u6"
	[[ "$output" == *"from client 6"* ]]
	# the value is held by the responsible peer, not by a client
	rid=$(p2p-get --json --dir "$(node_dir 2)" "$u5" | jq -r .resource_id)
	[ "$(responsible_for "$rid")" != "${CL_ID[5]}" ]

	# a client stores nothing, though values were put around it
	cl_stores_nothing 5
	cl_stores_nothing 6

	# every peer reaches a client by its Node-ID, through the admitting
	# peer's connection table
	for i in 0 1 2 3 4; do
		out=$(p2p-node ping --json --timeout 20 --dir "$(node_dir "$i")" \
		    "${CL_ID[5]}")
		[ "$(jq -r .responder <<<"$out")" = "${CL_ID[5]}" ]
	done
	# and a client the other one
	out=$(p2p-node ping --json --timeout 20 --dir "$(node_dir 5)" \
	    "${CL_ID[6]}")
	[ "$(jq -r .responder <<<"$out")" = "${CL_ID[6]}" ]

	# a trace from a client starts at its admitting peer and ends at the
	# peer responsible for the resource
	out=$(p2p-trace --json --timeout 30 --dir "$(node_dir 5)" "$u1")
	echo "$out"
	[ "$(jq -r .complete <<<"$out")" = true ]
	[ "$(jq -r '.hops[0].node_id' <<<"$out")" = "$(cl_admitting 5)" ]
	resp=$(jq -r .responsible <<<"$out")
	[ "$(responsible_for "$(jq -r .target <<<"$out")")" = "$resp" ]
	jq -e --arg a "${CL_ID[5]}" --arg b "${CL_ID[6]}" \
	    '[.hops[].node_id] | (index($a) == null and index($b) == null)' \
	    <<<"$out"
	# a trace to a client's Node-ID ends at the client
	out=$(p2p-trace --json --timeout 30 --dir "$(node_dir 2)" \
	    --node "${CL_ID[6]}")
	[ "$(jq -r .responsible <<<"$out")" = "${CL_ID[6]}" ]

	# after a few update intervals, still in nobody's routing table
	sleep $((12 * NT_SCALE))
	no_peer_routes_to "${CL_ID[5]}"
	no_peer_routes_to "${CL_ID[6]}"
	[ "$(jq .connections < <(cl_status 5))" -eq 1 ]
}

@test "SIP: a user on a client node and a user on a peer node call each other and exchange messages" {
	local apid a i
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	node_overlay 5
	sip_node_start 0 || return 1
	for i in 1 2 3; do
		sip_node_start "$i" "${NT_NODE_ADDR[0]}"
	done
	node_wait_ring 120
	cl_start 4 --sip 127.0.0.1:0
	sip_read_front 4

	# the client's user waits for a call; its registration is stored by
	# the peers, found from every peer
	sip_chirp "$NT_DIR/a.wav" 3 200-3400
	sip_chirp "$NT_DIR/b.wav" 3 3400-200
	call_start answer 4 answer --play "$NT_DIR/a.wav" --json
	apid=$CALL_PID
	for i in 0 1 2 3; do
		sip_lookup_wait "$i" "$(sip_aor 4)" 30
	done
	sip_lookup_wait 4 "$(sip_aor 4)" 30
	cl_stores_nothing 4

	run p2p-call --dir "$(node_dir 1)" message "$(sip_aor 4)" "to the client"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event answer message 20 "$apid"
	call_done answer "$apid" 1 4

	# the other way: the client's user calls the peer's
	call_start answer2 2 answer --play "$NT_DIR/a.wav" --json
	apid=$CALL_PID
	sip_lookup_wait 4 "$(sip_aor 2)" 30
	call_done answer2 "$apid" 4 2
	a=$(cl_admitting 4)
	[ -n "$a" ]
	no_peer_routes_to "${CL_ID[4]}"
}

@test "a client whose admitting peer is killed attaches to the next responsible peer and keeps working" {
	local old i out u5
	peers 5 6
	cl_start 5
	u5=$(st_user 5)
	run st_put 5 "$u5" "before"
	[ "$status" -eq 0 ]
	old=$(cl_admitting 5)
	i=$(st_index "$old")
	_nt_kill "${NT_NODE_PID[$i]}"
	node_wait_ring 120
	cl_wait_moved 5 "$old" 90
	# the new admitting peer is the one now responsible for the client
	retry 30 admitted_by_responsible 5
	no_peer_routes_to "${CL_ID[5]}"
	# and everything works through it
	retry 30 st_put 5 "$u5" "after"
	retry 30 got "$(st_first_live)" "$u5" after
	out=$(p2p-node ping --json --timeout 20 --dir "$(node_dir \
	    "$(st_first_live)")" "${CL_ID[5]}")
	[ "$(jq -r .responder <<<"$out")" = "${CL_ID[5]}" ]
}

@test "a peer joining between a client and its admitting peer takes the client over: its Update tells the client at once" {
	local ids=() i c=5 p=0 a pid boot rest=() others=() out
	node_overlay 6
	for i in 0 1 2 3 4; do
		ids[$i]=$(cert_id "$i")
	done
	CL_ID[$c]=$(cert_id "$c")
	# p: the peer responsible for the client once all five run; a: the
	# one responsible while p is away
	pid=$(succ_of "${CL_ID[$c]}" "${ids[@]}")
	for i in 0 1 2 3 4; do
		if [ "${ids[$i]}" = "$pid" ]; then
			p=$i
		else
			rest+=("$i")
			others+=("${ids[$i]}")
		fi
	done
	a=$(succ_of "${CL_ID[$c]}" "${others[@]}")
	[ "$a" != "$pid" ]
	node_start "${rest[0]}"
	boot=${NT_NODE_ADDR[${rest[0]}]}
	for i in "${rest[@]:1}"; do
		node_start "$i" "$boot"
	done
	node_wait_ring 120
	# no periodic check within the test: only an Update can move it
	cl_start "$c" --update-interval 600
	[ "$(cl_admitting "$c")" = "$a" ]

	node_start "$p" "$boot"
	node_wait_ring 120
	SECONDS=0
	until [ "$(cl_admitting "$c")" = "$pid" ]; do
		[ "$SECONDS" -lt $((30 * NT_SCALE)) ] || {
			echo "client still at $(cl_admitting "$c")" >&2
			return 1
		}
		sleep 0.5
	done
	grep -q "is no longer responsible for us" "$(node_log "$c")"
	[ "$(jq .connections < <(cl_status "$c"))" -eq 1 ]
	no_peer_routes_to "${CL_ID[$c]}"
	out=$(p2p-node ping --json --timeout 20 --dir "$(node_dir "${rest[0]}")" \
	    "${CL_ID[$c]}")
	[ "$(jq -r .responder <<<"$out")" = "${CL_ID[$c]}" ]
}
