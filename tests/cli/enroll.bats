#!/usr/bin/env bats
# p2p-enroll against a live "p2p-ca serve" on 127.0.0.1.

load helpers

OVERLAY=enroll.test

setup() {
	p2p_setup
	CA=$P2P_TMP/ca
	p2p_ca_setup "$CA" "$OVERLAY" --max-ids-per-user 3
	p2p_ca_user "$CA" alice alice-pw
	p2p_ca_user "$CA" bob bob-pw
	p2p_ca_user "$CA" carol carol-pw --quota 1
	p2p_ca_serve "$CA"
}

teardown() {
	p2p_teardown
}

# post_form OUT FIELDS...: a raw enrollment POST with curl, trusting the
# root; prints the HTTP status.
post_form() {
	local out=$1
	shift
	curl -s --cacert "$CA/ca.pem" -o "$out" -w '%{http_code}' \
	    -H 'Accept: application/pkix-cert' "$@" "$P2P_CA_URL/enroll"
}

@test "enroll prints the Node-ID that the certificate carries" {
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9a-f]{32}$ ]]
	[ "$(p2p_cert_node_ids "$P2P_TMP/n1/cert.pem")" = "$output" ]
	openssl verify -CAfile "$CA/ca.pem" "$P2P_TMP/n1/cert.pem"
	openssl verify -CAfile "$P2P_TMP/n1/ca.pem" "$P2P_TMP/n1/cert.pem"
	openssl x509 -in "$P2P_TMP/n1/cert.pem" -noout -ext subjectAltName |
	    grep -q 'email:alice'
	[ "$(stat -c %a "$P2P_TMP/n1")" = 700 ]
	[ "$(stat -c %a "$P2P_TMP/n1/key.pem")" = 600 ]
	cmp "$P2P_TMP/n1/ca.pem" "$CA/ca.pem"
	grep -q 'instance-name="enroll.test"' "$P2P_TMP/n1/overlay.xml"
	grep -q "issued serial .* to alice" "$P2P_CA_LOG"
}

@test "enroll --json has node_ids, user, cert and overlay" {
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA" --json --ids 2
	[ "$status" -eq 0 ]
	[ "$(jq -r '.user' <<<"$output")" = alice ]
	[ "$(jq -r '.overlay' <<<"$output")" = "$OVERLAY" ]
	[ "$(jq -r '.cert' <<<"$output")" = "$P2P_TMP/n1/cert.pem" ]
	[ "$(jq -r '.node_ids | length' <<<"$output")" = 2 ]
	jq -r '.node_ids[]' <<<"$output" | grep -qE '^[0-9a-f]{32}$'
	[ "$(jq -r '.node_ids[]' <<<"$output" | sort)" = \
	    "$(p2p_cert_node_ids "$P2P_TMP/n1/cert.pem" | sort)" ]
}

@test "three users get distinct random Node-IDs; each cert verifies" {
	p2p_ca_user "$CA" dave dave-pw
	a=$(p2p_enroll_node "$P2P_TMP/a" alice "$CA")
	b=$(p2p_enroll_node "$P2P_TMP/b" bob "$CA")
	d=$(p2p_enroll_node "$P2P_TMP/d" dave "$CA")
	[ "$a" != "$b" ] && [ "$a" != "$d" ] && [ "$b" != "$d" ]
	for n in a b d; do
		openssl verify -CAfile "$CA/ca.pem" "$P2P_TMP/$n/cert.pem"
	done
	openssl x509 -in "$P2P_TMP/b/cert.pem" -noout -text | grep -q 'email:bob'
}

@test "the same user re-enrolling gets the same Node-IDs back" {
	first=$(p2p_enroll_node "$P2P_TMP/n1" alice "$CA" --ids 2)
	again=$(p2p_enroll_node "$P2P_TMP/n2" alice "$CA" --ids 2)
	[ "$first" = "$again" ]
	one=$(p2p_enroll_node "$P2P_TMP/n3" alice "$CA")
	[ "$one" = "$(head -1 <<<"$first")" ]
	# two different certificates (fresh keys), same identities
	! cmp -s "$P2P_TMP/n1/cert.pem" "$P2P_TMP/n2/cert.pem"
}

@test "wrong password: 403 failed_authentication, exit 1, server goes on" {
	printf 'not-it\n' >"$P2P_TMP/wrong.pw"
	run p2p-enroll --server "$P2P_CA_URL" --user alice \
	    --password-file "$P2P_TMP/wrong.pw" --dir "$P2P_TMP/n1" \
	    --ca-cert "$CA/ca.pem"
	[ "$status" -eq 1 ]
	[[ "$output" == *failed_authentication* ]]
	[ ! -e "$P2P_TMP/n1/cert.pem" ]
	grep -q "refused alice .*failed_authentication (wrong password)" \
	    "$P2P_CA_LOG"
	# unknown user: the same answer
	printf 'x\n' >"$P2P_TMP/nobody.pw"
	run p2p-enroll --server "$P2P_CA_URL" --user nobody \
	    --password-file "$P2P_TMP/nobody.pw" --dir "$P2P_TMP/n1" \
	    --ca-cert "$CA/ca.pem"
	[ "$status" -eq 1 ]
	[[ "$output" == *failed_authentication* ]]
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA"
	[ "$status" -eq 0 ]
	[ "$(p2p-ca list --dir "$CA" --json | jq length)" = 1 ]
}

