#!/usr/bin/env bats
# Calls between users behind two different NATs (tests/nat/lab.bash): the
# overlay uses ICE, so the caller's node AppAttaches to the callee's over
# ICE (server-reflexive candidates from the lab's STUN server) and SIP
# flows over DTLS on the selected pair, between the two routers' public
# addresses. The user agents (SIPp, p2p-call, baresip) run inside the
# namespace of their node and reach its SIP front on that namespace's
# loopback. p2p-call's audio takes an ICE path of its own (the node names
# the STUN and TURN servers), with another p2p-call or with baresip's ice
# module.
# Skipped where the machine does not allow network namespaces and
# iptables.

load lib_sip
load ../nat/lab

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
	lab_check || skip "$LAB_WHY"
}

teardown() {
	lab_down
	sip_teardown
}

# nat_sip_overlay [symmetric]: a bootstrap peer on the public segment,
# node 1 behind NAT a and node 2 behind NAT b, each of these two with a
# SIP front on its namespace's loopback. Symmetric NATs get the lab's
# TURN server in the configuration too.
nat_sip_overlay() {
	local turn=()
	lab_up "${1:-eim}"
	lab_turn_start "$NT_DIR"
	[ "${1:-eim}" = symmetric ] && turn=(--turn "$LAB_PUB:3478"
	    --turn-credentials "$LAB_TURN_USER:$LAB_TURN_PASS")
	node_overlay 3 --ice --stun "$LAB_PUB:3478" "${turn[@]}"
	lab_node 0 pub "$LAB_PUB"
	lab_node 1 a "$LAB_A" "${NT_NODE_ADDR[0]}" --sip 127.0.0.1:0
	lab_node 2 b "$LAB_B" "${NT_NODE_ADDR[0]}" --sip 127.0.0.1:0
	sip_read_front 1
	sip_read_front 2
	node_wait_ring 120
}

# in_ns NS: user agents from now on run in lab namespace NS.
in_ns() {
	SIP_EXEC=(ip netns exec "$(lab_ns "$1")")
}

# appattach_over_ice I J ROUTER: node I's SIP connection to node J is an
# AppAttach over ICE whose pair ends at ROUTER (J's NAT), with DTLS open.
appattach_over_ice() {
	local id=${NT_NODE_ID[$2]:0:8}
	grep -qE "AppAttach ICE with $id: [a-z]+ [0-9.:]+ -> [a-z]+ $3:" \
	    "$(node_log "$1")" &&
	grep -q "sip: connection with node $id open (DTLS over ICE)" \
	    "$(node_log "$1")"
}

# nat_sipp_call: the callee registers at node 2 (in namespace b) from
# the port its SIPp UAS then listens on; the caller, in namespace a,
# registers at node 1 and calls; both finish their call.
nat_sipp_call() {
	local up
	in_ns b
	up=$(sip_free_udp_port)
	sip_register reg2 2 "$(sip_name 2)" "$up"
	[ "$SIPP_EXIT" -eq 0 ]
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	sipp_start uas uas -p "$up" -m 1 -timeout 90s -timeout_error
	sip_wait_udp "$up"
	in_ns a
	sip_call uac 1 "$(sip_name 2)" 1000
	sip_call_ok uac uas
}

@test "SIPp behind NAT a calls SIPp behind NAT b: AppAttach over ICE, SIP over DTLS, INVITE/180/200/ACK, BYE/200" {
	nat_sip_overlay
	nat_sipp_call

	# Both nodes are behind NATs: only ICE could have made the path.
	appattach_over_ice 1 2 "$LAB_R2"
	appattach_over_ice 2 1 "$LAB_R1"
	grep -q "^INVITE " "$NT_DIR/sipp-uas.msg"
	grep -q "^BYE " "$NT_DIR/sipp-uas.msg"
}

