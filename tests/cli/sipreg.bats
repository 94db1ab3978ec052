#!/usr/bin/env bats
# SIP registrations in the overlay (RFC 7904 s3, node_sipreg.c): what the
# SIP front publishes when a user agent registers, seen through the
# "sip.lookup" control method of every node of a 3-node overlay on
# 127.0.0.1. The REGISTERs come from the front's own "sip.register"
# control method, so no SIP user agent is needed here (sip.bats runs
# real ones). Node I's certificate carries the user "userI@test.p2psip"
# (lib_sip.bash); that is the only AOR node I may register.

load lib_sip
load lib_store

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
}

teardown() {
	sip_teardown
}

# rid_of AOR: the Resource-ID (hex) of a resource name.
rid_of() {
	python3 -c 'import hashlib, sys
print(hashlib.sha1(sys.argv[1].encode()).hexdigest()[:32])' "$1"
}

# reg_register I [EXPIRES]: REGISTER node I's user at its front.
reg_register() {
	sip_ctl "$1" sip.register "{\"aor\":\"$(sip_aor "$1")\",\
\"contact\":\"sip:$(sip_name "$1")@127.0.0.1:5090\",\"expires\":${2:-60}}"
}

# reg_gone I AOR [SECONDS]: wait until node I's sip.lookup of AOR says
# "not found" (error code 2).
reg_gone() {
	local i=$1 aor=$2 secs=$((${3:-30} * NT_SCALE)) err=
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		if ! sip_ctl "$i" sip.lookup "{\"aor\":\"$aor\"}" \
		    >/dev/null 2>"$NT_DIR/lookup.err"; then
			err=$(cat "$NT_DIR/lookup.err")
			[ "$(jq -r .code <<<"$err" 2>/dev/null)" = 2 ] &&
			    return 0
		fi
		sleep 0.5
	done
	echo "node $i: $aor still registered after ${secs}s: $err" >&2
	return 1
}

@test "a REGISTER at node 1 stores a route registration that sip.lookup finds from every node" {
	local aor r i
	sip_overlay 3
	aor=$(sip_aor 1)
	reg_register 1
	sip_lookup_wait 0 "$aor" 30
	for i in 0 1 2; do
		r=$(sip_ctl "$i" sip.lookup "{\"aor\":\"$aor\"}")
		[ "$(jq -r .aor <<<"$r")" = "$aor" ]
		[ "$(jq -r .resource_id <<<"$r")" = "$(rid_of "$aor")" ]
		[ "$(jq '.registrations | length' <<<"$r")" -eq 1 ]
		# the dictionary key is the registering node; the route leads
		# to it alone
		[ "$(jq -r '.registrations[0].storer' <<<"$r")" = \
		    "${NT_NODE_ID[1]}" ]
		[ "$(jq -r '.registrations[0].type' <<<"$r")" = route ]
		[ "$(jq -c '.registrations[0].destinations' <<<"$r")" = \
		    "[\"${NT_NODE_ID[1]}\"]" ]
	done
	# the AOR may be given in any form a SIP message carries
	r=$(sip_ctl 2 sip.lookup \
	    "{\"aor\":\"User <sip:user1@TEST.P2PSIP;transport=udp>\"}")
	[ "$(jq -r .aor <<<"$r")" = "$aor" ]
	[ "$(jq '.registrations | length' <<<"$r")" -eq 1 ]
	# a second REGISTER refreshes the same entry
	reg_register 1
	sleep 1
	r=$(sip_ctl 0 sip.lookup "{\"aor\":\"$aor\"}")
	[ "$(jq '.registrations | length' <<<"$r")" -eq 1 ]
}

@test "two users registered at two nodes are kept apart" {
	local r
	sip_overlay 3
	reg_register 0
	reg_register 2
	sip_lookup_wait 1 "$(sip_aor 0)" 30
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	r=$(sip_ctl 1 sip.lookup "{\"aor\":\"$(sip_aor 0)\"}")
	[ "$(jq -r '.registrations[0].storer' <<<"$r")" = "${NT_NODE_ID[0]}" ]
	r=$(sip_ctl 1 sip.lookup "{\"aor\":\"$(sip_aor 2)\"}")
	[ "$(jq -r '.registrations[0].storer' <<<"$r")" = "${NT_NODE_ID[2]}" ]
	[ "$(jq '.registrations | length' <<<"$r")" -eq 1 ]
}

@test "REGISTER with expires 0 withdraws the registration from the overlay" {
	local aor
	sip_overlay 3
	aor=$(sip_aor 2)
	reg_register 2
	sip_lookup_wait 0 "$aor" 30
	reg_register 2 0
	reg_gone 0 "$aor" 30
	reg_gone 1 "$aor" 5
}

@test "a node that stops cleanly withdraws the registrations of its front" {
	local aor
	sip_overlay 3
	aor=$(sip_aor 1)
	reg_register 1 600
	sip_lookup_wait 0 "$aor" 30
	kill -TERM "${NT_NODE_PID[1]}"
	node_wait_exit "${NT_NODE_PID[1]}" 30
	[ "$NT_EXIT" -eq 0 ]
	grep -q "sip: withdrawing $aor" "$(node_log 1)"
	# gone at once, not when the value's hour is up
	reg_gone 0 "$aor" 10
	reg_gone 2 "$aor" 5
	run p2p-get --dir "$(node_dir 2)" --kind SIP-REGISTRATION "$aor"
	[ "$status" -eq 1 ]
	[[ "$output" == *"nothing stored"* ]]
}

