# Fixtures for the p2p-trace end-to-end tests (tests/cli/trace.bats).
#
# One ring serves a whole file: tr_ring_up N (from setup_file) makes a CA,
# a configuration and N node directories with p2p-testkit, starts the
# nodes on free loopback ports (the node binds port 0 and reports it),
# each joining through the first, and waits until every one is in the
# ring. What the tests need to know about the ring lives in files under
# $TR_DIR, so that it survives from setup_file into each test:
#   $TR_DIR/pids      one "INDEX PID" line per node started
#   $TR_DIR/ids       one "INDEX NODE-ID" line per node
# tr_ring_down (from teardown_file) kills every process it started by
# PID, never by name, and removes the directory.
#
# Run as root, the nodes drop privileges to the owner of their directory:
# the directories are given to an unprivileged user ($TR_USER, created
# when missing). Root may still use the control sockets.

TR_USER=${TR_USER:-p2psip-test}
TR_SCALE=${TR_SCALE:-1}

_tr_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -d "$_tr_root/build/san/kit" ]; then
	PATH="$_tr_root/build/san/kit:$PATH"
fi
if ! command -v p2p-trace >/dev/null 2>&1; then
	PATH="$_tr_root/build/san/bin:$_tr_root/bin:$PATH"
fi
export PATH
unset _tr_root

# tr_kit ARGS...: the fixture tool, without leak checking (not under test).
tr_kit() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    p2p-testkit "$@"
}

tr_dir() {
	echo "$TR_DIR/o/n$1"
}

tr_log() {
	echo "$TR_DIR/n$1.log"
}

# tr_pid I / tr_id I: the PID and the Node-ID of node I.
tr_pid() {
	awk -v i="$1" '$1 == i { print $2 }' "$TR_DIR/pids"
}

tr_id() {
	awk -v i="$1" '$1 == i { print $2 }' "$TR_DIR/ids"
}

# tr_index ID: the index of the node with this Node-ID.
tr_index() {
	awk -v id="$1" '$2 == id { print $1 }' "$TR_DIR/ids"
}

