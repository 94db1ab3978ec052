#!/usr/bin/env bats
# Digest authentication at the SIP front (p2p-node run --sip-password-file,
# node_sip.c, sipauth.c): a user agent proves it knows the password of
# the node's user before it may register (401) or start a call or a
# message (407). SIPp answers the challenges with its -au and -ap
# options; baresip with its account's auth_pass. Requests that come
# from other nodes over AppAttach are not challenged.

load lib_sip

PASS='open sesame'

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
}

teardown() {
	sip_teardown
}

# pass_file I [TEXT]: a password file for node I, readable by the node's
# user only; prints its path.
pass_file() {
	local f
	f="$(node_dir "$1")/sip.pass"
	printf '%s\n' "${2:-$PASS}" >"$f"
	chmod 600 "$f"
	chown --reference="$(node_dir "$1")" "$f"
	echo "$f"
}

# raw_register PORT [HEADER]: one REGISTER of user1 from a python UDP
# socket; prints the whole answer (after a 100, if any).
raw_register() {
	python3 - "$1" "${2:-}" <<'PY'
import socket, sys
port, extra = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
msg = ("REGISTER sip:test.p2psip SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKraw%d;rport\r\n"
       "Max-Forwards: 70\r\n"
       "From: <sip:user1@test.p2psip>;tag=r1\r\n"
       "To: <sip:user1@test.p2psip>\r\n"
       "Call-ID: raw-%d@127.0.0.1\r\n"
       "CSeq: 1 REGISTER\r\n"
       "Contact: <sip:user1@127.0.0.1:%d>\r\n"
       "%s"
       "Content-Length: 0\r\n\r\n") % (me, me, me, me, extra)
s.sendto(msg.encode(), ("127.0.0.1", port))
s.settimeout(5)
while True:
    d = s.recv(65535).decode()
    if not d.startswith("SIP/2.0 100 "):
        print(d)
        break
PY
}

@test "--sip-password-file: REGISTER without credentials is challenged (401, Digest, the overlay as realm); SIPp registers with the password; a wrong one is challenged again" {
	local pf r st
	node_overlay 2
	sip_node_start 0 || return 1
	pf=$(pass_file 1)
	sip_node_start 1 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-password-file "$pf"
	node_wait_ring 60
	[ "$(jq -r .authentication <<<"$(sip_status 1)")" = true ]
	[ "$(jq -r .authentication <<<"$(sip_status 0)")" = false ]

	r=$(raw_register "$(sip_front_port 1)")
	[[ "$r" == "SIP/2.0 401 "* ]]
	grep -qE '^WWW-Authenticate: Digest realm="test.p2psip", nonce="[0-9a-f]{64}", algorithm=MD5, qop="auth"' <<<"$r"
	# made-up credentials: challenged again, not registered
	r=$(raw_register "$(sip_front_port 1)" 'Authorization: Digest username="user1", realm="test.p2psip", nonce="00000000000000000000000000000000000000000000000", uri="sip:test.p2psip", response="00000000000000000000000000000000"\r\n')
	[[ "$r" == "SIP/2.0 401 "* ]]
	[ "$(jq '.bindings | length' <<<"$(sip_status 1)")" -eq 0 ]

	sipp_run wrong register_auth -s user1 -key expires 300 \
	    -au user1 -ap 'not it' -m 1 -timeout 20s -timeout_error \
	    "${SIP_UDP[1]}"
	[ "$SIPP_EXIT" -ne 0 ]
	[ "$(sipp_received wrong 401)" -eq 2 ]
	[ "$(jq '.bindings | length' <<<"$(sip_status 1)")" -eq 0 ]

	sipp_run right register_auth -s user1 -key expires 300 \
	    -au user1 -ap "$PASS" -m 1 -timeout 20s -timeout_error \
	    "${SIP_UDP[1]}"
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls right)" = "1 0" ]
	sip_lookup_wait 0 "$(sip_aor 1)" 30
	st=$(sip_status 1)
	[ "$(jq '.bindings | length' <<<"$st")" -eq 1 ]
	[ "$(jq .stats.challenged <<<"$st")" -ge 4 ]
	# the node without a password still takes REGISTER as before
	sip_register plain 0 "$(sip_name 0)"
	[ "$SIPP_EXIT" -eq 0 ]
}

