#!/usr/bin/env bats
# SIP end-to-end: the SIP front of p2p-node (`run --sip`) as registrar and
# proxy for plain SIP user agents, through real overlays on 127.0.0.1.
# The user agents are SIPp (scenarios in tests/sip/), baresip (headless)
# and p2p-call. Fixtures in lib_sip.bash (on top of lib_node.bash): node
# I's certificate carries the user "userI@test.p2psip", the only AOR its
# front registers. Every process is started by the fixtures, recorded by
# PID and killed by PID in teardown.

load lib_sip

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
}

teardown() {
	sip_teardown
}

# ---- a call through the overlay --------------------------------------------

@test "SIPp UAC at node 1 calls SIPp UAS at node 3 of 5: REGISTER, INVITE/180/200/ACK, BYE/200 along the Record-Route" {
	local st up f
	sip_overlay 5

	# What the front says about itself, and the user it serves.
	[ "$(sip_cert_user 3)" = "$(sip_aor 3)" ]
	st=$(sip_status 3)
	[ "$(jq -r .udp <<<"$st")" = "${SIP_UDP[3]}" ]
	[ "$(jq -r '.aors | join(",")' <<<"$st")" = "$(sip_aor 3)" ]
	[ "$(jq -r .node_id <<<"$st")" = "${NT_NODE_ID[3]}" ]
	[ "$(jq '.bindings | length' <<<"$st")" -eq 0 ]

	# The callee registers from the port its UAS will listen on.
	up=$(sip_free_udp_port)
	sip_register reg3 3 "$(sip_name 3)" "$up"
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls reg3)" = "1 0" ]
	st=$(sip_status 3)
	[[ "$(jq -r --arg a "$(sip_aor 3)" \
	    '[.bindings[] | select(.aor == $a) | .contact] | join(" ")' \
	    <<<"$st")" == *"127.0.0.1:$up"* ]]
	sip_lookup_wait 1 "$(sip_aor 3)" 30
	# the same for people: p2p-node sip
	run p2p-node sip --dir "$(node_dir 3)"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"front          udp and tcp ${SIP_UDP[3]}"* ]]
	grep -qE "^user +$(sip_aor 3)\$" <<<"$output"
	grep -qE "^binding +$(sip_aor 3) .*127\.0\.0\.1:$up" <<<"$output"
	grep -qE '^received +[1-9][0-9]*$' <<<"$output"

	sipp_start uas uas -p "$up" -m 1 -timeout 90s -timeout_error
	sip_wait_udp "$up"

	# The caller registers at its own node, then calls from that port.
	sip_call uac 1 "$(sip_name 3)" 1000
	sip_call_ok uac uas

	# Loose routing: the 200 carries the front's Record-Route with ;lr,
	# and the ACK and the BYE went out with a Route header to it.
	f=$NT_DIR/sipp-uac.msg
	grep -qE "^Record-Route:.*127\.0\.0\.1:$(sip_front_port 1)[;>].*lr" "$f"
	[ "$(grep -A4 -E '^(ACK|BYE) ' "$f" | grep -c '^Route: .*;lr')" -ge 2 ]
	# The callee saw the request for its AOR, via the proxy.
	grep -q "^INVITE .*" "$NT_DIR/sipp-uas.msg"
	grep -q "^BYE " "$NT_DIR/sipp-uas.msg"
}

# ---- baresip ----------------------------------------------------------------

@test "baresip registered at node 2 of 3 auto-answers a SIPp call from node 0; the call ends cleanly" {
	sip_overlay 3

	baresip_start b "$(sip_aor 2)" "$(sip_front_port 2)"
	baresip_wait b "$(sip_aor 2): .*200 OK" 30
	sip_lookup_wait 0 "$(sip_aor 2)" 30

	sip_call uac 0 "$(sip_name 2)" 2000
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls uac)" = "1 0" ]
	[ "$(sipp_received uac 200)" -ge 2 ]
	# baresip answered with an SDP answer of its own
	# (baresip says "200 Answering")
	grep -A30 "^SIP/2.0 200 " "$NT_DIR/sipp-uac.msg" | grep -q '^m=audio '

	baresip_wait b "Call established: sip:$(sip_aor 0)" 10
	baresip_wait b "Call with sip:$(sip_aor 0) terminated" 10
	_nt_running "$BARESIP_PID"
}

