#!/usr/bin/env bats
# Forking at the SIP front: an AOR with several bindings at its node (two
# or three SIPp user agents registered under one AOR from different
# ports) gets an INVITE or a MESSAGE on every binding at once, and the
# caller one answer (RFC 3261 s16.6-16.7). Fixtures in lib_sip.bash.

load lib_sip

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
}

teardown() {
	sip_teardown
}

# fork_register I PORT...: register node I's user from each PORT (one
# binding each) and wait until node 1 finds the AOR in the overlay.
fork_register() {
	local i=$1 p st
	shift
	for p in "$@"; do
		sip_register "reg$p" "$i" "$(sip_name "$i")" "$p"
		[ "$SIPP_EXIT" -eq 0 ] || return 1
	done
	st=$(sip_status "$i")
	[ "$(jq --arg a "$(sip_aor "$i")" \
	    '[.bindings[] | select(.aor == $a)] | length' <<<"$st")" -eq $# ]
	sip_lookup_wait 1 "$(sip_aor "$i")" 30
}

# fork_two SCENARIO-A NAME-A SCENARIO-B NAME-B: a 3-node overlay whose
# node 2 has two bindings of its user, a SIPp user agent behind each
# (runs NAME-A and NAME-B, PIDs in FORK_A and FORK_B; the name is also
# the scenario's [realm]).
fork_two() {
	local pa pb
	sip_overlay 3
	pa=$(sip_free_udp_port)
	pb=$(sip_free_udp_port)
	fork_register 2 "$pa" "$pb"
	sipp_start "$2" "$1" -p "$pa" -key realm "$2" -m 1 -timeout 60s \
	    -timeout_error
	FORK_A=$SIPP_PID
	sipp_start "$4" "$3" -p "$pb" -key realm "$4" -m 1 -timeout 60s \
	    -timeout_error
	FORK_B=$SIPP_PID
	sip_wait_udp "$pa"
	sip_wait_udp "$pb"
}

# fork_done: both user agents of fork_two finished their scenario.
fork_done() {
	sipp_wait "$FORK_A" 30
	[ "$SIPP_EXIT" -eq 0 ] || return 1
	sipp_wait "$FORK_B" 30
	[ "$SIPP_EXIT" -eq 0 ]
}

@test "forking: an INVITE rings three bindings; one is busy, one answers, the third is cancelled; the caller gets the 200 alone" {
	local pa pb pc busy ring st
	sip_overlay 3
	pa=$(sip_free_udp_port)
	pb=$(sip_free_udp_port)
	pc=$(sip_free_udp_port)
	fork_register 2 "$pa" "$pb" "$pc"

	sipp_start busy uas_busy -p "$pa" -m 1 -timeout 60s -timeout_error
	busy=$SIPP_PID
	sipp_start ring uas_cancel -p "$pb" -m 1 -timeout 60s -timeout_error
	ring=$SIPP_PID
	sipp_start uas uas -p "$pc" -m 1 -timeout 90s -timeout_error
	sip_wait_udp "$pa"
	sip_wait_udp "$pb"
	sip_wait_udp "$pc"

	sip_call uac 1 "$(sip_name 2)" 1000
	sip_call_ok uac uas
	# The busy one got its 486 acknowledged by the front; the ringing
	# one was cancelled and its 487 acknowledged; neither answer
	# reached the caller.
	sipp_wait "$busy" 30
	[ "$SIPP_EXIT" -eq 0 ]
	sipp_wait "$ring" 30
	[ "$SIPP_EXIT" -eq 0 ]
	grep -q "^ACK " "$NT_DIR/sipp-busy.msg"
	grep -q "^CANCEL " "$NT_DIR/sipp-ring.msg"
	[ "$(sipp_received uac 486)" -eq 0 ]
	[ "$(sipp_received uac 487)" -eq 0 ]
	st=$(sip_status 2)
	[ "$(jq .stats.forked <<<"$st")" -eq 1 ]
	# the call's branches are all finished
	[ "$(jq .stats.forked <<<"$(sip_status 1)")" -eq 0 ]
}

@test "forking: when every binding is busy the caller gets one 486, and the front ACKs each branch" {
	fork_two uas_busy busya uas_busy busyb
	sipp_run nf invite_busy -s "$(sip_name 2)" -key caller "$(sip_name 1)" \
	    -m 1 -timeout 60s -timeout_error "${SIP_UDP[1]}"
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls nf)" = "1 0" ]
	[ "$(sipp_received nf 486)" -eq 1 ]
	fork_done
}

# fork_realms NAME: the realms of the WWW-Authenticate fields in the 401
# that SIPp run NAME received, sorted, on one line.
fork_realms() {
	awk '/^SIP\/2\.0 401 / { on = 1 } /^-----/ { on = 0 }
	    on && tolower($0) ~ /^www-authenticate:/' "$NT_DIR/sipp-$1.msg" |
	    sed -n 's/.*realm="\([^"]*\)".*/\1/p' | sort | xargs
}

