# Fixtures for the p2p-node end-to-end tests (tests/cli/node.bats).
#
#   load lib_node
#   setup()    { node_setup; }
#   teardown() { node_teardown; }
#
# node_setup makes a scratch directory ($NT_DIR). node_overlay N makes a
# CA, a signed configuration and N node directories with p2p-testkit;
# node_start_all starts them one after another on free loopback ports,
# each joining through the first, and waits until each one is in the ring.
# Every process started is recorded by PID; node_teardown kills them by
# PID (never by name), prints the logs of a failed test and removes the
# scratch directory.
#
# Run as root, the nodes drop privileges to the owner of their directory:
# the directories are then given to an unprivileged user ($NT_USER,
# created as a system user when missing). Root may still use the control
# sockets, so the tests talk to the nodes as root.
#
# Every wait is a bounded poll of the node's status; the bounds are
# generous because the tools run under AddressSanitizer on a small
# machine. NT_SCALE multiplies them all.

NT_USER=${NT_USER:-p2psip-test}
NT_SCALE=${NT_SCALE:-1}

# The sanitizer build of the fixture tool, next to the tools under test.
_nt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -d "$_nt_root/build/san/kit" ]; then
	PATH="$_nt_root/build/san/kit:$PATH"
fi
# The node is the one under test: the release build is a fallback only.
if ! command -v p2p-node >/dev/null 2>&1; then
	PATH="$_nt_root/build/san/bin:$_nt_root/bin:$PATH"
fi
export PATH
unset _nt_root

NT_PIDS=()	# every background process, by PID
NT_NODE_PID=()	# node index -> PID
NT_NODE_ADDR=()	# node index -> "127.0.0.1:port"
NT_NODE_ID=()	# node index -> Node-ID (hex)
NT_NODES=0	# node directories made by node_overlay

node_setup() {
	NT_DIR=$(mktemp -d "${BATS_TMPDIR:-/tmp}/p2p-node.XXXXXX")
	# The nodes run as $NT_USER when the tests run as root: let them
	# reach their directories.
	chmod 0755 "$NT_DIR"
	NT_OWNER=$BASHPID	# the shell whose children the nodes are
	NT_PIDS=()
	NT_NODE_PID=()
	NT_NODE_ADDR=()
	NT_NODE_ID=()
	NT_NODES=0
	if [ "$(id -u)" -eq 0 ]; then
		node_test_user
	fi
}

# node_test_user: make sure the unprivileged test user exists.
node_test_user() {
	id -u "$NT_USER" >/dev/null 2>&1 && return 0
	useradd -r -M -s /usr/sbin/nologin -d /nonexistent "$NT_USER" \
	    2>/dev/null || id -u "$NT_USER" >/dev/null 2>&1
}

# _nt_mine PID: is PID still a child of the test's shell? A child that has
# exited may already have been reaped, and its PID handed to someone
# else's process (pid_max can be as low as 32768): never signal that one.
_nt_mine() {
	local ppid
	ppid=$(ps -o ppid= -p "$1" 2>/dev/null) || return 1
	[ "${ppid// /}" = "${NT_OWNER:-$BASHPID}" ]
}

# _nt_running PID: our child, and not yet exited.
_nt_running() {
	_nt_mine "$1" && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]
}