@test "an INVITE from a user agent needs the password (407); SIPp calls with it; the call that arrives over the overlay is not challenged; baresip registers with auth_pass" {
	local pf1 pf2 up cp
	node_overlay 3
	sip_node_start 0 || return 1
	pf1=$(pass_file 1)
	pf2=$(pass_file 2 'callee-secret')
	sip_node_start 1 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-password-file "$pf1"
	sip_node_start 2 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-password-file "$pf2"
	node_wait_ring 60

	# the callee: a SIPp UAS that registered at node 2 with its password
	up=$(sip_free_udp_port)
	sipp_run reg2 register_auth -s user2 -key expires 300 -p "$up" \
	    -au user2 -ap 'callee-secret' -m 1 -timeout 20s -timeout_error \
	    "${SIP_UDP[2]}"
	[ "$SIPP_EXIT" -eq 0 ]
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	sipp_start uas uas -p "$up" -m 1 -timeout 90s -timeout_error
	sip_wait_udp "$up"

	# the caller at node 1: INVITE, 407, ACK, INVITE with credentials
	cp=$(sip_free_udp_port)
	sipp_run uac uac_auth -s user2 -key caller user1 -p "$cp" \
	    -au user1 -ap "$PASS" -m 1 -d 500 -timeout 60s -timeout_error \
	    "${SIP_UDP[1]}"
	sip_call_ok uac uas
	[ "$(sipp_received uac 407)" -eq 1 ]
	# the UAS saw one INVITE, with no challenge on its side
	[ "$(grep -c '^INVITE ' "$NT_DIR/sipp-uas.msg")" -eq 1 ]
	! grep -q '^SIP/2.0 40[17] ' "$NT_DIR/sipp-uas.msg"

	# a MESSAGE without credentials is challenged too
	run sip_udp_probe "$(sip_front_port 1)" message 2
	[[ "$output" == *"SIP/2.0 407 "* ]]

	# baresip answers the challenge of its registrar
	baresip_start b "$(sip_aor 2)" "$(sip_front_port 2)" "" \
	    'callee-secret'
	baresip_wait b "$(sip_aor 2): .*200 OK" 30
}

@test "p2p-call --password-file answers the challenges: it registers, calls and sends a message through fronts that ask for a password; without it the REGISTER is refused" {
	local p1 p2 apid st
	node_overlay 3
	sip_node_start 0 || return 1
	p1=$(pass_file 1)
	p2=$(pass_file 2)
	sip_node_start 1 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-password-file "$p1"
	sip_node_start 2 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-password-file "$p2"
	node_wait_ring 60

	# Without the password: refused, and told what to give.
	run p2p-call --dir "$(node_dir 1)" --json register
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"give the same file with --password-file"* ]]
	[ "$(jq -r 'select(.event == "failed") | .status' \
	    <<<"$(grep '^{' <<<"$output")")" = 401 ]
	# A wrong password is no better.
	run p2p-call --dir "$(node_dir 1)" --json \
	    --password-file "$(pass_file 0 'not it')" register
	[ "$status" -eq 1 ]
	# A password file others may read is refused before anything.
	chmod 0644 "$p1"
	run p2p-call --dir "$(node_dir 1)" --password-file "$p1" register
	[ "$status" -eq 2 ]
	chmod 0600 "$p1"

	# With it: the callee waits at node 2, the caller dials from node 1.
	call_start answer 2 --password-file "$p2" --json answer
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid"
	sip_lookup_wait 1 "$(sip_aor 2)" 30
	run p2p-call --dir "$(node_dir 1)" --password-file "$p1" \
	    message "$(sip_aor 2)" "past the password"
	echo "$output"
	[ "$status" -eq 0 ]
	call_wait_event answer message 20 "$apid"
	run p2p-call --dir "$(node_dir 1)" --password-file "$p1" --json \
	    --duration 1 dial "$(sip_aor 2)"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '"event":"answered"' <<<"$output"
	call_wait_event answer ended 30 "$apid"
	# Each of those was challenged first and then let through.
	st=$(sip_status 1)
	[ "$(jq .stats.challenged <<<"$st")" -ge 4 ]
	[ "$(jq .stats.challenged <<<"$(sip_status 2)")" -ge 1 ]
}
