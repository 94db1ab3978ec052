#!/usr/bin/env bats
# SIP over TLS at the front (p2p-node run --sip-tls): the server side of
# TLS for user agents, the node's certificate (or --sip-tls-cert),
# connections reused both ways. Fixtures in lib_sip.bash.

load lib_sip

setup() {
	sip_setup
	sip_have_front || skip "p2p-node has no --sip (SIP front not built)"
}

teardown() {
	sip_teardown
}

# tls_options I: one OPTIONS for the front itself over TLS to node I's
# --sip-tls address, the certificate checked against the overlay CA;
# prints what came back.
tls_options() {
	local tls=$1 ca=$2
	printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls-probe\r\nMax-Forwards: 70\r\nFrom: <sip:probe@test.p2psip>;tag=p1\r\nTo: <sip:%s>\r\nCall-ID: tls-probe-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
	    "$tls" "$tls" |
	    timeout 10 openssl s_client -connect "$tls" -quiet -CAfile "$ca" \
	    -verify_return_error 2>"$NT_DIR/s_client.err" || true
}

@test "--sip-tls: OPTIONS over TLS is answered; the certificate is the node's, from the overlay CA; sip.status names the address" {
	local st tls out
	node_overlay 1
	sip_node_start 0 "" 127.0.0.1:0 --sip-tls 127.0.0.1:0
	st=$(sip_status 0)
	tls=$(jq -r .tls <<<"$st")
	[[ "$tls" == 127.0.0.1:* ]]
	[ "$tls" != "$(jq -r .udp <<<"$st")" ]
	out=$(tls_options "$tls" "$(node_dir 0)/ca.pem")
	echo "$out"
	grep -q '^SIP/2.0 200 ' <<<"$out"
	grep -q '^Allow: .*INVITE' <<<"$out"
	# the certificate carries the node's Node-ID
	openssl s_client -connect "$tls" -showcerts </dev/null 2>/dev/null |
	    openssl x509 -noout -ext subjectAltName |
	    grep -qi "${NT_NODE_ID[0]}"
	# a stream that is not SIP is closed, the front goes on
	printf 'hello\r\n\r\nnot sip at all\r\n\r\n' | timeout 10 openssl s_client \
	    -connect "$tls" -quiet 2>/dev/null || true
	grep -q '^SIP/2.0 200 ' <<<"$(tls_options "$tls" "$(node_dir 0)/ca.pem")"
	[ "$(jq .stats.malformed <<<"$(sip_status 0)")" -ge 1 ]
}

@test "--sip-tls: usage errors" {
	node_overlay 1
	run p2p-node run --dir "$(node_dir 0)" --sip-tls 5061
	[ "$status" -eq 2 ]
	[[ "$output" == *"--sip-tls: only with --sip"* ]]
	run p2p-node run --dir "$(node_dir 0)" --sip 0 --sip-tls 0 \
	    --sip-tls-cert "$(node_dir 0)/cert.pem"
	[ "$status" -eq 2 ]
	run p2p-node run --dir "$(node_dir 0)" --sip 0 \
	    --sip-tls-cert "$(node_dir 0)/cert.pem" \
	    --sip-tls-key "$(node_dir 0)/key.pem"
	[ "$status" -eq 2 ]
	run p2p-node run --dir "$(node_dir 0)" --listen 127.0.0.1:0 --sip 0 \
	    --sip-tls nonsense
	[ "$status" -ne 0 ]
	[[ "$output" == *"--sip-tls nonsense"* ]]
}

