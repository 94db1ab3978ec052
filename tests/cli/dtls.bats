#!/usr/bin/env bats
# Overlay links over DTLS/UDP (overlay-link-protocol DTLS): a ring of
# nodes whose configuration names DTLS only, with storage, trace and the
# failure of a node; the wire checked with tshark and ss; a run with
# packet loss in a network namespace of the test's own.

load lib_store

setup() {
	node_setup
}

teardown() {
	if [ -n "${DT_CAP_PID:-}" ] && _nt_running "$DT_CAP_PID"; then
		kill "$DT_CAP_PID" 2>/dev/null || true
		wait "$DT_CAP_PID" 2>/dev/null || true
	fi
	node_teardown
	if [ -n "${DT_NS:-}" ]; then
		ip netns del "$DT_NS" 2>/dev/null || true
	fi
}

# dtls_peers_ok I: every open link of node I is DTLS-UDP-SR-NO-ICE with
# an MTU below the path's 1200 bytes.
dtls_peers_ok() {
	local out
	out=$(p2p-node peers --json --dir "$(node_dir "$1")") || return 1
	[ "$(jq length <<<"$out")" -ge 1 ] || return 1
	jq -e 'all(.[]; .link_type == "DTLS-UDP-SR-NO-ICE" and
	    .mtu > 1000 and .mtu < 1200)' <<<"$out" >/dev/null ||
	    { echo "node $1 peers: $out" >&2; return 1; }
}