@test "SIPp behind symmetric NAT a calls SIPp behind symmetric NAT b: AppAttach over ICE through the TURN relay, INVITE/180/200/ACK, BYE/200" {
	local id2
	nat_sip_overlay symmetric
	nat_sipp_call

	# The AppAttach pair has one end on the TURN relay: no other pair
	# gets through two symmetric NATs.
	id2=${NT_NODE_ID[2]:0:8}
	grep -qE "AppAttach ICE with $id2: (relay $LAB_PUB:[0-9]+ -> |[a-z]+ [0-9.:]+ -> relay $LAB_PUB:)" \
	    "$(node_log 1)"
	grep -q "sip: connection with node $id2 open (DTLS over ICE)" \
	    "$(node_log 1)"
	grep -q "^BYE " "$NT_DIR/sipp-uas.msg"
}

@test "p2p-call users behind two NATs exchange instant messages both ways" {
	local pa pb
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	nat_sip_overlay

	in_ns a
	call_start wait1 1 answer --json
	pa=$CALL_PID
	in_ns b
	call_start wait2 2 answer --json
	pb=$CALL_PID
	call_wait_event wait1 registered 30 "$pa"
	call_wait_event wait2 registered 30 "$pb"
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	sip_lookup_wait 2 "$(sip_aor 1)" 30

	in_ns a
	run "${SIP_EXEC[@]}" p2p-call --dir "$(node_dir 1)" message \
	    "$(sip_aor 2)" "from behind NAT a"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event wait2 message 30 "$pb"
	jq -r 'select((.event // .type) == "message") | .text' \
	    "$NT_DIR/wait2.events" | grep -qx "from behind NAT a"

	in_ns b
	run "${SIP_EXEC[@]}" p2p-call --dir "$(node_dir 2)" message \
	    "$(sip_aor 1)" "from behind NAT b"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event wait1 message 30 "$pa"
	jq -r 'select((.event // .type) == "message") | .text' \
	    "$NT_DIR/wait1.events" | grep -qx "from behind NAT b"

	appattach_over_ice 1 2 "$LAB_R2"
}

# nat_audio_call: p2p-call answers at node 2 (namespace b) and one at
# node 1 (namespace a) calls it with 3 s of a test signal each way; both
# end well, each received RTP, and each recording matches the other
# side's signal. The media events go to dial.events and answer.events.
nat_audio_call() {
	local wavcmp apid dpid c
	wavcmp=$(command -v wavcmp || echo "$BATS_TEST_DIRNAME/../../build/san/kit/wavcmp")
	[ -x "$wavcmp" ]
	sip_chirp "$NT_DIR/a.wav" 4 200-3400
	sip_chirp "$NT_DIR/b.wav" 4 3400-200
	in_ns b
	call_start answer 2 answer --play "$NT_DIR/a.wav" \
	    --record "$NT_DIR/a-heard.wav" --json
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid"
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	in_ns a
	call_start dial 1 dial "$(sip_aor 2)" --duration 3 \
	    --play "$NT_DIR/b.wav" --record "$NT_DIR/b-heard.wav" --json
	dpid=$CALL_PID
	call_wait_event dial answered 60 "$dpid"
	call_wait_event dial media 30 "$dpid"
	call_wait_event answer media 30 "$apid"
	call_finish dial answer "$dpid" "$apid" 100
	c=$("$wavcmp" "$NT_DIR/b.wav" "$NT_DIR/a-heard.wav")
	echo "callee heard the caller: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
	c=$("$wavcmp" "$NT_DIR/a.wav" "$NT_DIR/b-heard.wav")
	echo "caller heard the callee: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
}

# media_pair NAME: the ICE pair run NAME's RTP took ("TYPE ADDR -> TYPE
# ADDR").
media_pair() {
	jq -r 'select(.event == "media") | .ice_pair' "$NT_DIR/$1.events"
}

@test "p2p-call users behind two NATs talk: RTP over ICE between the routers' public addresses, 3 s each way, recordings match" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	nat_sip_overlay
	# The node tells p2p-call the STUN server its agents use.
	sip_status 1 | jq -e --arg s "$LAB_PUB" '.media_ice.stun.address == $s'
	nat_audio_call
	# Each side's pair ends at the other's router: their private
	# addresses are not reachable from each other.
	[[ "$(media_pair dial)" =~ \ -\>\ [a-z]+\ $LAB_R2: ]]
	[[ "$(media_pair answer)" =~ \ -\>\ [a-z]+\ $LAB_R1: ]]
}

