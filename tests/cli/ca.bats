#!/usr/bin/env bats
# p2p-ca: init, accounts, offline issuing, revocation, listing.

load helpers

OVERLAY=ca.test

setup() {
	p2p_setup
	CA=$P2P_TMP/ca
}

teardown() {
	p2p_teardown
}

# csr FILE: a P-256 PKCS#10 request (PEM) made by openssl.
csr() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$1.key" -subj / -out "$1" 2>/dev/null
}

@test "init writes the key, root and a signed configuration" {
	run p2p-ca init --dir "$CA" --overlay "$OVERLAY" \
	    --enroll-url https://127.0.0.1:4443/enroll \
	    --bootstrap 127.0.0.1:6084 --bootstrap '[::1]:6085' \
	    --max-ids-per-user 2
	[ "$status" -eq 0 ]
	[[ "$output" == *"$(p2p_fingerprint "$CA/ca.pem")"* ]]
	[ "$(stat -c %a "$CA")" = 700 ]
	[ "$(stat -c %a "$CA/ca.key")" = 600 ]
	[ "$(stat -c %a "$CA/users.json")" = 600 ]
	openssl x509 -in "$CA/ca.pem" -noout -ext basicConstraints |
	    grep -q 'CA:TRUE'
	openssl verify -CAfile "$CA/ca.pem" "$CA/signer.pem"
	x=$CA/overlay.xml
	grep -q 'instance-name="ca.test" sequence="1"' "$x"
	grep -q '<kind name="SIP-REGISTRATION">' "$x"
	run grep -c 'domain-restriction' "$x"	# any domain by default
	[ "$output" = 0 ]
	grep -q '<kind name="CERTIFICATE_BY_NODE">' "$x"
	grep -q '<no-ice>true</no-ice>' "$x"
	grep -q '<clients-permitted>true</clients-permitted>' "$x"
	grep -q '<overlay-link-protocol>TLS</overlay-link-protocol>' "$x"
	grep -q '<self-signed-permitted digest="sha256">false<' "$x"
	grep -q '<enrollment-server>https://127.0.0.1:4443/enroll<' "$x"
	grep -q '<p2psip:crl-url>https://127.0.0.1:4443/crl<' "$x"
	grep -q '<bootstrap-node address="127.0.0.1" port="6084"' "$x"
	grep -q '<bootstrap-node address="::1" port="6085"' "$x"
	grep -q '<signature>' "$x"
	signer=$(p2p_cert_node_ids "$CA/signer.pem")
	grep -q "<configuration-signer>$signer</configuration-signer>" "$x"
	# the root in the document is ca.pem
	b64=$(sed -n 's/.*<root-cert>\(.*\)<\/root-cert>.*/\1/p' "$x")
	[ "$b64" = "$(openssl x509 -in "$CA/ca.pem" -outform DER | base64 -w0)" ]
}

