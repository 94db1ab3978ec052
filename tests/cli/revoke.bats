#!/usr/bin/env bats
# Revocation reaches running overlays: the nodes fetch the CA's CRL from
# the configuration's crl-url, and refuse a peer whose certificate the CA
# has revoked.

load helpers

setup() {
	p2p_setup
	p2p_node_user
}

teardown() {
	p2p_teardown
}

# start_node NAME PORT [BOOTSTRAP]
start_node() {
	local args=(run --dir "$P2P_TMP/$1" --listen "127.0.0.1:$2"
	    --log-level debug)
	[ -n "${3:-}" ] && args+=(--bootstrap "$3")
	[ "$(id -u)" -eq 0 ] && chown -R p2psip-test: "$P2P_TMP/$1"
	p2p_spawn "$P2P_TMP/$1.log" p2p-node "${args[@]}"
}

# state NAME: the node's state, or "down"
state() {
	p2p-node status --dir "$P2P_TMP/$1" --json 2>/dev/null |
	    jq -r .state || echo down
}

@test "a peer whose certificate was revoked cannot join; the others fetched the CRL" {
	local pa pb pc id
	p2p_ca_setup "$P2P_TMP/ca" rv.test
	for u in a b c; do
		p2p_ca_user "$P2P_TMP/ca" "$u@rv.test" secret
	done
	p2p_ca_serve "$P2P_TMP/ca"
	for u in a b c; do
		p2p_enroll_node "$P2P_TMP/$u" "$u@rv.test" "$P2P_TMP/ca" \
		    --json >"$P2P_TMP/$u.json"
	done
	grep -q 'crl-url>https://127.0.0.1' "$P2P_TMP/a/overlay.xml"
	id=$(jq -r '.node_ids[0]' "$P2P_TMP/c.json")
	run p2p-ca revoke --dir "$P2P_TMP/ca" "$id"
	[ "$status" -eq 0 ]

	pa=$(p2p_free_port)
	pb=$(p2p_free_port)
	pc=$(p2p_free_port)
	start_node a "$pa"
	p2p_wait_for "$P2P_TMP/a.log" "CRL from .*1 revoked" 30
	start_node b "$pb" "127.0.0.1:$pa"
	start_node c "$pc" "127.0.0.1:$pa"
	for _ in $(seq 120); do
		[ "$(state b)" = joined ] && break
		sleep 0.5
	done
	[ "$(state b)" = joined ]
	p2p_wait_for "$P2P_TMP/a.log" "refused (revoked)" 30
	# give c every chance to get in, then check it did not
	sleep 3
	[ "$(state c)" != joined ]
	[ "$(p2p-node status --dir "$P2P_TMP/a" --json |
	    jq '.counters.links_refused')" -ge 1 ]
	# a's ring holds b only
	run p2p-node status --dir "$P2P_TMP/a" --json
	[ "$(jq -r '.successors | join(",")' <<<"$output")" = \
	    "$(jq -r '.node_ids[0]' "$P2P_TMP/b.json")" ]
}
