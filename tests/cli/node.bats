#!/usr/bin/env bats
# p2p-node end-to-end: real nodes on 127.0.0.1, driven through their
# control sockets (fixtures in lib_node.bash).

load lib_node

setup() {
	node_setup
}

teardown() {
	node_teardown
}

# ---- command line ----------------------------------------------------------

@test "--help prints usage and exits 0" {
	run p2p-node --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: p2p-node run --dir NODEDIR"* ]]
	[[ "$output" == *"status|peers|stop"* ]]
	[[ "$output" == *"ping|probe|route"* ]]
	run p2p-node run --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage:"* ]]
}

@test "an unknown command or option exits 2" {
	run p2p-node frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown command 'frobnicate'"* ]]
	run p2p-node
	[ "$status" -eq 2 ]
	run p2p-node status --no-such-option
	[ "$status" -eq 2 ]
	run p2p-node run
	[ "$status" -eq 2 ]
	run p2p-node ping --dir "$NT_DIR" not-an-id
	[ "$status" -eq 2 ]
}

@test "status with no node running exits 3" {
	mkdir -m 0700 "$NT_DIR/empty"
	run p2p-node status --dir "$NT_DIR/empty"
	[ "$status" -eq 3 ]
	[[ "$output" == *"cannot connect"* ]]
	run p2p-node status --socket "$NT_DIR/empty/none.sock"
	[ "$status" -eq 3 ]
	P2PSIP_SOCKET=$NT_DIR/empty/none.sock run p2p-node peers
	[ "$status" -eq 3 ]
	[[ "$output" == *"$NT_DIR/empty/none.sock"* ]]
}

@test "p2p-node run refuses a node directory owned by root" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	node_overlay 1
	chown -R root: "$(node_dir 0)"
	run timeout 30 p2p-node run --dir "$(node_dir 0)" --listen 127.0.0.1:0
	[ "$status" -eq 1 ]
	[[ "$output" == *"refusing to run as root"* ]]
}

# ---- ring convergence ----------------------------------------------------

@test "1 node: a ring of its own" {
	node_overlay 1
	node_start_all 1
	node_wait_ring 30
	run node_status 0
	[ "$(jq -r .state <<<"$output")" = alone ]
	[ "$(jq -r .listen <<<"$output")" = "${NT_NODE_ADDR[0]}" ]
	node_ping_all 0
	# no --sip: no front to show
	run p2p-node sip --dir "$(node_dir 0)"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no SIP front"* ]]
}

@test "2 nodes: the ring converges" {
	node_overlay 2
	node_start_all 2
	node_wait_ring 60
	node_ping_all 0 1
}

@test "5 nodes: the ring converges" {
	node_overlay 5
	node_start_all 5
	node_wait_ring 90
	node_ping_all 0 4
}

@test "ICE overlay: a newcomer is in the ring once linked to the neighbors its admitting peer named, and knows its range" {
	local dead i s want
	local -a ids
	# A STUN server that never answers: each Attach a node makes before
	# it has found the server silent (3.75 s after its start) gathers
	# for seconds. A newcomer that sent its Join at once would be
	# "joined" while it knew its admitting peer alone, taking most of
	# the ring for its own.
	dead=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
	node_overlay 5 --ice --stun "127.0.0.1:$dead"
	node_start 0
	for i in 1 2 3; do
		node_start "$i" "${NT_NODE_ADDR[0]}"
	done
	node_wait_ring 120
	node_start 4 "${NT_NODE_ADDR[0]}"
	s=$(node_status 4)
	mapfile -t ids < <(printf '%s\n' "${NT_NODE_ID[@]}" | LC_ALL=C sort)
	for ((i = 0; i < 5; i++)); do
		[ "${ids[$i]}" = "${NT_NODE_ID[4]}" ] && want=${ids[$(((i + 4) % 5))]}
	done
	jq -c '{state, predecessors, successors}' <<<"$s"
	[ "$(jq -r '.predecessors[0] // ""' <<<"$s")" = "$want" ]
	grep -q "Join waits for" "$(node_log 4)"
	node_wait_ring 120
	node_ping_all 4
}

# udp_port: a UDP port on 127.0.0.1 that was free a moment ago.
udp_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