@test "over quota: Node-IDs_not_available" {
	run p2p_enroll_node "$P2P_TMP/n1" carol "$CA" --ids 2
	[ "$status" -eq 1 ]
	[[ "$output" == *Node-IDs_not_available* ]]
	grep -q "refused carol .*Node-IDs_not_available" "$P2P_CA_LOG"
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA" --ids 4
	[ "$status" -eq 1 ]
	[[ "$output" == *Node-IDs_not_available* ]]
	run p2p_enroll_node "$P2P_TMP/n1" carol "$CA"
	[ "$status" -eq 0 ]
	[ "$(p2p-ca list --dir "$CA" --json | jq length)" = 1 ]
}

@test "malformed and weak CSRs: bad_CSR" {
	printf 'garbage' >"$P2P_TMP/bad.csr"
	code=$(post_form "$P2P_TMP/out" -F username=alice -F password=alice-pw \
	    -F "csr=@$P2P_TMP/bad.csr;type=application/pkcs10")
	[ "$code" = 403 ]
	[ "$(cat "$P2P_TMP/out")" = bad_CSR ]
	openssl req -new -newkey rsa:512 -nodes -keyout "$P2P_TMP/weak.key" \
	    -subj / -outform DER -out "$P2P_TMP/weak.csr" 2>/dev/null
	code=$(post_form "$P2P_TMP/out" -F username=alice -F password=alice-pw \
	    -F "csr=@$P2P_TMP/weak.csr;type=application/pkcs10")
	[ "$code" = 403 ]
	[ "$(cat "$P2P_TMP/out")" = bad_CSR ]
	grep -q "refused alice .*bad_CSR" "$P2P_CA_LOG"
	[ "$(p2p-ca list --dir "$CA" --json | jq length)" = 0 ]
}

@test "a request naming its own Node-ID is refused" {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$P2P_TMP/k" -subj / -outform DER -out "$P2P_TMP/ok.csr" \
	    2>/dev/null
	code=$(post_form "$P2P_TMP/out" -F username=alice -F password=alice-pw \
	    -F nodeid=00112233445566778899aabbccddeeff \
	    -F "csr=@$P2P_TMP/ok.csr;type=application/pkcs10")
	[ "$code" = 403 ]
	[ "$(cat "$P2P_TMP/out")" = Node-IDs_not_available ]
	openssl req -new -key "$P2P_TMP/k" -subj / -outform DER \
	    -addext "subjectAltName=URI:reload://011000112233445566778899aabbccddeeff@$OVERLAY/" \
	    -out "$P2P_TMP/san.csr"
	code=$(post_form "$P2P_TMP/out" -F username=alice -F password=alice-pw \
	    -F "csr=@$P2P_TMP/san.csr;type=application/pkcs10")
	[ "$code" = 403 ]
	[ "$(cat "$P2P_TMP/out")" = bad_CSR ]
	# the plain CSR is fine, and gets a CA-chosen Node-ID
	code=$(post_form "$P2P_TMP/cert.der" -F username=alice \
	    -F password=alice-pw -F "csr=@$P2P_TMP/ok.csr;type=application/pkcs10")
	[ "$code" = 200 ]
	openssl x509 -inform DER -in "$P2P_TMP/cert.der" -out "$P2P_TMP/c.pem"
	[ "$(p2p_cert_node_ids "$P2P_TMP/c.pem")" != \
	    00112233445566778899aabbccddeeff ]
}

@test "an unpinned server is refused with the fingerprint to pin" {
	fp=$(p2p_fingerprint "$CA/ca.pem")
	run p2p-enroll --server "$P2P_CA_URL" --user alice \
	    --password-file "$P2P_TMP/alice.pw" --dir "$P2P_TMP/n1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"--ca-fingerprint $fp"* ]]
	[ ! -e "$P2P_TMP/n1/key.pem" ]
	run p2p-enroll --server "$P2P_CA_URL" --user alice \
	    --password-file "$P2P_TMP/alice.pw" --dir "$P2P_TMP/n1" \
	    --ca-fingerprint "$fp"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^[0-9a-f]{32}$ ]]
}

@test "a wrong pin is refused" {
	other=SHA256:$(printf other | sha256sum | cut -c1-64)
	run p2p-enroll --server "$P2P_CA_URL" --user alice \
	    --password-file "$P2P_TMP/alice.pw" --dir "$P2P_TMP/n1" \
	    --ca-fingerprint "$other"
	[ "$status" -eq 1 ]
	[[ "$output" == *"matches --ca-fingerprint"* ]]
	[ ! -e "$P2P_TMP/n1/cert.pem" ]
	# another CA's root as --ca-cert fails too
	p2p_ca_setup "$P2P_TMP/other" other.test
	run p2p_enroll_node "$P2P_TMP/n1" alice "$P2P_TMP/other"
	[ "$status" -eq 1 ]
	[ ! -e "$P2P_TMP/n1/cert.pem" ]
}