tr_alive() {
	local pid
	pid=$(tr_pid "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# tr_live: indexes of the nodes still running.
tr_live() {
	local i
	for i in $(awk '{ print $1 }' "$TR_DIR/pids"); do
		tr_alive "$i" && echo "$i"
	done
}

tr_status() {
	p2p-node status --json --timeout 10 --dir "$(tr_dir "$1")"
}

# tr_routes I: node I's routing table, one Node-ID a line.
tr_routes() {
	tr_status "$1" | jq -r '(.successors + .predecessors +
	    [.fingers[].node_id]) | unique | .[]'
}

# tr_start I [BOOTSTRAP]: start node I and wait until it is in the ring.
tr_start() {
	local i=$1 boot=${2:-} s state secs pid
	local args=(run --dir "$(tr_dir "$i")" --listen 127.0.0.1:0
	    --update-interval 5 --log-level debug)
	[ -n "$boot" ] && args+=(--bootstrap "$boot")
	p2p-node "${args[@]}" >"$(tr_log "$i")" 2>&1 3>&- &
	pid=$!
	echo "$i $pid" >>"$TR_DIR/pids"
	secs=$((60 * TR_SCALE))
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "node $i exited during start-up" >&2
			tail -n 30 "$(tr_log "$i")" >&2
			return 1
		fi
		if s=$(tr_status "$i" 2>/dev/null); then
			state=$(jq -r .state <<<"$s")
			if [ "$state" = joined ] ||
			    { [ -z "$boot" ] && [ "$state" = alone ]; }; then
				echo "$i $(jq -r .node_id <<<"$s")" \
				    >>"$TR_DIR/ids"
				TR_ADDR=$(jq -r .listen <<<"$s")
				return 0
			fi
		fi
		sleep 0.2
	done
	echo "node $i not in the ring after ${secs}s" >&2
	tail -n 30 "$(tr_log "$i")" >&2
	return 1
}

# tr_ring_up N: the ring of N nodes described at the top.
tr_ring_up() {
	local n=$1 i boot
	TR_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/p2p-trace.XXXXXX")
	export TR_DIR
	chmod 0755 "$TR_DIR"
	: >"$TR_DIR/pids"
	: >"$TR_DIR/ids"
	tr_kit overlay --dir "$TR_DIR/o" --nodes "$n" >/dev/null || return 1
	if [ "$(id -u)" -eq 0 ]; then
		id -u "$TR_USER" >/dev/null 2>&1 ||
		    useradd -r -M -s /usr/sbin/nologin -d /nonexistent \
		    "$TR_USER" 2>/dev/null || id -u "$TR_USER" >/dev/null
		chown -R "$TR_USER:" "$TR_DIR/o"
		chmod 0755 "$TR_DIR/o"
	fi
	tr_start 0 || return 1
	boot=$TR_ADDR
	for ((i = 1; i < n; i++)); do
		tr_start "$i" "$boot" || return 1
	done
}

tr_ring_down() {
	local i pid
	[ -n "${TR_DIR:-}" ] && [ -f "$TR_DIR/pids" ] || return 0
	while read -r i pid; do
		kill -KILL "$pid" 2>/dev/null || true
	done <"$TR_DIR/pids"
	while read -r i pid; do
		wait "$pid" 2>/dev/null || true
	done <"$TR_DIR/pids"
	# TR_KEEP=1 keeps the logs and node directories for a post-mortem.
	[ -n "${TR_KEEP:-}" ] || rm -rf "$TR_DIR"
}

# tr_dump_logs: the end of every node log, for a failed test.
tr_dump_logs() {
	local f
	for f in "$TR_DIR"/*.log; do
		[ -f "$f" ] || continue
		echo "---- $(basename "$f") (last 20 lines)" >&2
		tail -n 20 "$f" >&2
	done
}

# tr_responsible NAME I...: the peer each node I finds responsible for
# the resource NAME ("p2p-node route"), one a line.
tr_responsible() {
	local name=$1 i
	shift
	for i in "$@"; do
		p2p-node route --json --timeout 20 --dir "$(tr_dir "$i")" \
		    --resource "$name" | jq -r .responsible
	done
}

# tr_agreed NAME SECONDS I...: wait until the nodes given agree on the
# peer responsible for NAME; print it.
tr_agreed() {
	local name=$1 secs=$(($2 * TR_SCALE)) all
	shift 2
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		all=$(tr_responsible "$name" "$@" 2>/dev/null | sort -u)
		if [ -n "$all" ] && [ "$(wc -l <<<"$all")" -eq 1 ] &&
		    [ "$all" != null ]; then
			echo "$all"
			return 0
		fi
		sleep 1
	done
	echo "nodes $* do not agree on the owner of $name: $all" >&2
	return 1
}

# tr_ceil_log2 N: ceil(log2 N).
tr_ceil_log2() {
	local n=$1 k=0 p=1
	while [ "$p" -lt "$n" ]; do
		p=$((p * 2))
		k=$((k + 1))
	done
	echo "$k"
}

# The documented shape of "p2p-trace --json" (see p2p-trace(1)) as a jq
# program: true when the document has it.
TR_JSON_SHAPE='
  def hex32: type == "string" and test("^[0-9a-f]{32}$");
  type == "object"
  and (.target | hex32)
  and (.origin | hex32)
  and (.target_type == "resource" or .target_type == "node")
  and (.complete | type == "boolean")
  and (.responsible == null or (.responsible | hex32))
  and (.complete == (.responsible != null))
  and (.hops | type == "array")
  and ([.hops | to_entries[] | .key + 1 == .value.hop] | all)
  and ([.hops[] |
        (.hop | type == "number")
        and (.node_id | hex32)
        and (.addr == null or (.addr | type == "string"))
        and (.rtt_ms == null or (.rtt_ms | type == "number"))
        and (.next_hop == null or (.next_hop | hex32))
        and (.status | IN("ok", "timeout", "error", "unreachable"))
        and ((.status == "ok") == (.rtt_ms != null))
       ] | all)
'