@test "ICE overlay whose first STUN and first TURN server are silent: the node finds which answer (coturn) and its agents use those" {
	local dead dead2 live i s st
	command -v turnserver >/dev/null ||
	    skip "coturn's turnserver is not installed"
	dead=$(udp_port)
	dead2=$(udp_port)
	live=$(udp_port)
	cat >"$NT_DIR/turn.conf" <<CONF
listening-ip=127.0.0.1
relay-ip=127.0.0.1
listening-port=$live
min-port=$((live + 1))
max-port=$((live + 1))
lt-cred-mech
user=u:p
realm=test
no-tls
no-dtls
no-cli
no-tcp-relay
pidfile=$NT_DIR/turn.pid
userdb=$NT_DIR/turn.db
log-file=stdout
simple-log
CONF
	turnserver -c "$NT_DIR/turn.conf" >"$NT_DIR/turn.log" 2>&1 &
	NT_PIDS+=("$!")
	node_overlay 2 --ice --stun "127.0.0.1:$dead" --stun "127.0.0.1:$live" \
	    --turn "127.0.0.1:$dead2" --turn "127.0.0.1:$live" \
	    --turn-credentials u:p
	node_start 0 "" --sip 127.0.0.1:0
	for ((i = 0; i < 100; i++)); do
		s=$(node_status 0)
		st=$(jq -r '[.ice_servers[] | .kind + " " + .state] |
		    join(", ")' <<<"$s")
		[ "$st" = "stun silent, stun answering, turn silent, turn answering" ] &&
		    break
		sleep 0.2
	done
	jq -c '.ice_servers[]' <<<"$s"
	[ "$st" = "stun silent, stun answering, turn silent, turn answering" ]
	[ "$(jq -c '[.ice_servers[] | .in_use]' <<<"$s")" = \
	    "[false,true,false,true]" ]
	[ "$(jq -c '[.ice_servers[] | .port]' <<<"$s")" = \
	    "[$dead,$live,$dead2,$live]" ]
	[[ "$(jq -r '.ice_servers[1].mapped' <<<"$s")" == 127.0.0.1:* ]]
	grep -q "STUN server 127.0.0.1:$dead does not answer" "$(node_log 0)"
	grep -q "TURN server 127.0.0.1:$dead2 does not answer" "$(node_log 0)"
	# what p2p-call's media agents are told to use
	p2p-node sip --json --dir "$(node_dir 0)" |
	    jq -e ".media_ice.stun.port == $live and
		([.media_ice.turn[].port] == [$live])"
	p2p-node status --dir "$(node_dir 0)" |
	    grep -q "^turn  *127.0.0.1:$dead2 silent$"
	node_start 1 "${NT_NODE_ADDR[0]}"
	node_wait_ring 60
	node_ping_all 0 1
}

@test "25 nodes: the ring converges" {
	node_overlay 25
	node_start_all 25
	node_wait_ring 180
	[ "$(node_status 12 | jq '.connections')" -ge 2 ]
}

@test "25 nodes, 3 killed with SIGKILL: the ring repairs and pings reach every live node" {
	local sorted victims=() i k from=()
	node_overlay 25
	node_start_all 25
	node_wait_ring 180
	# Two nodes next to each other on the ring and one elsewhere.
	mapfile -t sorted < <(for i in "${!NT_NODE_ID[@]}"; do
		echo "${NT_NODE_ID[$i]} $i"
	done | sort | cut -d' ' -f2)
	victims=("${sorted[5]}" "${sorted[6]}" "${sorted[17]}")
	for k in "${victims[@]}"; do
		node_alive "$k"
		kill -KILL "${NT_NODE_PID[$k]}"
		wait "${NT_NODE_PID[$k]}" 2>/dev/null || true
	done
	for k in "${victims[@]}"; do
		if node_alive "$k"; then false; fi
	done
	[ "$(node_live | wc -l)" -eq 22 ]
	node_wait_ring 180
	# Ping every live node from a few of them, among them the old
	# neighbors of the dead ones.
	from=("${sorted[4]}" "${sorted[7]}" "${sorted[16]}" "${sorted[24]}")
	node_ping_all "${from[@]}"
}

# ---- admission and signatures --------------------------------------------

@test "certificates from another CA, expired or revoked are refused" {
	local before after b
	node_overlay 2 --bad other-ca --bad expired --bad revoked
	node_start_all 1
	# The harness itself: a good identity gets an answer.
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg ping --timeout 20
	[ "$status" -eq 0 ]
	[ "$output" = "answer PingAns" ]
	for b in other-ca expired revoked; do
		before=$(node_counter 0 links_refused)
		run kit send --dir "$NT_DIR/o/$b" --to "${NT_NODE_ADDR[0]}" \
		    --msg ping --timeout 20
		echo "$b: $output"
		[ "$status" -eq 1 ]
		[[ "$output" == closed* ]]
		after=$(node_counter 0 links_refused)
		[ "$after" -gt "$before" ]
	done
	grep -q 'refused (untrusted)' "$(node_log 0)"
	grep -q 'refused (expired)' "$(node_log 0)"
	grep -q 'refused (revoked)' "$(node_log 0)"
	[ "$(node_status 0 | jq -r .state)" = alone ]
	[ "$(node_status 0 | jq '.successors | length')" -eq 0 ]
}

@test "a Join naming another Node-ID than the signer's gets Error_Forbidden" {
	node_overlay 2
	node_start_all 1
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg join-other --timeout 20
	[ "$status" -eq 0 ]
	[[ "$output" == "error Error_Forbidden"* ]]
	[ "$(node_status 0 | jq '.successors | length')" -eq 0 ]
}

@test "a request with a corrupted signature gets no answer and is counted" {
	local before
	node_overlay 2
	node_start_all 1
	before=$(node_counter 0 bad_signature)
	run kit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg ping --corrupt-signature --timeout 5
	[ "$status" -eq 1 ]
	[ "$output" = timeout ]
	node_wait_counter 0 bad_signature $((before + 1)) 10
	grep -q 'dropped: bad signature' "$(node_log 0)"
}

# ---- hostile traffic on the listening port --------------------------------

# node_still_fine N: every node of N alive, answering, the ring intact and
# pings going through.
node_still_fine() {
	local i
	for ((i = 0; i < $1; i++)); do
		node_alive "$i" || { echo "node $i died" >&2; return 1; }
	done
	node_wait_ring 60
	node_ping_all 0 "$(($1 - 1))"
}

@test "garbage bytes do not crash or wedge the node" {
	local port k
	node_overlay 3
	node_start_all 3
	node_wait_ring 60
	port=$(node_port 1)
	for k in 1 2 3 4 5; do
		head -c 4096 /dev/urandom 2>/dev/null |
		    timeout 10 bash -c "cat >/dev/tcp/127.0.0.1/$port" \
		    2>/dev/null || true
	done
	# A TLS record header announcing a huge handshake, then junk.
	printf '\026\003\003\377\377%s' "$(head -c 512 /dev/zero |
	    tr '\0' 'x')" | timeout 10 bash -c \
	    "cat >/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
	node_still_fine 3
}

