# Fixtures for the storage end-to-end tests (tests/cli/store.bats), on
# top of the node fixtures of lib_node.bash.
#
#   load lib_store
#   setup()    { node_setup; }
#   teardown() { node_teardown; }
#
# Every kind of a kit overlay is USER-MATCH: node I writes only under the
# resource named after its own user, "userI@test.p2psip" (st_user I).
# st_put and st_get run p2p-put and p2p-get through node I's control
# socket. Every wait is a bounded poll; NT_SCALE multiplies the bounds.

# shellcheck source=lib_node.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib_node.bash"

ST_SINGLE=4026531841	# 0xf0000001
ST_ARRAY=4026531842	# 0xf0000002
ST_DICT=4026531843	# 0xf0000003

# st_user I: the user name (and storable resource name) of node I.
st_user() {
	echo "user$1@test.p2psip"
}

# st_put I ARGS...: p2p-put through node I.
st_put() {
	local i=$1
	shift
	p2p-put --dir "$(node_dir "$i")" "$@"
}

# st_get I ARGS...: p2p-get through node I.
st_get() {
	local i=$1
	shift
	p2p-get --dir "$(node_dir "$i")" "$@"
}

# st_route I NAME: the Node-ID that node I finds responsible for NAME.
st_route() {
	p2p-node route --json --timeout 20 --dir "$(node_dir "$1")" \
	    --resource "$2" | jq -r .responsible
}

# st_index ID: the index of the started node whose Node-ID is ID.
st_index() {
	local i
	for i in "${!NT_NODE_ID[@]}"; do
		if [ "${NT_NODE_ID[$i]}" = "$1" ]; then
			echo "$i"
			return 0
		fi
	done
	echo "no started node has Node-ID $1" >&2
	return 1
}

# st_first_live: the lowest index of a live node.
st_first_live() {
	node_live | head -n 1
}

# st_serving I: node I is alive and still answers a Stat (for a resource
# that may be empty: exit 0 or 1, never a failure to reach the node).
st_serving() {
	local i=$1 rc=0
	node_alive "$i" || { echo "node $i died" >&2; return 1; }
	node_status "$i" >/dev/null || { echo "node $i: no status" >&2
	    return 1; }
	st_get "$i" --stat "$(st_user "$i")" >/dev/null 2>&1 || rc=$?
	if [ "$rc" -gt 1 ]; then
		echo "node $i: stat exit $rc" >&2
		return 1
	fi
}

# st_all_serving: every live node is serving.
st_all_serving() {
	local i
	for i in $(node_live); do
		st_serving "$i" || return 1
	done
}

# st_sha_stat VALUE-FILE: the hash Stat reports for a value, SHA-256 over
# the value's 4-byte big-endian length and its bytes.
st_sha_stat() {
	local n
	n=$(stat -c %s "$1")
	{ printf '%08x' "$n" | xxd -r -p; cat "$1"; } | sha256sum |
	    cut -d' ' -f1
}

# st_dict_lines I USER: the dictionary of USER fetched through node I as
# sorted "key=value" lines, or nothing (exit 1) when the fetch fails or a
# value did not verify.
st_dict_lines() {
	local out
	out=$(st_get "$1" --kind dictionary --json "$2" 2>"$NT_DIR/st_err") ||
	    return 1
	[ "$(jq -r .rejected <<<"$out")" = 0 ] || return 1
	jq -r --arg u "$2" '.values[] | select(.storer == $u) |
	    "\(.key)=\(.value)"' <<<"$out" | sort
}

# st_wait_dict I USER FILE [SECONDS]: poll until the dictionary of USER,
# fetched through node I, is exactly the sorted lines of FILE.
st_wait_dict() {
	local i=$1 u=$2 f=$3 secs=$((${4:-60} * NT_SCALE)) got
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		got=$(st_dict_lines "$i" "$u") && [ "$got" = "$(cat "$f")" ] &&
		    return 0
		sleep 1
	done
	echo "node $i: dictionary of $u after ${secs}s" \
	    "(p2p-get: $(cat "$NT_DIR/st_err" 2>/dev/null));" \
	    "responsible: $(st_route "$i" "$u" 2>&1)" >&2
	diff <(echo "$got") "$f" | head -n 20 >&2
	return 1
}