# ---- refusals ---------------------------------------------------------------

@test "a retransmitted REGISTER (the same datagram again) gets the same 200; the front keeps no transaction for a REGISTER it has answered" {
	local out
	sip_overlay 2
	# The same REGISTER twice from one socket, 1 s apart: each gets a 200
	# naming the one binding; a REGISTER with Expires 0 then removes it.
	out=$(python3 - "$(sip_front_port 1)" "$(sip_aor 1)" <<'PY'
import socket, sys
port, aor = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
def reg(cseq, expires):
    return ("REGISTER sip:%s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKrtx%d;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: <sip:%s>;tag=rt\r\n"
            "To: <sip:%s>\r\n"
            "Call-ID: rtx-%d@127.0.0.1\r\n"
            "CSeq: %d REGISTER\r\n"
            "Contact: <sip:rtx@127.0.0.1:%d>\r\n"
            "Expires: %d\r\n"
            "Content-Length: 0\r\n\r\n") % (aor.split("@")[1], me, cseq,
            aor, aor, me, cseq, me, expires)
def answer():
    s.settimeout(10)
    while True:
        d = s.recv(65535).decode()
        if not d.startswith("SIP/2.0 100 "):
            return d
def contacts(d):
    return sorted(l for l in d.split("\r\n") if l.lower().startswith("contact:"))
first = reg(1, 300).encode()
s.sendto(first, ("127.0.0.1", port))
a1 = answer()
import time
time.sleep(1)
s.sendto(first, ("127.0.0.1", port))
a2 = answer()
s.sendto(reg(2, 0).encode(), ("127.0.0.1", port))
a3 = answer()
print(a1.split("\r\n")[0], len(contacts(a1)), "rtx@127.0.0.1:%d" % me in a1)
print(a2.split("\r\n")[0], len(contacts(a2)), "rtx@127.0.0.1:%d" % me in a2)
print(a3.split("\r\n")[0], len(contacts(a3)))
PY
)
	echo "$out"
	[ "$(sed -n 1p <<<"$out")" = "SIP/2.0 200 OK 1 True" ]
	[ "$(sed -n 2p <<<"$out")" = "SIP/2.0 200 OK 1 True" ]
	[ "$(sed -n 3p <<<"$out")" = "SIP/2.0 200 OK 0" ]
	# Nothing lingers for them (a finished transaction is freed at the
	# front's next 100 ms tick).
	sleep 0.5
	[ "$(jq .stats.transactions <<<"$(sip_status 1)")" -eq 0 ]
	[ "$(jq '.bindings | length' <<<"$(sip_status 1)")" -eq 0 ]
}

@test "refusals: REGISTER of another node's AOR is 403; INVITE to an unregistered AOR is 404" {
	local st
	sip_overlay 3

	# node 1's front registers user1 only
	sip_register forbid 1 "$(sip_name 2)" "" register_forbidden
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls forbid)" = "1 0" ]
	[ "$(sipp_received forbid 403)" -eq 1 ]
	sip_register forbid9 1 user9 "" register_forbidden
	[ "$SIPP_EXIT" -eq 0 ]
	st=$(sip_status 1)
	[ "$(jq '.bindings | length' <<<"$st")" -eq 0 ]
	run sip_ctl 0 sip.lookup "{\"aor\":\"$(sip_aor 2)\"}"
	[ "$status" -ne 0 ]
	# the register scenario itself fails on a 403
	sip_register wrong 1 "$(sip_name 2)"
	[ "$SIPP_EXIT" -ne 0 ]

	# Nobody has registered user2: 404 from the caller's front.
	sipp_run nf invite_404 -s "$(sip_name 2)" -key caller "$(sip_name 0)" \
	    -m 1 -timeout 60s -timeout_error "${SIP_UDP[0]}"
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls nf)" = "1 0" ]
	[ "$(sipp_received nf 404)" -ge 1 ]
	# nor anybody else at all
	sipp_run nf2 invite_404 -s nobody -key caller "$(sip_name 0)" \
	    -m 1 -timeout 60s -timeout_error "${SIP_UDP[0]}"
	[ "$SIPP_EXIT" -eq 0 ]
}