@test "baresip registered over TLS at node 2 of 3 auto-answers a SIPp call from node 0; requests reach it over its own connection" {
	local st
	node_overlay 3
	sip_node_start 0 || return 1
	sip_node_start 1 "${NT_NODE_ADDR[0]}"
	sip_node_start 2 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-tls 127.0.0.1:0
	node_wait_ring 120
	st=$(sip_status 2)

	baresip_start b "$(sip_aor 2)" "$(jq -r .tls <<<"$st" | cut -d: -f2)" \
	    "" "" tls "$(node_dir 2)/ca.pem"
	baresip_wait b "$(sip_aor 2): .*200 OK" 30
	# the binding's contact is a TLS one
	[[ "$(jq -r '.bindings[0].contact' <<<"$(sip_status 2)")" == \
	    *transport=tls* ]]
	sip_lookup_wait 0 "$(sip_aor 2)" 30

	sip_call uac 0 "$(sip_name 2)" 2000
	[ "$SIPP_EXIT" -eq 0 ]
	[ "$(sipp_calls uac)" = "1 0" ]
	[ "$(sipp_received uac 200)" -ge 2 ]
	baresip_wait b "Call established: sip:$(sip_aor 0)" 10
	baresip_wait b "Call with sip:$(sip_aor 0) terminated" 10
	# node 2 put a TLS Record-Route for baresip, node 0 a UDP one for SIPp
	grep -q "transport=tls;lr;p2pnode=${NT_NODE_ID[2]}" \
	    "$NT_DIR/sipp-uac.msg"
	_nt_running "$BARESIP_PID"
}

@test "--sip-tls-cert and --sip-tls-key: the front presents that certificate; a client checks it with the host name" {
	local d st tls out
	node_overlay 1
	d=$NT_DIR/front-cert
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=sip front" -addext "subjectAltName=IP:127.0.0.1" \
	    -days 2 -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$NT_USER:" "$d"
	fi
	chmod 0755 "$d"
	chmod 0600 "$d/key.pem"
	sip_node_start 0 "" 127.0.0.1:0 --sip-tls 127.0.0.1:0 \
	    --sip-tls-cert "$d/cert.pem" --sip-tls-key "$d/key.pem"
	tls=$(jq -r .tls <<<"$(sip_status 0)")
	out=$(printf 'OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-tls-probe2\r\nMax-Forwards: 70\r\nFrom: <sip:probe@test.p2psip>;tag=p2\r\nTo: <sip:%s>\r\nCall-ID: tls-probe-2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n' \
	    "$tls" "$tls" | timeout 10 openssl s_client -connect "$tls" \
	    -quiet -CAfile "$d/cert.pem" -verify_ip 127.0.0.1 \
	    -verify_return_error 2>/dev/null || true)
	echo "$out"
	grep -q '^SIP/2.0 200 ' <<<"$out"
	# the node's own certificate is not what it presents now
	openssl s_client -connect "$tls" </dev/null 2>/dev/null |
	    grep -q 'subject=CN = sip front'
}

@test "p2p-call --tls: a message from a UDP phone and a call between phones on TLS at two fronts, audio both ways; the front's certificate is checked against the overlay CA" {
	command -v p2p-call >/dev/null 2>&1 || skip "p2p-call not built"
	node_overlay 3
	sip_node_start 0 || return 1
	sip_node_start 1 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-tls 127.0.0.1:0
	sip_node_start 2 "${NT_NODE_ADDR[0]}" 127.0.0.1:0 \
	    --sip-tls 127.0.0.1:0
	node_wait_ring 120

	# A CA that did not issue the front's certificate: no registration.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj "/CN=another CA" -days 2 -keyout "$NT_DIR/other-ca.key" \
	    -out "$NT_DIR/other-ca.pem" 2>/dev/null
	run p2p-call --dir "$(node_dir 1)" --tls --ca "$NT_DIR/other-ca.pem" \
	    --json register
	echo "$output"
	[ "$status" -eq 3 ]
	[[ "$output" == *"certificate verify failed"* ]]
	# A front without TLS says so.
	run p2p-call --dir "$(node_dir 0)" --tls register
	[ "$status" -eq 1 ]
	[[ "$output" == *"takes no TLS"* ]]
	run p2p-call --no-register --tls --proxy 127.0.0.1:5061 \
	    dial "$(sip_aor 2)"
	[ "$status" -eq 2 ]

	call_two_phones tls
}