@test "a stopping node waits 2 s at most for its withdrawals to be answered" {
	local aor t0 ms
	sip_overlay 3
	aor=$(sip_aor 1)
	reg_register 1 600
	sip_lookup_wait 0 "$aor" 30
	# the rest of the overlay answers nothing
	kill -STOP "${NT_NODE_PID[0]}" "${NT_NODE_PID[2]}"
	t0=$(date +%s%N)
	kill -TERM "${NT_NODE_PID[1]}"
	node_wait_exit "${NT_NODE_PID[1]}" 30
	ms=$((($(date +%s%N) - t0) / 1000000))
	kill -CONT "${NT_NODE_PID[0]}" "${NT_NODE_PID[2]}"
	[ "$NT_EXIT" -eq 0 ]
	grep -q "leaving with [0-9]* requests unanswered" "$(node_log 1)"
	# 2 s for the withdrawals, 0.5 s for the Leaves, 2 s for the links
	# to close unanswered, and some slack: not the 15 s a request lives
	[ "$ms" -ge 2000 ]
	[ "$ms" -lt $((8000 * NT_SCALE)) ]
}

@test "sip.lookup: an AOR nobody registered is not found; a malformed one is refused" {
	sip_overlay 3
	run sip_ctl 0 sip.lookup '{"aor":"nobody@test.p2psip"}'
	[ "$status" -eq 1 ]
	[ "$(jq -r .code <<<"$output")" = 2 ]
	for bad in '{}' '{"aor":"no-domain"}' '{"aor":"@test.p2psip"}' \
	    '{"aor":"a b@test.p2psip"}' '{"aor":42}'; do
		run sip_ctl 0 sip.lookup "$bad"
		[ "$status" -eq 1 ]
		[ "$(jq -r .code <<<"$output")" = -32602 ]
	done
}

@test "a stored value that is not a SipRegistration is skipped by the lookup" {
	local aor r
	sip_overlay 3
	aor=$(sip_aor 2)
	# node 2's own user may write the kind (USER-NODE-MATCH), but the
	# value is no SipRegistration
	st_put 2 --kind SIP-REGISTRATION "$aor" "not a registration"
	run sip_ctl 0 sip.lookup "{\"aor\":\"$aor\"}"
	[ "$status" -eq 1 ]
	[ "$(jq -r .code <<<"$output")" = 2 ]
	# the real one replaces it (same dictionary key) and is found
	reg_register 2
	sip_lookup_wait 0 "$aor" 30
	r=$(sip_ctl 0 sip.lookup "{\"aor\":\"$aor\"}")
	[ "$(jq -r '.registrations[0].type' <<<"$r")" = route ]
}

# reg_refused_logged I AOR: node I's log says its front's registration of
# AOR was not stored (the storing peer refused it), within 15 s.
reg_refused_logged() {
	local i
	for i in $(seq 1 $((30 * NT_SCALE))); do
		grep -q "sip: registration of $2 not stored" "$(node_log "$1")" &&
		    return 0
		sleep 0.5
	done
	echo "node $1 never logged a refused registration of $2" >&2
	return 1
}

@test "domain-restriction: the storing peer refuses a registration whose domain no pattern matches whole" {
	local aor
	# RFC 7904's domain-restriction with enable="true": 'p2psip' and
	# 'test' match parts of test.p2psip, not all of it
	sip_overlay 3 --sip-domain 'p2psip' --sip-domain 'test' \
	    --sip-domain 'other\.example'
	aor=$(sip_aor 1)
	run st_put 1 --kind SIP-REGISTRATION "$aor" "x"
	[ "$status" -eq 1 ]
	[[ "$output" == *Error_Forbidden*domain-restriction* ]]
	# the front answers the REGISTER 403 and withdraws the binding
	run reg_register 1
	[ "$status" -eq 1 ]
	[ "$(jq -r .data.status <<<"$output")" = 403 ]
	reg_refused_logged 1 "$aor"
	run sip_ctl 0 sip.lookup "{\"aor\":\"$aor\"}"
	[ "$status" -eq 1 ]
	[ "$(jq -r .code <<<"$output")" = 2 ]
	# the other kinds are not restricted
	st_put 1 "$aor" "a value of the single kind"
}

@test "domain-restriction: a pattern matching the whole domain, case ignored, lets the user register" {
	sip_overlay 2 --sip-domain 'other\.example' --sip-domain 'TEST\.p2p[a-z]+'
	reg_register 1
	sip_lookup_wait 0 "$(sip_aor 1)" 30
}

@test "domain-restriction: with enable=\"false\" only the overlay's own name is taken" {
	sip_overlay 2 --sip-own-domain
	grep -q 'domain-restriction enable="false"' "$(node_dir 0)/overlay.xml"
	reg_register 1
	sip_lookup_wait 0 "$(sip_aor 1)" 30
}