@test "a burst of requests from one address gets 429" {
	codes=""
	for i in $(seq 1 15); do
		codes="$codes $(post_form /dev/null -F username=x -F password=y)"
	done
	[[ "$codes" == *429* ]]
	grep -q "429 (too many requests)" "$P2P_CA_LOG"
	# the configuration is still served
	curl -sf --cacert "$CA/ca.pem" -o /dev/null \
	    "$P2P_CA_URL/.well-known/reload-config"
}

@test "an oversized POST is cut off and the server still answers" {
	head -c 200000 /dev/zero >"$P2P_TMP/big"
	code=$(post_form "$P2P_TMP/out" -F username=alice -F password=alice-pw \
	    -F "csr=@$P2P_TMP/big;type=application/pkcs10" || true)
	[ "$code" = 413 ] || [ "$code" = 000 ]
	kill -0 "$P2P_CA_PID"
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA"
	[ "$status" -eq 0 ]
	[ "$(p2p-ca list --dir "$CA" --json | jq length)" = 1 ]
}

@test "a slow request is cut off" {
	p2p_ca_serve "$CA" --request-timeout 1
	start=$(date +%s)
	out=$( (printf 'POST /enroll HTTP/1.1\r\nHost: x\r\n'; sleep 4) |
	    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$P2P_CA_PORT" \
	    2>/dev/null || true)
	[[ "$out" == *"408"* ]]
	[ $(( $(date +%s) - start )) -lt 9 ]
	run p2p_enroll_node "$P2P_TMP/n1" alice "$CA"
	[ "$status" -eq 0 ]
}

@test "the server publishes the configuration with its content type" {
	ct=$(curl -s --cacert "$CA/ca.pem" -o "$P2P_TMP/cfg.xml" \
	    -w '%{content_type}' "$P2P_CA_URL/.well-known/reload-config")
	[ "$ct" = application/p2p-overlay+xml ]
	cmp "$P2P_TMP/cfg.xml" "$CA/overlay.xml"
	grep -q "<enrollment-server>$P2P_CA_URL/enroll</enrollment-server>" \
	    "$P2P_TMP/cfg.xml"
	grep -q "<p2psip:crl-url>$P2P_CA_URL/crl</p2psip:crl-url>" \
	    "$P2P_TMP/cfg.xml"
}

@test "self-signed: refused unless the configuration permits it" {
	run p2p-enroll --self-signed --config "$CA/overlay.xml" \
	    --dir "$P2P_TMP/s1"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not permit self-signed"* ]]
	[ ! -e "$P2P_TMP/s1/key.pem" ]
}

@test "self-signed: Node-ID is the SPKI digest when permitted" {
	p2p_ca_setup "$P2P_TMP/ss" selfsigned.test --self-signed-permitted
	run p2p-enroll --self-signed --config "$P2P_TMP/ss/overlay.xml" \
	    --dir "$P2P_TMP/s1" --user eve --json
	[ "$status" -eq 0 ]
	id=$(jq -r '.node_ids[0]' <<<"$output")
	[ "$(jq -r .overlay <<<"$output")" = selfsigned.test ]
	want=$(openssl x509 -in "$P2P_TMP/s1/cert.pem" -noout -pubkey |
	    openssl pkey -pubin -outform DER | sha256sum | cut -c1-32)
	[ "$id" = "$want" ]
	[ "$(p2p_cert_node_ids "$P2P_TMP/s1/cert.pem")" = "$want" ]
	[ "$(stat -c %a "$P2P_TMP/s1/key.pem")" = 600 ]
}

@test "usage errors exit 2, an unreachable server 3, no tty 1" {
	run p2p-enroll --user alice --dir "$P2P_TMP/n1"
	[ "$status" -eq 2 ]
	run p2p-enroll --server "$P2P_CA_URL" --user alice --dir "$P2P_TMP/n1" \
	    --ids 0 --password-file "$P2P_TMP/alice.pw"
	[ "$status" -eq 2 ]
	run p2p-enroll --help
	[ "$status" -eq 0 ]
	[[ "$output" == *--ca-fingerprint* ]]
	port=$(p2p_free_port)
	run p2p-enroll --server "https://127.0.0.1:$port" --user alice \
	    --password-file "$P2P_TMP/alice.pw" --dir "$P2P_TMP/n1" \
	    --ca-cert "$CA/ca.pem"
	[ "$status" -eq 3 ]
	run setsid -w p2p-enroll --server "$P2P_CA_URL" --user alice \
	    --dir "$P2P_TMP/n1" --ca-cert "$CA/ca.pem" </dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"--password-file"* ]]
}
