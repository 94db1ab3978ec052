# Call setup through an ICE overlay whose one configured STUN server never
# answers (bench/ice_setup runs it; figures in bench/README.md). Two nodes
# with SIP fronts on 127.0.0.1; each call: a p2p-call answering at node 1,
# registered and found in the overlay, then a p2p-call dialing it from
# node 0; the time is from starting the dialing p2p-call to its
# "answered" event (its own registration, both phones' ICE gathering,
# the INVITE through the overlay and the answer). The first call starts
# 5 s after the overlay is up.
load ../tests/cli/lib_sip

setup() { sip_setup; }
teardown() { sip_teardown; }

@test "ice setup: dial to answered, the configured STUN server silent" {
	local dead t0 t1 k calls=${CALLS:-5}
	local -a times
	dead=$(sip_free_udp_port)
	sip_overlay 2 --ice --stun "127.0.0.1:$dead"
	sleep 5
	for ((k = 1; k <= calls; k++)); do
		call_start answer$k 1 answer --json
		call_wait_event answer$k registered 30 "$CALL_PID"
		sip_lookup_wait 0 "$(sip_aor 1)" 30
		t0=$(date +%s%N)
		call_start dial$k 0 dial "$(sip_aor 1)" --duration 1 --json
		call_wait_event dial$k answered 60 "$CALL_PID"
		t1=$(date +%s%N)
		times+=("$(((t1 - t0) / 1000000))")
		echo "# call $k: ${times[-1]} ms" >&3
		call_wait_event dial$k ended 30 "$CALL_PID"
	done
	echo "# median of $calls: $(printf '%s\n' "${times[@]}" | sort -n |
	    awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') ms" >&3
}