@test "refusals: INVITE to an AOR whose node has been killed is 480 or 408 within the transaction timer" {
	local up t0 el
	sip_overlay 5

	up=$(sip_free_udp_port)
	sip_register reg4 4 "$(sip_name 4)" "$up"
	[ "$SIPP_EXIT" -eq 0 ]
	sip_lookup_wait 1 "$(sip_aor 4)" 30
	sip_node_kill 4
	run node_alive 4
	[ "$status" -ne 0 ]
	# The registration outlives its node (the overlay keeps replicas).
	sip_lookup_wait 1 "$(sip_aor 4)" 30

	t0=$(date +%s)
	sipp_run gone invite_unavailable -s "$(sip_name 4)" \
	    -key caller "$(sip_name 1)" -m 1 -max_invite_retrans 7 \
	    -timeout 60s -timeout_error "${SIP_UDP[1]}"
	el=$(($(date +%s) - t0))
	echo "final answer after ${el}s: 480 x$(sipp_received gone 480)," \
	    "408 x$(sipp_received gone 408)" >&2
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls gone)" = "1 0" ]
	[ $(($(sipp_received gone 480) + $(sipp_received gone 408))) -ge 1 ]
	# RFC 3261 Timer B / C: 64*T1 = 32 s, plus slack for the sanitizers
	[ "$el" -le 40 ]
	# the caller's node is unharmed
	sip_status 1 >/dev/null
}

@test "garbage, truncated and oversized datagrams are dropped or answered 400; the front still answers sip.status and OPTIONS" {
	local port out k st
	sip_overlay 1
	port=$(sip_front_port 0)

	for k in garbage text nohdr; do
		out=$(sip_udp_probe "$port" "$k" 1)
		echo "$k: $out" >&2
		[[ "$out" == "no answer" || "$out" == "SIP/2.0 400 "* ]]
	done
	# Content-Length larger than the datagram (RFC 3261 18.3)
	out=$(sip_udp_probe "$port" badcl 1)
	echo "badcl: $out" >&2
	[[ "$out" == "no answer" || "$out" == "SIP/2.0 400 "* ]]
	# a well-formed 10 KB OPTIONS: anything but a crash or a hang
	out=$(sip_udp_probe "$port" big10k 1)
	echo "big10k: $out" >&2
	[[ "$out" == "no answer" || "$out" =~ ^SIP/2\.0\ (200|400|413|513)\  ]]
	# the largest UDP datagram there is (65507 bytes)
	out=$(sip_udp_probe "$port" huge 1)
	echo "huge: $out" >&2
	[[ "$out" == "no answer" || "$out" =~ ^SIP/2\.0\ (400|413|513)\  ]]
	# 100 KB over TCP
	out=$(sip_tcp_probe "$port" 102400)
	echo "tcp 100 KB: $out" >&2
	[[ "$out" == closed || "$out" == "no answer" ||
	    "$out" =~ ^SIP/2\.0\ (400|413|513)\  ]]

	node_alive 0
	st=$(sip_status 0)
	[ "$(jq -r .udp <<<"$st")" = "${SIP_UDP[0]}" ]
	out=$(sip_udp_probe "$port" options 5)
	[[ "$out" == "SIP/2.0 200 "* ]]
	sipp_run opt options -m 1 -timeout 20s -timeout_error "${SIP_UDP[0]}"
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls opt)" = "1 0" ]
}

