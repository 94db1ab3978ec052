# Shared helpers for the bats end-to-end tests.
#
#   load helpers
#   setup()    { p2p_setup; }
#   teardown() { p2p_teardown; }
#
# p2p_setup makes a scratch directory ($P2P_TMP). Every background process
# a test starts goes through p2p_spawn, which records its PID; p2p_teardown
# stops each of them by PID (TERM, then KILL after a grace period) and
# removes the scratch directory. Nothing is left running.

P2P_PIDS=()

p2p_setup() {
	P2P_TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/p2p.XXXXXX")
	P2P_PIDS=()
}

p2p_teardown() {
	local pid i live=() mine
	# Only children not yet reaped: a PID reaped earlier may belong to
	# someone else by now.
	mine=" $(jobs -p | tr '\n' ' ') "
	for pid in "${P2P_PIDS[@]}"; do
		[[ "$mine" == *" $pid "* ]] && live+=("$pid")
	done
	for pid in "${live[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${live[@]}"; do
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	P2P_PIDS=()
	[ -n "${P2P_TMP:-}" ] && rm -rf "$P2P_TMP"
	return 0
}

# p2p_spawn LOGFILE CMD ARGS...: start CMD in the background, stdout and
# stderr to LOGFILE, and remember its PID in $P2P_LAST_PID.
p2p_spawn() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 3>&- &
	P2P_LAST_PID=$!
	P2P_PIDS+=("$P2P_LAST_PID")
}

# p2p_free_port: print a TCP port on 127.0.0.1 that was free a moment ago
# (the kernel picks it: bind to port 0, read it back, close).
p2p_free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
		return
	fi
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
}

# p2p_wait_for FILE PATTERN [SECONDS] [PID]: wait until FILE holds a line
# matching PATTERN; fail early if PID dies.
p2p_wait_for() {
	local file=$1 pat=$2 secs=${3:-15} pid=${4:-} i
	for i in $(seq 1 $((secs * 10))); do
		if grep -q -- "$pat" "$file" 2>/dev/null; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			echo "process $pid exited; its log:" >&2
			cat "$file" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "timed out waiting for '$pat' in $file" >&2
	cat "$file" >&2
	return 1
}

# p2p_node_user: run as root, make sure the unprivileged user the nodes
# drop to (p2psip-test, the owner of their directories) exists, and let it
# into $P2P_TMP.
p2p_node_user() {
	[ "$(id -u)" -eq 0 ] || return 0
	id p2psip-test >/dev/null 2>&1 ||
	    useradd --system --no-create-home \
	    --shell /usr/sbin/nologin p2psip-test
	chmod 0755 "$P2P_TMP"
}

# p2p_ca_setup DIR OVERLAY [p2p-ca init options...]: a fresh CA in DIR.
p2p_ca_setup() {
	local dir=$1 overlay=$2
	shift 2
	p2p-ca init --dir "$dir" --overlay "$overlay" "$@" >/dev/null
}

# p2p_ca_user DIR NAME PASSWORD [options...]: add an enrollment account;
# the password file is left in DIR/../NAME.pw for p2p-enroll.
p2p_ca_user() {
	local dir=$1 name=$2 pw=$3
	shift 3
	printf '%s\n' "$pw" >"$P2P_TMP/$name.pw"
	p2p-ca user add --dir "$dir" --password-file "$P2P_TMP/$name.pw" \
	    "$@" "$name" >/dev/null
}

# p2p_ca_serve DIR [options...]: start "p2p-ca serve" on a free loopback
# port and wait until it listens. Sets P2P_CA_PORT, P2P_CA_URL,
# P2P_CA_PID and P2P_CA_LOG.
p2p_ca_serve() {
	local dir=$1
	shift
	P2P_CA_PORT=$(p2p_free_port)
	P2P_CA_URL="https://127.0.0.1:$P2P_CA_PORT"
	P2P_CA_LOG="$P2P_TMP/serve-$P2P_CA_PORT.log"
	p2p_spawn "$P2P_CA_LOG" p2p-ca serve --dir "$dir" \
	    --listen "127.0.0.1:$P2P_CA_PORT" "$@"
	P2P_CA_PID=$P2P_LAST_PID
	p2p_wait_for "$P2P_CA_LOG" "listening on" 20 "$P2P_CA_PID"
}

# p2p_enroll_node NODEDIR USER CADIR [p2p-enroll options...]: enroll with
# the server started by p2p_ca_serve, trusting CADIR/ca.pem.
p2p_enroll_node() {
	local node=$1 user=$2 cadir=$3
	shift 3
	p2p-enroll --server "$P2P_CA_URL" --user "$user" \
	    --password-file "$P2P_TMP/$user.pw" --dir "$node" \
	    --ca-cert "$cadir/ca.pem" "$@"
}

# p2p_fingerprint PEM: "SHA256:<hex>" of a certificate, computed by openssl.
p2p_fingerprint() {
	echo "SHA256:$(openssl x509 -in "$1" -outform DER | sha256sum |
	    cut -c1-64)"
}

# p2p_cert_node_ids PEM: the Node-IDs in a certificate's subjectAltName,
# one per line, read by openssl.
p2p_cert_node_ids() {
	openssl x509 -in "$1" -noout -ext subjectAltName |
	    grep -o 'reload://0110[0-9a-fA-F]\{32\}@' | cut -c14-45 |
	    tr 'A-F' 'a-f'
}