@test "init --ice writes no-ice false and the STUN and TURN servers" {
	run p2p-ca init --dir "$CA" --overlay "$OVERLAY" --ice \
	    --stun-server 127.0.0.1:3478 --turn-server 127.0.0.1:3479 \
	    --turn-server '[::1]:3480' --turn-credentials alice:s3cret
	[ "$status" -eq 0 ]
	x=$CA/overlay.xml
	grep -q '<no-ice>false</no-ice>' "$x"
	grep -q '<p2psip:stun-server address="127.0.0.1" port="3478"/>' "$x"
	grep -q '<p2psip:turn-server address="127.0.0.1" port="3479"/>' "$x"
	grep -q '<p2psip:turn-server address="::1" port="3480"/>' "$x"
	grep -q '<p2psip:turn-credentials username="alice" password="s3cret"/>' "$x"
	# servers without --ice, names, bad credentials
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c2" --overlay "$OVERLAY" \
	    --stun-server 127.0.0.1:3478
	[ "$status" -eq 1 ]
	[[ "$output" == *"need --ice"* ]]
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c3" --overlay "$OVERLAY" \
	    --ice --turn-server turn.example:3478
	[ "$status" -eq 1 ]
	[[ "$output" == *"numeric IP:PORT"* ]]
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c4" --overlay "$OVERLAY" \
	    --ice --turn-credentials nocolon
	[ "$status" -eq 1 ]
	[[ "$output" == *"USER:PASS"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/c4/ca.pem" ]
}

@test "init --sip-domain and --sip-own-domain write RFC 7904's domain-restriction; bad patterns are refused" {
	run p2p-ca init --dir "$CA" --overlay "$OVERLAY" \
	    --sip-domain 'ca\.test' --sip-domain '.*\.example<&>'
	[ "$status" -eq 0 ]
	x=$CA/overlay.xml
	grep -q '<sip:domain-restriction enable="true">' "$x"
	grep -q '<sip:pattern>ca\\.test</sip:pattern>' "$x"
	grep -q '<sip:pattern>\.\*\\\.example&lt;&amp;&gt;</sip:pattern>' "$x"
	# the restriction sits in the SIP-REGISTRATION kind, nowhere else
	[ "$(grep -c 'sip:domain-restriction enable' "$x")" -eq 1 ]
	sed -n '/<kind name="SIP-REGISTRATION">/,/<\/kind>/p' "$x" |
	    grep -q 'sip:domain-restriction'
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c2" --overlay "$OVERLAY" \
	    --sip-own-domain
	[ "$status" -eq 0 ]
	grep -q '<sip:domain-restriction enable="false">' \
	    "$BATS_TEST_TMPDIR/c2/overlay.xml"
	! grep -q 'sip:pattern' "$BATS_TEST_TMPDIR/c2/overlay.xml"
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c3" --overlay "$OVERLAY" \
	    --sip-own-domain --sip-domain 'x'
	[ "$status" -eq 2 ]
	[[ "$output" == *"exclude each other"* ]]
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c4" --overlay "$OVERLAY" \
	    --sip-domain 'a(b'
	[ "$status" -eq 1 ]
	[[ "$output" == *"--sip-domain a(b"* ]]
	run p2p-ca init --dir "$BATS_TEST_TMPDIR/c5" --overlay "$OVERLAY" \
	    --sip-domain '((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))'
	[ "$status" -eq 1 ]
	[[ "$output" == *"too deep"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/c5/ca.pem" ]
}

@test "init refuses a second CA in the same directory and bad options" {
	p2p_ca_setup "$CA" "$OVERLAY"
	run p2p-ca init --dir "$CA" --overlay "$OVERLAY"
	[ "$status" -eq 1 ]
	[[ "$output" == *"already holds a CA"* ]]
	run p2p-ca init --dir "$P2P_TMP/x" --overlay 'bad name'
	[ "$status" -eq 1 ]
	run p2p-ca init --dir "$P2P_TMP/x" --overlay ok.test --key-type dsa
	[ "$status" -eq 2 ]
	run p2p-ca init --dir "$P2P_TMP/x"
	[ "$status" -eq 2 ]
	run p2p-ca frobnicate
	[ "$status" -eq 2 ]
	run p2p-ca --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"p2p-ca revoke"* ]]
}

@test "init with an RSA key" {
	p2p_ca_setup "$CA" "$OVERLAY" --key-type rsa
	openssl x509 -in "$CA/ca.pem" -noout -text | grep -q 'rsaEncryption'
}

@test "user add, list, del; the password is stored only hashed" {
	p2p_ca_setup "$CA" "$OVERLAY"
	p2p_ca_user "$CA" alice 'correct horse' --quota 3
	p2p_ca_user "$CA" bob 'battery staple'
	! grep -q 'correct horse' "$CA/users.json"
	grep -q pbkdf2-hmac-sha256 "$CA/users.json"
	[ "$(stat -c %a "$CA/users.json")" = 600 ]
	run p2p-ca user list --dir "$CA" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[] | select(.user=="alice") | .quota' <<<"$output")" = 3 ]
	[ "$(jq -r '.[] | select(.user=="bob") | .quota' <<<"$output")" = 4 ]
	run p2p-ca user add --dir "$CA" --password-file "$P2P_TMP/alice.pw" alice
	[ "$status" -eq 1 ]
	[[ "$output" == *"already exists"* ]]
	run p2p-ca user del --dir "$CA" bob
	[ "$status" -eq 0 ]
	[ "$(p2p-ca user list --dir "$CA" --json | jq length)" = 1 ]
	run p2p-ca user del --dir "$CA" bob
	[ "$status" -eq 1 ]
	run p2p-ca user add --dir "$CA" alice
	[ "$status" -eq 2 ] || [ "$status" -eq 1 ]
}

@test "issue offline; list shows user, Node-IDs, serial, expiry" {
	p2p_ca_setup "$CA" "$OVERLAY"
	p2p_ca_user "$CA" alice pw
	csr "$P2P_TMP/a.csr"
	run p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice \
	    --ids 2 --out "$P2P_TMP/a.pem"
	[ "$status" -eq 0 ]
	openssl verify -CAfile "$CA/ca.pem" "$P2P_TMP/a.pem"
	[ "$(p2p_cert_node_ids "$P2P_TMP/a.pem" | wc -l)" = 2 ]
	run p2p-ca list --dir "$CA" --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].user' <<<"$output")" = alice ]
	[ "$(jq -r '.[0].revoked' <<<"$output")" = false ]
	[ "$(jq -r '.[0].node_ids | sort | join(",")' <<<"$output")" = \
	    "$(p2p_cert_node_ids "$P2P_TMP/a.pem" | sort | paste -sd,)" ]
	serial=$(openssl x509 -in "$P2P_TMP/a.pem" -noout -serial | cut -d= -f2)
	[ "$(jq -r '.[0].serial' <<<"$output")" = "$serial" ]
	[[ "$(jq -r '.[0].not_after' <<<"$output")" =~ ^20[0-9]{2}-.*Z$ ]]
	run p2p-ca list --dir "$CA"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$serial"* ]]
	# over quota, unknown user
	run p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice --ids 9
	[ "$status" -eq 1 ]
	[[ "$output" == *Node-IDs_not_available* ]]
	run p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user zed
	[ "$status" -eq 1 ]
}

@test "revoke by serial: the served CRL lists it, the config names it bad" {
	p2p_ca_setup "$CA" "$OVERLAY"
	p2p_ca_user "$CA" alice pw
	csr "$P2P_TMP/a.csr"
	p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice \
	    --out "$P2P_TMP/a.pem"
	serial=$(openssl x509 -in "$P2P_TMP/a.pem" -noout -serial | cut -d= -f2)
	id=$(p2p_cert_node_ids "$P2P_TMP/a.pem")
	p2p_ca_serve "$CA"
	curl -sf --cacert "$CA/ca.pem" -o "$P2P_TMP/crl0" "$P2P_CA_URL/crl"
	! openssl crl -inform DER -in "$P2P_TMP/crl0" -noout -text |
	    grep -q "$serial"
	run p2p-ca revoke --dir "$CA" "$serial"
	[ "$status" -eq 0 ]
	ct=$(curl -s --cacert "$CA/ca.pem" -o "$P2P_TMP/crl1" \
	    -w '%{content_type}' "$P2P_CA_URL/crl")
	[ "$ct" = application/pkix-crl ]
	openssl crl -inform DER -in "$P2P_TMP/crl1" -noout -text |
	    grep -q "Serial Number: $serial"
	openssl crl -inform DER -in "$P2P_TMP/crl1" -CAfile "$CA/ca.pem" \
	    -noout 2>&1 | grep -q 'verify OK'
	run openssl verify -crl_check -CAfile "$CA/ca.pem" \
	    -CRLfile <(openssl crl -inform DER -in "$P2P_TMP/crl1") "$P2P_TMP/a.pem"
	[ "$status" -ne 0 ]
	curl -sf --cacert "$CA/ca.pem" -o "$P2P_TMP/cfg" \
	    "$P2P_CA_URL/.well-known/reload-config"
	grep -q 'sequence="3"' "$P2P_TMP/cfg"
	grep -q "<bad-node>$id</bad-node>" "$P2P_TMP/cfg"
	[ "$(p2p-ca list --dir "$CA" --json | jq -r '.[0].revoked')" = true ]
	run p2p-ca revoke --dir "$CA" "$serial"
	[ "$status" -eq 0 ]
	[[ "$output" == *"already revoked"* ]]
	run p2p-ca revoke --dir "$CA" 0123
	[ "$status" -eq 1 ]
}

@test "revoke by Node-ID; the user then gets a fresh Node-ID" {
	p2p_ca_setup "$CA" "$OVERLAY"
	p2p_ca_user "$CA" alice pw
	csr "$P2P_TMP/a.csr"
	p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice \
	    --out "$P2P_TMP/a.pem"
	p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice \
	    --out "$P2P_TMP/b.pem"
	id=$(p2p_cert_node_ids "$P2P_TMP/a.pem")
	[ "$id" = "$(p2p_cert_node_ids "$P2P_TMP/b.pem")" ]
	run p2p-ca revoke --dir "$CA" "$id"
	[ "$status" -eq 0 ]
	[[ "$output" == *"revoked 2 "* ]]
	p2p-ca issue --dir "$CA" --csr "$P2P_TMP/a.csr" --user alice \
	    --out "$P2P_TMP/c.pem"
	[ "$(p2p_cert_node_ids "$P2P_TMP/c.pem")" != "$id" ]
	[ "$(p2p-ca list --dir "$CA" --json |
	    jq '[.[] | select(.revoked)] | length')" = 2 ]
}

@test "concurrent user adds all land (flock)" {
	p2p_ca_setup "$CA" "$OVERLAY"
	for i in 1 2 3 4 5; do
		printf 'pw%s\n' "$i" >"$P2P_TMP/u$i.pw"
		p2p-ca user add --dir "$CA" --password-file "$P2P_TMP/u$i.pw" \
		    "u$i" >/dev/null &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	[ "$(p2p-ca user list --dir "$CA" --json | jq length)" = 5 ]
}

@test "man pages render" {
	command -v man >/dev/null || skip "man is not installed"
	root=$BATS_TEST_DIRNAME/../..
	run env LC_ALL=C MANWIDTH=80 man -l "$root/man/p2p-ca.1"
	[ "$status" -eq 0 ]
	[[ "$output" == *revoke* ]]
	[[ "$output" == *configuration-signer* ]]
	run env LC_ALL=C MANWIDTH=80 man -l "$root/man/p2p-enroll.1"
	[ "$status" -eq 0 ]
	[[ "$output" == *ca-fingerprint* ]]
}

@test "bash completion offers the commands and options" {
	root=$BATS_TEST_DIRNAME/../..
	run bash -c "source '$root/completion/bash/p2p-ca'
		COMP_WORDS=(p2p-ca re); COMP_CWORD=1; _p2p_ca
		echo \"\${COMPREPLY[*]}\"
		COMP_WORDS=(p2p-ca init --ke); COMP_CWORD=2; _p2p_ca
		echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = revoke ]
	[ "${lines[1]}" = --key-type ]
	run bash -c "source '$root/completion/bash/p2p-enroll'
		COMP_WORDS=(p2p-enroll --ca-f); COMP_CWORD=1; _p2p_enroll
		echo \"\${COMPREPLY[*]}\""
	[ "$status" -eq 0 ]
	[ "$output" = --ca-fingerprint ]
}