@test "p2p-call users behind two symmetric NATs talk: RTP over ICE through the TURN relay, 3 s each way, recordings match" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	nat_sip_overlay symmetric
	sip_status 1 | jq -e '.media_ice.turn | length >= 1'
	nat_audio_call
	# No server-reflexive pair gets through two symmetric NATs: one end
	# of the caller's pair is a relayed candidate.
	[[ "$(media_pair dial)" =~ (^relay\ $LAB_PUB:|-\>\ relay\ $LAB_PUB:) ]]
}

@test "p2p-call --no-ice behind two NATs: the call is set up, but no RTP arrives (the SDP names private addresses)" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	local apid dpid
	nat_sip_overlay
	sip_chirp "$NT_DIR/a.wav" 2 200-3400
	in_ns b
	call_start answer 2 answer --no-ice --play "$NT_DIR/a.wav" --json
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid"
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	in_ns a
	call_start dial 1 dial "$(sip_aor 2)" --no-ice --duration 2 \
	    --play "$NT_DIR/a.wav" --json
	dpid=$CALL_PID
	call_wait_event dial answered 60 "$dpid"
	call_wait_event dial ended 30 "$dpid"
	call_wait_event answer ended 30 "$apid"
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/dial.events")" -eq 0 ]
	! grep -q '"event":"media"' "$NT_DIR/dial.events"
}

@test "p2p-call behind NAT a calls baresip behind NAT b, both with ICE for the media: audio arrives over the pair their checks selected" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	command -v baresip >/dev/null 2>&1 || skip "baresip not installed"
	local wavcmp dpid c
	wavcmp=$(command -v wavcmp || echo "$BATS_TEST_DIRNAME/../../build/san/kit/wavcmp")
	nat_sip_overlay
	# A 1 s sweep over and over: baresip decodes only from when its
	# checks have all ended, a slice from somewhere in the middle, which
	# lines up with the signal within a period.
	sip_chirp "$NT_DIR/b1.wav" 1 3400-200
	sox "$NT_DIR/b1.wav" "$NT_DIR/b.wav" repeat 7
	in_ns b
	BARESIP_STUN="$LAB_PUB:3478" baresip_start b "$(sip_aor 2)" \
	    "$(sip_front_port 2)"
	baresip_wait b "$(sip_aor 2): .*200 OK" 30
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	in_ns a
	# (baresip starts its audio once all its checks have ended, the
	# failing ones too: a second or two after the pair is found)
	call_start dial 1 dial "$(sip_aor 2)" --duration 6 \
	    --play "$NT_DIR/b.wav" --record "$NT_DIR/b-heard.wav" --json
	dpid=$CALL_PID
	call_wait_event dial answered 60 "$dpid"
	call_wait_event dial media 30 "$dpid"
	call_wait_event dial ended 30 "$dpid"
	node_wait_exit "$dpid" 20
	[ "$NT_EXIT" -eq 0 ]
	# baresip's side of the pair is its NAT's public address
	[[ "$(media_pair dial)" =~ \ -\>\ [a-z]+\ $LAB_R2: ]]
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/dial.events")" -ge 100 ]
	# what arrived is baresip's source signal
	c=$("$wavcmp" "$NT_DIR/baresip-b/source.wav" "$NT_DIR/b-heard.wav")
	echo "caller heard baresip: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
	# and what baresip decoded (its sndfile dump) is the caller's signal
	baresip_wait b "Call with sip:$(sip_aor 1) terminated" 20
	baresip_wait b "audio: destroyed" 10
	c=$("$wavcmp" "$NT_DIR/b.wav" "$NT_DIR"/baresip-b/dump-*-dec.wav)
	echo "baresip heard the caller: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
}