@test "refusals: a 503 from the callee's phone reaches the caller as 500 (RFC 3261 s16.7)" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	local up pid
	sip_overlay 3
	up=$(sip_free_udp_port)
	sip_register reg2 2 "$(sip_name 2)" "$up"
	[ "$SIPP_EXIT" -eq 0 ]
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	sipp_start una uas_unavailable -p "$up" -m 1 -timeout 60s \
	    -timeout_error
	pid=$SIPP_PID
	sip_wait_udp "$up"
	run p2p-call --dir "$(node_dir 1)" --json dial "$(sip_aor 2)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(jq -r 'select(.event == "failed") | .status' \
	    <<<"$(grep '^{' <<<"$output")")" = 500 ]
	# the phone got the ACK for its 503
	sipp_wait "$pid" 30
	[ "$SIPP_EXIT" -eq 0 ]
}

# ---- p2p-call ---------------------------------------------------------------

@test "p2p-call: answer at node 3, dial from node 1 of 5: ringing, answered, 3 s of audio each way, ended; messages both ways" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	local wavcmp apid dpid c
	wavcmp=$(command -v wavcmp || echo "$BATS_TEST_DIRNAME/../../build/san/kit/wavcmp")
	[ -x "$wavcmp" ]
	sip_overlay 5

	# Two different test signals: each side must hear the other's.
	sip_chirp "$NT_DIR/a.wav" 4 200-3400
	sip_chirp "$NT_DIR/b.wav" 4 3400-200

	call_start answer 3 answer --play "$NT_DIR/a.wav" \
	    --record "$NT_DIR/a-heard.wav" --json
	apid=$CALL_PID
	sip_lookup_wait 1 "$(sip_aor 3)" 30

	# A message to the waiting callee.
	run p2p-call --dir "$(node_dir 1)" message "$(sip_aor 3)" "hello from 1"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event answer message 20 "$apid"
	jq -r 'select((.event // .type) == "message") | .text' \
	    "$NT_DIR/answer.events" | grep -qx "hello from 1"

	call_start dial 1 dial "$(sip_aor 3)" --duration 3 \
	    --play "$NT_DIR/b.wav" --record "$NT_DIR/b-heard.wav" --json
	dpid=$CALL_PID
	call_wait_event dial ringing 30 "$dpid"
	call_wait_event dial answered 30 "$dpid"
	call_wait_event answer answered 10 "$apid"

	# The other way, during the call: to the caller's AOR.
	run p2p-call --dir "$(node_dir 3)" message "$(sip_aor 1)" "hello from 3"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event dial message 10 "$dpid"
	jq -r 'select((.event // .type) == "message") | .text' \
	    "$NT_DIR/dial.events" | grep -qx "hello from 3"

	# both sides sent and received RTP for the length of the call
	call_finish dial answer "$dpid" "$apid" 100
	run grep -qx failed < <(call_events dial)
	[ "$status" -ne 0 ]

	# ringing before answered before ended, on the caller's side
	[ "$(call_events dial | grep -xE 'ringing|answered|ended' |
	    uniq | tr '\n' ' ')" = "ringing answered ended " ]

	# Each recording is the other side's signal.
	[ -s "$NT_DIR/a-heard.wav" ]
	[ -s "$NT_DIR/b-heard.wav" ]
	c=$("$wavcmp" "$NT_DIR/b.wav" "$NT_DIR/a-heard.wav")
	echo "callee heard the caller: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
	c=$("$wavcmp" "$NT_DIR/a.wav" "$NT_DIR/b-heard.wav")
	echo "caller heard the callee: $c" >&2
	awk '{ exit !($2 > 0.9) }' <<<"$c"
}