# _nt_kill PID: SIGKILL our child PID, and reap it.
_nt_kill() {
	_nt_mine "$1" && kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

node_teardown() {
	local pid f
	for pid in "${NT_PIDS[@]}"; do
		_nt_kill "$pid"
	done
	NT_PIDS=()
	if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ -z "${NT_DIR:-}" ]; then
		:
	else
		# The test failed: show the end of every log.
		for f in "$NT_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
	fi
	# NT_KEEP_LOGS=DIR keeps every log, for a closer look.
	if [ -n "${NT_KEEP_LOGS:-}" ] && [ -n "${NT_DIR:-}" ]; then
		mkdir -p "$NT_KEEP_LOGS/${BATS_TEST_NUMBER:-0}"
		cp "$NT_DIR"/*.log "$NT_KEEP_LOGS/${BATS_TEST_NUMBER:-0}/" \
		    2>/dev/null || true
	fi
	[ -n "${NT_DIR:-}" ] && rm -rf "$NT_DIR"
	return 0
}

# node_overlay N [p2p-testkit overlay options...]: a CA, a configuration
# and node directories $NT_DIR/o/n0 .. n<N-1>, given to $NT_USER when root.
node_overlay() {
	local n=$1
	shift
	p2p-testkit overlay --dir "$NT_DIR/o" --nodes "$n" "$@" >/dev/null
	NT_NODES=$n
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$NT_USER:" "$NT_DIR/o"
		chmod 0755 "$NT_DIR/o"
	fi
}

# kit ARGS...: the fixture tool. Its own leak checking is off: it is not
# under test, and its exit status carries the outcome.
kit() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	    p2p-testkit "$@"
}

# node_dir I: the directory of node I.
node_dir() {
	echo "$NT_DIR/o/n$1"
}

# node_log I: the log file of node I.
node_log() {
	echo "$NT_DIR/n$1.log"
}

# node_status I: "p2p-node status --json" of node I on stdout.
node_status() {
	p2p-node status --json --timeout 10 --dir "$(node_dir "$1")"
}

# node_alive I: is node I's process still running (and ours)?
node_alive() {
	[ -n "${NT_NODE_PID[$1]:-}" ] && _nt_running "${NT_NODE_PID[$1]}"
}

# node_start I [BOOTSTRAP-ADDR] [extra run options...]: start node I on a
# free loopback port (the node binds port 0 and reports the port it got),
# then wait until it answers and is in the ring (node_wait_joined). Sets
# NT_NODE_PID[I], NT_NODE_ADDR[I], NT_NODE_ID[I].
node_start() {
	local i=$1 boot=${2:-}
	shift
	[ $# -gt 0 ] && shift
	local args=(run --dir "$(node_dir "$i")" --listen 127.0.0.1:0
	    --update-interval 5 --log-level debug)
	[ -n "$boot" ] && args+=(--bootstrap "$boot")
	p2p-node "${args[@]}" "$@" >"$(node_log "$i")" 2>&1 3>&- &
	NT_NODE_PID[$i]=$!
	NT_PIDS+=("$!")
	node_wait_joined "$i" "$boot"
}

# node_wait_joined I BOOTSTRAP-ADDR [SECONDS]: wait until node I, started
# in the background with NT_NODE_PID[I] set (by node_start, or inside a
# network namespace by the NAT lab), answers and is in the ring: "alone"
# for a first node (no BOOTSTRAP-ADDR), "joined" for the others,
# "connected" for a client. Sets NT_NODE_ADDR[I] and NT_NODE_ID[I].
# Fails, with the end of the node's log, when the node exits or is not
# in the ring after SECONDS (60 by default, times NT_SCALE).
node_wait_joined() {
	local i=$1 boot=$2 secs=$((${3:-60} * NT_SCALE)) s state=
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		if ! node_alive "$i"; then
			echo "node $i exited during start-up" >&2
			tail -n 30 "$(node_log "$i")" >&2
			return 1
		fi
		if s=$(node_status "$i" 2>/dev/null); then
			state=$(jq -r .state <<<"$s")
			if [ "$state" = joined ] || [ "$state" = connected ] ||
			    { [ -z "$boot" ] && [ "$state" = alone ]; }; then
				NT_NODE_ADDR[$i]=$(jq -r .listen <<<"$s")
				NT_NODE_ID[$i]=$(jq -r .node_id <<<"$s")
				return 0
			fi
		fi
		sleep 0.2
	done
	echo "node $i not in the ring after ${secs}s (state '$state')" >&2
	tail -n 30 "$(node_log "$i")" >&2
	return 1
}

# node_start_all N: start nodes 0 .. N-1, each joining through node 0.
node_start_all() {
	local n=$1 i
	node_start 0 || return 1
	for ((i = 1; i < n; i++)); do
		node_start "$i" "${NT_NODE_ADDR[0]}" || return 1
	done
}

# node_live: indexes of the started nodes whose process is alive.
node_live() {
	local i
	for i in "${!NT_NODE_PID[@]}"; do
		node_alive "$i" && echo "$i"
	done
}

# _nt_ring_ok I IDS...: does node I's first successor and first
# predecessor match its neighbors in the sorted list IDS (the live
# nodes)? With one node, both lists must be empty or name the node itself.
_nt_ring_ok() {
	local i=$1 s me succ pred want_s want_p k n
	shift
	local ids=("$@")
	n=${#ids[@]}
	s=$(node_status "$i" 2>/dev/null) || return 1
	me=$(jq -r .node_id <<<"$s")
	succ=$(jq -r '.successors[0] // ""' <<<"$s")
	pred=$(jq -r '.predecessors[0] // ""' <<<"$s")
	if [ "$n" -eq 1 ]; then
		[ -z "$succ" ] || [ "$succ" = "$me" ] || return 1
		[ -z "$pred" ] || [ "$pred" = "$me" ] || return 1
		return 0
	fi
	for ((k = 0; k < n; k++)); do
		[ "${ids[$k]}" = "$me" ] && break
	done
	[ "$k" -lt "$n" ] || return 1
	want_s=${ids[$(((k + 1) % n))]}
	want_p=${ids[$(((k + n - 1) % n))]}
	[ "$succ" = "$want_s" ] && [ "$pred" = "$want_p" ]
}

# node_ring_check: 0 when every live node's first successor and first
# predecessor are its neighbors among the sorted Node-IDs of the live
# nodes; otherwise print the first node that disagrees and return 1.
node_ring_check() {
	local i ids=()
	mapfile -t ids < <(for i in $(node_live); do
		echo "${NT_NODE_ID[$i]}"
	done | sort)
	for i in $(node_live); do
		if ! _nt_ring_ok "$i" "${ids[@]}"; then
			NT_RING_BAD=$i
			return 1
		fi
	done
	return 0
}

# node_wait_ring [SECONDS]: poll node_ring_check until it holds.
node_wait_ring() {
	local secs=$((${1:-120} * NT_SCALE)) i
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		node_ring_check && return 0
		sleep 1
	done
	i=${NT_RING_BAD:-0}
	echo "ring not converged after ${secs}s; node $i" \
	    "(${NT_NODE_ID[$i]:-?}) says:" >&2
	node_status "$i" | jq -c '{node_id, successors, predecessors}' >&2
	echo "sorted live ids:" >&2
	for i in $(node_live); do echo "${NT_NODE_ID[$i]}"; done | sort >&2
	return 1
}

# node_counter I NAME: the counter NAME of node I.
node_counter() {
	node_status "$1" | jq -r ".counters.$2"
}

# node_wait_counter I NAME MIN [SECONDS]: poll until counter NAME of node
# I is at least MIN.
node_wait_counter() {
	local i=$1 name=$2 min=$3 secs=$((${4:-20} * NT_SCALE)) v
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		v=$(node_counter "$i" "$name" 2>/dev/null) || v=
		[ -n "$v" ] && [ "$v" -ge "$min" ] && return 0
		sleep 0.2
	done
	echo "node $i: counter $name is '$v', wanted >= $min" >&2
	return 1
}

# node_ping_all FROM...: from each node given, ping every live node by
# Node-ID; the responder must be the target.
node_ping_all() {
	local from to out resp rc=0
	for from in "$@"; do
		for to in $(node_live); do
			out=$(p2p-node ping --json --timeout 20 \
			    --dir "$(node_dir "$from")" "${NT_NODE_ID[$to]}") ||
			    { echo "ping $from -> $to failed: $out" >&2
			      rc=1; continue; }
			resp=$(jq -r .responder <<<"$out")
			if [ "$resp" != "${NT_NODE_ID[$to]}" ]; then
				echo "ping $from -> $to answered by $resp" >&2
				rc=1
			fi
		done
	done
	return "$rc"
}

# node_wait_exit PID SECONDS: wait for a child to exit; its status goes
# to $NT_EXIT. Returns 1 if it is still running after SECONDS.
node_wait_exit() {
	local pid=$1 secs=$((${2:-20} * NT_SCALE))
	SECONDS=0
	while _nt_running "$pid"; do
		[ "$SECONDS" -ge "$secs" ] && return 1
		sleep 0.1
	done
	NT_EXIT=0
	wait "$pid" || NT_EXIT=$?
	return 0
}

# node_port I: the listening port of node I.
node_port() {
	echo "${NT_NODE_ADDR[$1]##*:}"
}

# node_ctl_raw PATH: send stdin's bytes to the Unix socket PATH and print
# what comes back before the node closes the connection or 10 s pass.
node_ctl_raw() {
	python3 -c '
import socket, sys
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(data)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while not out.endswith(b"\n"):
        b = s.recv(65536)
        if not b:
            break
        out += b
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(out.decode("utf-8", "replace"))
' "$1"
}

# nt_tcp_client PORT plain|half SECONDS: connect to 127.0.0.1:PORT over
# plain TCP and either talk plain text ("plain") or send the first bytes
# of a TLS ClientHello and stall ("half"). Prints "dropped after Ns" and
# returns 0 when the node closes the connection within SECONDS; otherwise
# prints "still open" and returns 1.
nt_tcp_client() {
	python3 -c '
import socket, sys, time
port, mode, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if mode == "plain":
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\nhello, are you RELOAD?\n")
else:
    # Record header (handshake, TLS 1.0, 512 bytes), ClientHello header
    # (508 bytes), client_version 1.2 and the first bytes of the random.
    s.sendall(bytes.fromhex("1603010200" "010001fc" "0303") + b"\x42" * 10)
start = time.monotonic()
s.settimeout(1)
while time.monotonic() - start < secs:
    try:
        b = s.recv(4096)
    except socket.timeout:
        continue
    except (ConnectionResetError, OSError):
        b = b""
    if not b:
        print("dropped after %.1fs" % (time.monotonic() - start))
        sys.exit(0)
print("still open after %.0fs" % secs)
sys.exit(1)
' "$@"
}

# nt_tcp_flood PORT N HOLD: open N TCP connections to 127.0.0.1:PORT at
# once, hold them HOLD seconds, close them. Prints how many connected.
nt_tcp_flood() {
	python3 -c '
import select, socket, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
deadline = time.monotonic() + 10
pending = set(socks)
connected = 0
while pending and time.monotonic() < deadline:
    _, w, _ = select.select([], list(pending), [], 0.5)
    for s in w:
        pending.discard(s)
        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
            connected += 1
print("connected %d of %d" % (connected, n))
time.sleep(hold)
for s in socks:
    s.close()
' "$@"
}