@test "a plain-TCP client is dropped" {
	node_overlay 1
	node_start_all 1
	run nt_tcp_client "$(node_port 0)" plain 40
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == dropped* ]]
	node_still_fine 1
}

@test "a half-open TLS handshake does not wedge the node and is dropped" {
	local pid
	node_overlay 3
	node_start_all 3
	node_wait_ring 60
	nt_tcp_client "$(node_port 1)" half 60 >"$NT_DIR/half.out" 2>&1 &
	pid=$!
	NT_PIDS+=("$pid")
	# While the handshake hangs, the node still serves.
	sleep 1
	node_status 1 >/dev/null
	node_ping_all 0 1
	node_wait_exit "$pid" 60
	cat "$NT_DIR/half.out"
	[ "$NT_EXIT" -eq 0 ]
	grep -q '^dropped' "$NT_DIR/half.out"
	node_still_fine 3
}

@test "a flood of 300 connections does not crash or wedge the node" {
	local pid
	node_overlay 3
	node_start_all 3
	node_wait_ring 60
	nt_tcp_flood "$(node_port 1)" 300 8 >"$NT_DIR/flood.out" 2>&1 &
	pid=$!
	NT_PIDS+=("$pid")
	# Answers while the connections are held open.
	sleep 2
	run node_status 1
	[ "$status" -eq 0 ]
	node_wait_exit "$pid" 60
	cat "$NT_DIR/flood.out"
	[ "$NT_EXIT" -eq 0 ]
	grep -q '^connected [0-9]* of 300' "$NT_DIR/flood.out"
	node_still_fine 3
}

# ---- control socket ------------------------------------------------------