@test "p2p-call in an ICE overlay on 127.0.0.1: a dial hung up while candidates are gathered sends no INVITE; a call takes an ICE pair on the nodes' address" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	local dead apid
	# A TURN server that answers an Allocate without credentials (as
	# any does, with 401) but never one with them: the node takes it
	# for a live server, and each gathering waits seconds for the
	# relayed candidate. (A silent server would not do: the node finds
	# it silent and its agents leave it out.)
	dead=$(sip_free_udp_port)
	"${SIP_EXEC[@]}" python3 "$BATS_TEST_DIRNAME/../sip/turn_401.py" \
	    "$dead" >"$NT_DIR/turn401.log" 2>&1 &
	NT_PIDS+=("$!")
	sip_overlay 2 --ice --turn "127.0.0.1:$dead" --turn-credentials u:p
	[ "$(sip_status 1 | jq -r '.media_ice.local_ip')" = 127.0.0.1 ]
	sip_chirp "$NT_DIR/a.wav" 2 200-3400
	call_start answer 1 answer --json --play "$NT_DIR/a.wav"
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid"
	sip_lookup_wait 0 "$(sip_aor 1)" 30

	# --timeout 1: given up before the INVITE could go out.
	run p2p-call --dir "$(node_dir 0)" --timeout 1 --json dial \
	    "$(sip_aor 1)"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(grep '"event":"failed"' <<<"$output" | jq .status)" -eq 487 ]
	sleep 1
	! grep -q '"event":"incoming"' "$NT_DIR/answer.events"

	# A call: the pair is between the two phones' host candidates on
	# 127.0.0.1, where the nodes listen (not the machine's other
	# interfaces), and the audio arrives over it.
	call_start dial 0 dial "$(sip_aor 1)" --duration 2 --json
	call_wait_event dial media 60 "$CALL_PID"
	[[ "$(jq -r 'select(.event == "media") | .ice_pair' \
	    "$NT_DIR/dial.events")" =~ ^host\ 127\.0\.0\.1:[0-9]+\ -\>\ host\ 127\.0\.0\.1:[0-9]+$ ]]
	call_wait_event dial ended 30 "$CALL_PID"
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/dial.events")" -ge 50 ]
}

@test "p2p-call in an ICE overlay: a callee killed mid-call is noticed by ICE consent freshness; the caller sends BYE and ends" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	local apid dpid
	sip_overlay 2 --ice
	sip_chirp "$NT_DIR/a.wav" 1 200-3400
	call_start answer 1 answer --json --play "$NT_DIR/a.wav"
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid"
	sip_lookup_wait 0 "$(sip_aor 1)" 30
	call_start dial 0 dial "$(sip_aor 1)" --duration 600 --json
	dpid=$CALL_PID
	call_wait_event dial media 60 "$dpid"
	call_wait_event answer media 30 "$apid"
	# The callee's phone dies without a word: its checks stop being
	# answered, and after RFC 7675's 30 s the caller's pair is lost.
	kill -KILL "$apid"
	call_wait_event dial ended 90 "$dpid"
	cat "$NT_DIR/dial.events"
	[[ "$(jq -r 'select(.event == "ended") | .reason' \
	    "$NT_DIR/dial.events")" == "no media path: ICE consent lost" ]]
	node_wait_exit "$dpid" 20
	[ "$NT_EXIT" -eq 1 ]
	grep -q "sip: BYE " "$(node_log 0)"
}

@test "p2p-call --tcp: a message from a UDP phone and a call from a TCP phone, both through the fronts, audio both ways" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	sip_overlay 3
	call_two_phones tcp

	# over TCP everything goes to a proxy: none, no call
	run p2p-call --no-register --tcp dial "$(sip_aor 2)"
	[ "$status" -eq 2 ]
	[[ "$output" == *"--tcp"* ]]
}
