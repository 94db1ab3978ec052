#!/usr/bin/env bats
# Configuration updates (RFC 6940 s6.5.4, s11.2): a new sequence the CA
# publishes reaches every node of a running overlay, by the configuration
# refresh and by ConfigUpdate from node to node; forged, tampered and
# older documents are refused everywhere; a restarted node keeps the
# update.

load helpers

# p2p-testkit (the sanitizer build's fixtures) sends raw ConfigUpdates.
_cu_root=$(cd "$(dirname "$BATS_TEST_FILENAME")/../.." && pwd)
[ -d "$_cu_root/build/san/kit" ] && PATH="$_cu_root/build/san/kit:$PATH"
unset _cu_root

NODES=10
REFRESH=8	# --config-refresh of the nodes, seconds
SCALE=${NT_SCALE:-1}

setup() {
	p2p_setup
	p2p_node_user
	PORTS=()
	NODE_PID=()
}

teardown() {
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "${P2P_TMP:-}" ]; then
		p2p_teardown
		return
	fi
	for f in "$P2P_TMP"/*.log; do
		[ -f "$f" ] || continue
		echo "=== $f" >&3
		tail -n 15 "$f" >&3
	done
	p2p_teardown
}

# start_node I [extra p2p-node options]: start node I, joining through
# node 0.
start_node() {
	local i=$1 args
	shift
	args=(run --dir "$P2P_TMP/n$i" --listen "127.0.0.1:${PORTS[$i]}"
	    --config-refresh "$REFRESH" --log-level info "$@")
	[ "$i" -gt 0 ] && args+=(--bootstrap "127.0.0.1:${PORTS[0]}")
	[ "$(id -u)" -eq 0 ] && chown -R p2psip-test: "$P2P_TMP/n$i"
	p2p_spawn "$P2P_TMP/n$i.log" p2p-node "${args[@]}"
	NODE_PID[$i]=$P2P_LAST_PID
}

state() {
	p2p-node status --dir "$P2P_TMP/n$1" --json 2>/dev/null |
	    jq -r .state || echo down
}

seq_of() {
	p2p-node config --dir "$P2P_TMP/n$1" --json 2>/dev/null |
	    jq -r .sequence || echo down
}

refused_of() {
	p2p-node config --dir "$P2P_TMP/n$1" --json | jq -r .counters.refused
}

# overlay: a CA serving enrollment and its configuration, NODES enrolled
# node directories, and one more (spare) that never runs.
overlay() {
	p2p_ca_setup "$P2P_TMP/ca" cu.test
	for i in $(seq 0 "$NODES"); do
		p2p_ca_user "$P2P_TMP/ca" "u$i@cu.test" secret
	done
	p2p_ca_serve "$P2P_TMP/ca"
	for i in $(seq 0 "$NODES"); do
		p2p_enroll_node "$P2P_TMP/n$i" "u$i@cu.test" "$P2P_TMP/ca" \
		    >/dev/null
		PORTS[$i]=$(p2p_free_port)
	done
	grep -q 'config-url>https://127.0.0.1' "$P2P_TMP/n0/overlay.xml"
}

# ring: start the NODES nodes and wait until every one has joined.
ring() {
	local i j
	start_node 0
	for _ in $(seq 60); do
		[ "$(state 0)" != down ] && break
		sleep 0.5
	done
	for i in $(seq 1 $((NODES - 1))); do
		start_node "$i"
	done
	for i in $(seq 0 $((NODES - 1))); do
		for j in $(seq $((240 * SCALE))); do
			[ "$(state "$i")" = joined ] && break
			sleep 0.5
		done
		[ "$(state "$i")" = joined ]
	done
}

# wait_seq SEQ SECONDS: every node at SEQ within SECONDS; prints the
# seconds it took.
wait_seq() {
	local want=$1 limit=$2 start=$SECONDS i ok
	while :; do
		ok=1
		for i in $(seq 0 $((NODES - 1))); do
			[ "$(seq_of "$i")" = "$want" ] || { ok=0; break; }
		done
		[ $ok -eq 1 ] && { echo $((SECONDS - start)); return 0; }
		[ $((SECONDS - start)) -ge "$limit" ] && break
		sleep 0.5
	done
	for i in $(seq 0 $((NODES - 1))); do
		echo "node $i: sequence $(seq_of "$i")"
	done
	return 1
}

all_seq() {
	local i
	for i in $(seq 0 $((NODES - 1))); do
		[ "$(seq_of "$i")" = "$1" ] || { echo "node $i: $(seq_of "$i")"; return 1; }
	done
}

@test "a new sequence from the CA reaches all ten nodes within one refresh interval; a restarted node keeps it" {
	local was new took
	overlay
	ring
	was=$(seq_of 0)
	all_seq "$was"
	run p2p-ca config bump --dir "$P2P_TMP/ca" --json
	[ "$status" -eq 0 ]
	new=$(jq -r .sequence <<<"$output")
	[ "$new" -eq $((was + 1)) ]
	# one refresh interval, and the few seconds a fetch may take here
	run wait_seq "$new" $((REFRESH + 4 * SCALE))
	echo "$output"
	[ "$status" -eq 0 ]
	took=$output
	[ "$took" -le $((REFRESH + 4 * SCALE)) ]
	grep -q "sequence=\"$new\"" "$P2P_TMP/n3/overlay.xml"
	grep -q "configuration sequence $was -> $new" "$P2P_TMP/n3.log"

	# restart node 3 without the CA: it comes back with the new one
	kill "$P2P_CA_PID"
	run p2p-node stop --dir "$P2P_TMP/n3"
	[ "$status" -eq 0 ]
	for _ in $(seq 60); do
		kill -0 "${NODE_PID[3]}" 2>/dev/null || break
		sleep 0.5
	done
	! kill -0 "${NODE_PID[3]}" 2>/dev/null
	start_node 3
	for _ in $(seq $((120 * SCALE))); do
		[ "$(state 3)" = joined ] && break
		sleep 0.5
	done
	[ "$(state 3)" = joined ]
	[ "$(seq_of 3)" = "$new" ]
	[ "$(p2p-node status --dir "$P2P_TMP/n3" --json |
	    jq .config_sequence)" = "$new" ]
}

@test "ConfigUpdate carries a document given to one node to all ten; forged, tampered and older ones are refused by every node" {
	local was new i
	overlay
	ring
	was=$(seq_of 0)
	# no configuration server from here on: only ConfigUpdate can
	# spread a document
	kill "$P2P_CA_PID"
	cp "$P2P_TMP/ca/overlay.xml" "$P2P_TMP/old.xml"

	# another CA of the same overlay name signs a higher sequence
	p2p_ca_setup "$P2P_TMP/other" cu.test \
	    --enroll-url https://127.0.0.1:1/enroll
	p2p-ca config set-sequence --dir "$P2P_TMP/other" 40 >/dev/null
	# the real CA's next one, then a copy with one value changed
	p2p-ca config bump --dir "$P2P_TMP/ca" >/dev/null
	new=$((was + 1))
	sed 's/<max-message-size>5000</<max-message-size>6000</' \
	    "$P2P_TMP/ca/overlay.xml" >"$P2P_TMP/tampered.xml"
	! cmp -s "$P2P_TMP/ca/overlay.xml" "$P2P_TMP/tampered.xml"

	for i in $(seq 0 $((NODES - 1))); do
		run p2p-node config --dir "$P2P_TMP/n$i" \
		    --update "$P2P_TMP/other/overlay.xml"
		[ "$status" -eq 1 ]
		[[ "$output" == *refused* ]]
		run p2p-node config --dir "$P2P_TMP/n$i" \
		    --update "$P2P_TMP/tampered.xml"
		[ "$status" -eq 1 ]
		[ "$(refused_of "$i")" -eq 2 ]
	done
	# the same over the wire, from a node of the overlay
	run p2p-testkit send --dir "$P2P_TMP/n$NODES" \
	    --to "127.0.0.1:${PORTS[4]}" --msg config-update \
	    --config "$P2P_TMP/tampered.xml"
	echo "$output"
	[[ "$output" == "error Error_Forbidden"* ]]
	run p2p-testkit send --dir "$P2P_TMP/n$NODES" \
	    --to "127.0.0.1:${PORTS[4]}" --msg config-update \
	    --config "$P2P_TMP/other/overlay.xml"
	[[ "$output" == "error Error_Forbidden"* ]]
	sleep 2
	all_seq "$was"
	grep -q "configuration from the control socket refused" \
	    "$P2P_TMP/n5.log"

	# the genuine one, given to node 6 alone, spreads by ConfigUpdate
	run p2p-node config --dir "$P2P_TMP/n6" --update "$P2P_TMP/ca/overlay.xml"
	[ "$status" -eq 0 ]
	run wait_seq "$new" $((20 * SCALE))
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(p2p-node config --dir "$P2P_TMP/n6" --json |
	    jq .counters.pushed)" -ge 1 ]
	grep -q "from ConfigUpdate of" "$P2P_TMP/n0.log"

	# now the older document is refused everywhere, and so on the wire
	for i in $(seq 0 $((NODES - 1))); do
		run p2p-node config --dir "$P2P_TMP/n$i" --update "$P2P_TMP/old.xml"
		[ "$status" -eq 1 ]
		[[ "$output" == *older* ]]
	done
	run p2p-testkit send --dir "$P2P_TMP/n$NODES" \
	    --to "127.0.0.1:${PORTS[2]}" --msg config-update \
	    --config "$P2P_TMP/old.xml"
	[[ "$output" == "error Error_Config_Too_Old"* ]]
	all_seq "$new"
	grep -q "sequence=\"$new\"" "$P2P_TMP/n9/overlay.xml"
}

@test "a node with an older configuration is answered Error_Config_Too_Old and sent the current one" {
	local new
	NODES=2
	overlay
	ring
	kill "$P2P_CA_PID"
	p2p-ca config bump --dir "$P2P_TMP/ca" >/dev/null
	new=$(p2p-ca config show --dir "$P2P_TMP/ca" --json | jq .sequence)
	for i in 0 1; do
		p2p-node config --dir "$P2P_TMP/n$i" \
		    --update "$P2P_TMP/ca/overlay.xml" >/dev/null
	done
	all_seq "$new"
	# the spare node still has the old document: its Ping is refused
	run p2p-testkit send --dir "$P2P_TMP/n$NODES" \
	    --to "127.0.0.1:${PORTS[0]}" --msg ping
	echo "$output"
	[[ "$output" == "error Error_Config_Too_Old"* ]]
	[ "$(p2p-node config --dir "$P2P_TMP/n0" --json |
	    jq .counters.config_too_old_sent)" -ge 1 ]
	p2p_wait_for "$P2P_TMP/n0.log" "ConfigUpdate (sequence $new) sent" 10
}

@test "completion offers the configuration commands and options" {
	root=$BATS_TEST_DIRNAME/../..
	run bash -c "source '$root/completion/bash/p2p-ca'
		COMP_WORDS=(p2p-ca con); COMP_CWORD=1; _p2p_ca
		echo \"\${COMPREPLY[*]}\"
		COMP_WORDS=(p2p-ca config b); COMP_CWORD=2; _p2p_ca
		echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = config ]
	[ "${lines[1]}" = bump ]
	run bash -c "source '$root/completion/bash/p2p-node'
		COMP_WORDS=(p2p-node config --up); COMP_CWORD=2; _p2p_node
		echo \"\${COMPREPLY[*]}\"
		COMP_WORDS=(p2p-node run --config-r); COMP_CWORD=2; _p2p_node
		echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = --update ]
	[ "${lines[1]}" = --config-refresh ]
}

@test "p2p-ca config: bump, set-sequence and the wrap after 65534" {
	p2p_ca_setup "$P2P_TMP/ca" wrap.test --enroll-url https://127.0.0.1:1/enroll
	run p2p-ca config show --dir "$P2P_TMP/ca" --json
	[ "$status" -eq 0 ]
	[ "$(jq .sequence <<<"$output")" -eq 1 ]
	[ "$(jq -r .config_url <<<"$output")" = \
	    https://127.0.0.1:1/.well-known/reload-config ]
	run p2p-ca config set-sequence --dir "$P2P_TMP/ca" 65534 --json
	[ "$status" -eq 0 ]
	[ "$(jq .sequence <<<"$output")" -eq 65534 ]
	run p2p-ca config bump --dir "$P2P_TMP/ca" --json
	[ "$(jq .sequence <<<"$output")" -eq 0 ]
	grep -q 'sequence="0"' "$P2P_TMP/ca/overlay.xml"
	run p2p-ca config set-sequence --dir "$P2P_TMP/ca" 65535
	[ "$status" -eq 2 ]
	run p2p-ca config frobnicate --dir "$P2P_TMP/ca"
	[ "$status" -eq 2 ]
}