@test "control socket: bad JSON, unknown method, bad params, oversized line" {
	local sock
	node_overlay 1
	node_start_all 1
	sock=$(node_dir 0)/node.sock
	[ -S "$sock" ]
	[ "$(stat -c %a "$sock")" = 600 ]
	run node_ctl_raw "$sock" <<<'{"jsonrpc":"2.0","method":'
	[ "$(jq .error.code <<<"$output")" -eq -32700 ]
	run node_ctl_raw "$sock" <<<'not json at all'
	[ "$(jq .error.code <<<"$output")" -eq -32700 ]
	run node_ctl_raw "$sock" <<<'{"jsonrpc":"2.0","method":"nosuch","id":4}'
	[ "$(jq .error.code <<<"$output")" -eq -32601 ]
	[ "$(jq .id <<<"$output")" -eq 4 ]
	run node_ctl_raw "$sock" <<<'{"jsonrpc":"2.0","method":"ping","params":{"node_id":5},"id":5}'
	[ "$(jq .error.code <<<"$output")" -eq -32602 ]
	run node_ctl_raw "$sock" <<<'[{"jsonrpc":"2.0","method":"status","id":6}]'
	[ "$(jq .error.code <<<"$output")" -eq -32600 ]
	python3 -c 'import sys
sys.stdout.write("{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":7,"
    "\"pad\":\"" + "a" * ((1 << 20) + 100) + "\"}\n")' >"$NT_DIR/big.json"
	run node_ctl_raw "$sock" <"$NT_DIR/big.json"
	[ "$(jq .error.code <<<"$output")" -eq -32600 ]
	# Still up and serving.
	node_alive 0
	run node_status 0
	[ "$status" -eq 0 ]
	[ "$(jq -r .node_id <<<"$output")" = "${NT_NODE_ID[0]}" ]
	node_ping_all 0
}

@test "control socket: a client of another uid is refused" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as another user"
	command -v setpriv >/dev/null || skip "needs setpriv"
	node_overlay 1
	node_start_all 1
	# The socket's directory keeps other users out.
	run setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    p2p-node status --dir "$(node_dir 0)"
	[ "$status" -eq 3 ]
	# One that gets through the file permissions (CAP_DAC_OVERRIDE) is
	# refused by the node itself after checking its uid.
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    --inh-caps=+dac_override --ambient-caps=+dac_override true ||
	    skip "setpriv cannot keep CAP_DAC_OVERRIDE here"
	run setpriv --reuid=nobody --regid=nogroup --clear-groups \
	    --inh-caps=+dac_override --ambient-caps=+dac_override \
	    p2p-node status --dir "$(node_dir 0)"
	[ "$status" -eq 3 ]
	[[ "$output" == *"permission denied"* ]]
	grep -q "refused a client running as uid $(id -u nobody)" \
	    "$(node_log 0)"
	# Root still may.
	node_status 0 >/dev/null
	node_alive 0
}

# ---- leaving ---------------------------------------------------------------

@test "p2p-node stop: the node leaves, its neighbors drop it at once, it exits 0" {
	local sorted k id short i pid gone
	node_overlay 5
	node_start_all 5
	node_wait_ring 90
	mapfile -t sorted < <(for i in "${!NT_NODE_ID[@]}"; do
		echo "${NT_NODE_ID[$i]} $i"
	done | sort | cut -d' ' -f2)
	k=${sorted[2]}
	id=${NT_NODE_ID[$k]}
	short=${id:0:8}
	pid=${NT_NODE_PID[$k]}
	run p2p-node stop --dir "$(node_dir "$k")"
	[ "$status" -eq 0 ]
	# The neighbors learn it from the Leave (logged as "<id> left"), not
	# from a failure timeout.
	SECONDS=0
	while :; do
		gone=1
		for i in $(node_live); do
			[ "$i" = "$k" ] && continue
			node_status "$i" | jq -e --arg id "$id" \
			    '(.successors + .predecessors) | index($id)' \
			    >/dev/null && gone=0
		done
		[ "$gone" -eq 1 ] && break
		[ "$SECONDS" -lt $((10 * NT_SCALE)) ]
		sleep 0.2
	done
	grep -q "info: $short left" "$(node_log "${sorted[1]}")"
	grep -q "info: $short left" "$(node_log "${sorted[3]}")"
	node_wait_exit "$pid" 20
	echo "exit status $NT_EXIT"
	tail -n 5 "$(node_log "$k")"
	[ "$NT_EXIT" -eq 0 ]
	node_wait_ring 60
}