# fork_challenged NAME: a SIPp caller (run NAME) at node 1 calls node 2's
# user and gets one 401.
fork_challenged() {
	sipp_run "$1" invite_challenged -s "$(sip_name 2)" -key caller \
	    "$(sip_name 1)" -m 1 -timeout 60s -timeout_error "${SIP_UDP[1]}"
	[ "$SIPP_EXIT" -eq 0 ] && [ "$(sipp_calls "$1")" = "1 0" ] &&
	    [ "$(sipp_received "$1" 401)" -eq 1 ]
}

@test "forking: two bindings ask for credentials in realms of their own; the caller gets one 401 with both challenges" {
	fork_two uas_challenge alpha uas_challenge beta
	fork_challenged ch
	[ "$(fork_realms ch)" = "alpha beta" ]
	fork_done
}

@test "forking: one binding is busy, the other asks for credentials; the caller gets the 401, which tells how to call again" {
	fork_two uas_busy busy uas_challenge alpha
	fork_challenged ch
	[ "$(fork_realms ch)" = "alpha" ]
	[ "$(sipp_received ch 486)" -eq 0 ]
	fork_done
}

@test "forking: a MESSAGE from the control socket reaches both bindings; the sender gets 200" {
	local out
	fork_two uas_message ima uas_message imb
	out=$(sip_ctl 1 sip.message "{\"to\": \"$(sip_aor 2)\", \"text\": \"to every phone\"}")
	[ "$(jq -r .status <<<"$out")" = 200 ]
	fork_done
	grep -q "to every phone" "$NT_DIR/sipp-ima.msg"
	grep -q "to every phone" "$NT_DIR/sipp-imb.msg"
	[ "$(jq .stats.forked <<<"$(sip_status 2)")" -eq 1 ]
}

@test "forking: the caller's CANCEL cancels every ringing branch; the caller gets 487" {
	local ev
	fork_two uas_cancel ringa uas_cancel ringb
	# p2p-call gives up after 3 s unanswered and sends CANCEL.
	run p2p-call --dir "$(node_dir 1)" --json --timeout 3 \
	    dial "$(sip_aor 2)"
	echo "$output"
	[ "$status" -eq 1 ]
	ev=$(grep '^{' <<<"$output")
	[ "$(jq -r 'select(.event == "ringing") | .event' <<<"$ev" |
	    head -n 1)" = ringing ]
	[ "$(jq -r 'select(.event == "failed") | "\(.status) \(.timeout)"' \
	    <<<"$ev")" = "487 true" ]
	fork_done
	grep -q "^CANCEL " "$NT_DIR/sipp-ringa.msg"
	grep -q "^CANCEL " "$NT_DIR/sipp-ringb.msg"
}

@test "forking across nodes: one user on two nodes, a phone at each; the caller's node rings both, the busy one loses" {
	local pa pb busy st r
	# nodes 2 and 3 both belong to user2 (two Node-IDs of one user)
	sip_overlay 4 --user 3:user2
	[ "$(sip_cert_user 3)" = "$(sip_aor 2)" ]
	pa=$(sip_free_udp_port)
	pb=$(sip_free_udp_port)
	sip_register rega 2 "$(sip_name 2)" "$pa"
	[ "$SIPP_EXIT" -eq 0 ]
	sip_register regb 3 "$(sip_name 2)" "$pb"
	[ "$SIPP_EXIT" -eq 0 ]
	# node 1 finds both registrations, one per node
	SECONDS=0
	while [ "$SECONDS" -lt $((30 * NT_SCALE)) ]; do
		r=$(sip_ctl 1 sip.lookup "{\"aor\":\"$(sip_aor 2)\"}" 2>/dev/null) &&
		    [ "$(jq '.registrations | length' <<<"$r")" -eq 2 ] && break
		sleep 0.5
	done
	[ "$(jq -r '[.registrations[].storer] | sort | join(" ")' <<<"$r")" = \
	    "$(printf '%s\n' "${NT_NODE_ID[2]}" "${NT_NODE_ID[3]}" | sort |
	    paste -sd' ')" ]

	sipp_start busy uas_busy -p "$pa" -m 1 -timeout 60s -timeout_error
	busy=$SIPP_PID
	sipp_start uas uas -p "$pb" -m 1 -timeout 90s -timeout_error
	sip_wait_udp "$pa"
	sip_wait_udp "$pb"

	sip_call uac 1 "$(sip_name 2)" 1000
	sip_call_ok uac uas
	sipp_wait "$busy" 30
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_received uac 486)" -eq 0 ]
	# the caller's node forked; each callee's node had one binding
	[ "$(jq .stats.forked <<<"$(sip_status 1)")" -eq 1 ]
	[ "$(jq .stats.forked <<<"$(sip_status 2)")" -eq 0 ]
	[ "$(jq .stats.forked <<<"$(sip_status 3)")" -eq 0 ]
}