@test "5 nodes over DTLS: the ring forms, put/get and trace work, links are DTLS over UDP, a killed node is noticed" {
	local i u out port pcap n_dtls n_tcp victim sorted=()
	command -v tshark >/dev/null || skip "tshark not installed"
	node_overlay 5 --link-protocol DTLS
	node_start_all 5
	node_wait_ring 120
	for i in 0 1 2 3 4; do
		dtls_peers_ok "$i"
	done
	# Capture node 2's port (TCP and UDP) while values go through it.
	port=${NT_NODE_ADDR[2]##*:}
	pcap=$NT_DIR/dtls.pcap
	tshark -i lo -w "$pcap" -f "port $port" -q 2>/dev/null &
	DT_CAP_PID=$!
	NT_PIDS+=("$DT_CAP_PID")
	sleep 2
	for i in 0 1 2 3 4; do
		u=$(st_user "$i")
		run st_put 2 --json "$u" "over DTLS from n2 as $i"
		# only n2's own user may write under its name
		if [ "$i" -eq 2 ]; then
			[ "$status" -eq 0 ]
		fi
	done
	u=$(st_user 2)
	for i in 0 1 3 4; do
		run st_get "$i" --json "$u"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.values[0].value' <<<"$output")" = \
		    "over DTLS from n2 as 2" ]
	done
	run p2p-trace --json --timeout 30 --dir "$(node_dir 2)" "$u"
	[ "$status" -eq 0 ]
	[ -n "$(jq -r .responsible <<<"$output")" ]
	sleep 1
	kill "$DT_CAP_PID"
	wait "$DT_CAP_PID" 2>/dev/null || true
	DT_CAP_PID=
	# DTLS application records to and from node 2, and no TCP at all.
	n_dtls=$(tshark -r "$pcap" -d "udp.port==$port,dtls" \
	    -Y 'dtls.record.content_type == 23' 2>/dev/null | wc -l)
	n_tcp=$(tshark -r "$pcap" -Y tcp 2>/dev/null | wc -l)
	echo "dtls records $n_dtls, tcp packets $n_tcp" >&2
	[ "$n_dtls" -gt 10 ]
	[ "$n_tcp" -eq 0 ]
	# ss: node 2 has a UDP socket on its port and no TCP connection.
	ss -uanp | grep -q ":$port .*pid=${NT_NODE_PID[2]}," 
	run ss -tanp state established "( sport = :$port or dport = :$port )"
	[[ "$output" != *"pid=${NT_NODE_PID[2]},"* ]]

	# SIGKILL one node: no close_notify, only silence; its neighbors
	# notice when their messages go unacknowledged.
	mapfile -t sorted < <(for i in "${!NT_NODE_ID[@]}"; do
		echo "${NT_NODE_ID[$i]} $i"
	done | sort | cut -d' ' -f2)
	victim=${sorted[2]}
	kill -KILL "${NT_NODE_PID[$victim]}"
	wait "${NT_NODE_PID[$victim]}" 2>/dev/null || true
	[ "$(node_live | wc -l)" -eq 4 ]
	node_wait_ring 120
	grep -q "no acknowledgement" "$(node_log "${sorted[1]}")" \
	    "$(node_log "${sorted[3]}")"
	node_ping_all "${sorted[1]}" "${sorted[3]}"
}

@test "a TLS overlay refuses an Attach for a DTLS link with Error_Incompatible_with_Overlay; a DTLS-only node takes no TLS link" {
	node_overlay 2
	node_start_all 1
	run p2p-testkit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg attach-udp --timeout 20
	[ "$status" -eq 0 ]
	[[ "$output" == "error Error_Incompatible_with_Overlay"* ]]
	node_teardown
	node_setup
	node_overlay 2 --link-protocol DTLS
	node_start_all 1
	run p2p-testkit send --dir "$(node_dir 1)" --to "${NT_NODE_ADDR[0]}" \
	    --msg ping --timeout 10
	[ "$status" -ne 0 ]
	[[ "$output" == *"closed peer closed during the handshake"* ]]
}

# ---- packet loss --------------------------------------------------------

# In a network namespace of its own, with iptables dropping one UDP
# datagram in ten on its loopback (the statistic match: netem needs a
# kernel module this machine may not have), the nodes still form the ring
# and store and fetch values.
@test "DTLS links with 10% packet loss (iptables in a private network namespace)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	command -v iptables >/dev/null || skip "iptables not installed"
	DT_NS=p2pdtls$$
	ip netns add "$DT_NS" || skip "cannot make a network namespace"
	ip netns exec "$DT_NS" ip link set lo up
	ip netns exec "$DT_NS" iptables -A INPUT -p udp -m statistic \
	    --mode random --probability 0.1 -j DROP ||
	    skip "iptables statistic match not available"
	# Every node runs in the namespace; the tools reach them through
	# their Unix sockets, which the namespace does not hide.
	p2p-node() {
		if [ "${1:-}" = run ]; then
			# only ever in the background (node_start): the
			# subshell becomes the node, so its PID is the node's
			exec ip netns exec "$DT_NS" "$(type -P p2p-node)" "$@"
		else
			command p2p-node "$@"
		fi
	}
	node_overlay 4 --link-protocol DTLS
	node_start_all 4
	node_wait_ring 180
	local u i
	u=$(st_user 1)
	run st_put 1 --json "$u" "through a lossy loopback"
	[ "$status" -eq 0 ]
	for i in 0 2 3; do
		run st_get "$i" --json "$u"
		[ "$status" -eq 0 ]
		[ "$(jq -r '.values[0].value' <<<"$output")" = \
		    "through a lossy loopback" ]
	done
	# Datagrams were dropped, and the links retransmitted.
	local dropped
	dropped=$(ip netns exec "$DT_NS" iptables -L INPUT -v -n -x |
	    awk '$3 == "DROP" { print $1 }')
	echo "dropped $dropped" >&2
	[ "$dropped" -gt 0 ]
}

# ---- the configuration ----------------------------------------------------

@test "p2p-ca init --link-protocol: the configuration lists the protocols in order; other values are usage errors" {
	run p2p-ca init --dir "$NT_DIR/ca1" --overlay dtls.p2psip \
	    --link-protocol DTLS --link-protocol TLS
	[ "$status" -eq 0 ]
	run grep -o '<overlay-link-protocol>[A-Z]*<' "$NT_DIR/ca1/overlay.xml"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' '<overlay-link-protocol>DTLS<' \
	    '<overlay-link-protocol>TLS<')" ]
	run p2p-ca init --dir "$NT_DIR/ca2" --overlay dtls.p2psip
	[ "$status" -eq 0 ]
	run grep -o '<overlay-link-protocol>[A-Z]*<' "$NT_DIR/ca2/overlay.xml"
	[ "$output" = '<overlay-link-protocol>TLS<' ]
	run p2p-ca init --dir "$NT_DIR/ca3" --overlay dtls.p2psip \
	    --link-protocol SCTP
	[ "$status" -eq 2 ]
	run p2p-ca init --dir "$NT_DIR/ca4" --overlay dtls.p2psip \
	    --link-protocol DTLS --link-protocol DTLS
	[ "$status" -eq 2 ]
}
