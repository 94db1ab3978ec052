# Fixtures for the capture test (tests/cli/capture.bats): a live overlay
# captured on lo, its TLS decrypted with the nodes' key logs and its
# RELOAD frames dissected by tshark, an independent decoder.
#
#   load lib_capture
#   setup_file()    { cap_setup_file; }   # runs the overlay, once
#   teardown_file() { cap_teardown_file; }
#
# cap_run starts dumpcap on lo with a filter on the nodes' listening
# ports (picked free beforehand, as the filter must exist before the
# first connection), starts three nodes with SSLKEYLOGFILE set (one key
# log per node, owned by the node's user as the node drops privileges
# before it opens it), lets them join, pings, stores and fetches a value,
# stops the nodes gracefully (Leave) and then dumpcap, each by PID.
#
# cap_extract turns every TCP stream of the capture into RELOAD frames:
# tshark decrypts it ("-z follow,tls,raw"), and each direction's bytes
# are cut into frames by the framing header (0x80: type, u32 sequence,
# u24 length, message; 0x81: type, u32 ack_sequence, u32 received). The
# frames go, one per line, into a hex file that text2pcap turns into one
# TCP segment each, to port 6084 where tshark's reload-framing dissector
# listens; cap_flagged counts what tshark then reports as malformed or as
# an expert warning or error.
#
# Everything lives in $CAP_DIR, which teardown removes (CAP_KEEP=DIR
# copies it into DIR first: the capture, key logs, frames and node logs,
# for a closer look); every process is killed by PID (the node fixtures
# of lib_node.bash keep the node PIDs).

# shellcheck source=tests/cli/lib_node.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib_node.bash"

CAP_N=3
CAP_BAD='_ws.malformed || _ws.expert.severity >= warning'

# cap_missing: why the capture test cannot run here (empty: it can).
cap_missing() {
	local t
	if [ "$(id -u)" -ne 0 ]; then
		echo "needs root (dumpcap captures on lo with CAP_NET_RAW)"
		return
	fi
	for t in dumpcap tshark text2pcap jq python3 p2p-node p2p-testkit \
	    p2p-put p2p-get; do
		command -v "$t" >/dev/null 2>&1 || { echo "$t not installed"
			return; }
	done
}

# cap_free_ports N: N distinct free TCP ports on 127.0.0.1, one a line
# (the kernel picks them; all are held until all are known).
cap_free_ports() {
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))
' "$1"
}

# cap_dumpcap_start PORTS...: capture TCP to or from these ports on lo
# into $CAP_DIR/cap.pcapng; returns once dumpcap says it is capturing.
cap_dumpcap_start() {
	local f="" p
	for p in "$@"; do
		f+="${f:+ or }tcp port $p"
	done
	dumpcap -i lo -f "$f" -w "$CAP_DIR/cap.pcapng" \
	    >"$CAP_DIR/dumpcap.log" 2>&1 3>&- &
	CAP_DUMPCAP_PID=$!
	NT_PIDS+=("$CAP_DUMPCAP_PID")
	SECONDS=0
	until grep -q '^Capturing on' "$CAP_DIR/dumpcap.log"; do
		if ! kill -0 "$CAP_DUMPCAP_PID" 2>/dev/null ||
		    [ "$SECONDS" -ge 20 ]; then
			echo "dumpcap did not start:" >&2
			cat "$CAP_DIR/dumpcap.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

# cap_dumpcap_stop: stop dumpcap (TERM, by PID) and wait until it has
# closed the file.
cap_dumpcap_stop() {
	# Let the last segments (FIN, close_notify) reach the capture.
	sleep 1
	kill -TERM "$CAP_DUMPCAP_PID" 2>/dev/null || true
	node_wait_exit "$CAP_DUMPCAP_PID" 20 || {
		kill -KILL "$CAP_DUMPCAP_PID" 2>/dev/null || true
		wait "$CAP_DUMPCAP_PID" 2>/dev/null || true
	}
}

# cap_node_start I PORT [BOOTSTRAP]: start node I on 127.0.0.1:PORT with
# its own key log and wait until it is in the ring (as node_start).
cap_node_start() {
	local i=$1 port=$2 boot=${3:-}
	local args=(run --dir "$(node_dir "$i")" --listen "127.0.0.1:$port"
	    --log-level debug)
	[ -n "$boot" ] && args+=(--bootstrap "$boot")
	SSLKEYLOGFILE="$CAP_DIR/keys/n$i.log" p2p-node "${args[@]}" \
	    >"$(node_log "$i")" 2>&1 3>&- &
	NT_NODE_PID[$i]=$!
	NT_PIDS+=("$!")
	node_wait_joined "$i" "$boot"
}

# cap_node_stop I: "p2p-node stop" (a graceful Leave) and wait for exit.
cap_node_stop() {
	p2p-node stop --timeout 10 --dir "$(node_dir "$1")" >/dev/null ||
	    return 1
	node_wait_exit "${NT_NODE_PID[$1]}" 20
}

# cap_run: the live part (see the top of this file). Leaves the capture,
# the concatenated key log and the ports in $CAP_DIR.
cap_run() {
	local i ports out resp
	node_overlay "$CAP_N"
	mkdir -p "$CAP_DIR/keys"
	for ((i = 0; i < CAP_N; i++)); do
		: >"$CAP_DIR/keys/n$i.log"
	done
	chmod 0600 "$CAP_DIR"/keys/*.log
	chown -R "$NT_USER:" "$CAP_DIR/keys"
	mapfile -t ports < <(cap_free_ports "$CAP_N")
	printf '%s\n' "${ports[@]}" >"$CAP_DIR/ports"
	cap_dumpcap_start "${ports[@]}" || return 1
	cap_node_start 0 "${ports[0]}" || return 1
	for ((i = 1; i < CAP_N; i++)); do
		cap_node_start "$i" "${ports[$i]}" "${NT_NODE_ADDR[0]}" ||
		    return 1
	done
	node_wait_ring 60 || return 1
	node_ping_all 0 1 || return 1
	p2p-put --dir "$(node_dir 0)" user0@test.p2psip hello >/dev/null ||
	    return 1
	# Fetch through a node that is not responsible for the resource, or
	# the Fetch would be answered inside that node, off the wire.
	resp=$(p2p-node route --json --timeout 20 --dir "$(node_dir 0)" \
	    --resource user0@test.p2psip | jq -r .responsible) || return 1
	for ((i = 0; i < CAP_N; i++)); do
		[ "${NT_NODE_ID[$i]}" != "$resp" ] && break
	done
	out=$(p2p-get --dir "$(node_dir "$i")" user0@test.p2psip) || return 1
	[ "$out" = hello ] || { echo "p2p-get gave '$out'" >&2; return 1; }
	for ((i = CAP_N - 1; i >= 0; i--)); do
		cap_node_stop "$i" || return 1
	done
	cap_dumpcap_stop
	cat "$CAP_DIR"/keys/n*.log >"$CAP_DIR/keys.log"
}

# cap_split: read "tshark -z follow,tls,raw" output on stdin and print
# one line per RELOAD frame, in the order the frames started on the
# wire: "<direction> <type> 0000 <bytes as hex>". Exits non-zero, with
# the reason, on bytes that are not whole frames.
cap_split() {
	python3 -c '
import sys
# Lines of the other direction start with a tab; each line is the data
# of one TLS record.
buf = {0: bytearray(), 1: bytearray()}
starts = {0: [], 1: []}   # (chunk number, byte offset) of each chunk
chunk = 0
for line in sys.stdin:
    s = line.rstrip("\n")
    h = s.strip()
    if not h or h.startswith(("=", "Follow:", "Filter:", "Node ")):
        continue
    d = 1 if s.startswith("\t") else 0
    starts[d].append((chunk, len(buf[d])))
    buf[d] += bytes.fromhex(h)
    chunk += 1
out = []
for d in (0, 1):
    b, i, k = buf[d], 0, 0
    while i < len(b):
        while k + 1 < len(starts[d]) and starts[d][k + 1][1] <= i:
            k += 1
        t = b[i]
        if t == 0x80 and len(b) - i >= 8:
            end = i + 8 + int.from_bytes(b[i + 5:i + 8], "big")
        elif t == 0x81:
            end = i + 9
        else:
            sys.exit("direction %d: no frame header at byte %d: %s" %
                     (d, i, b[i:i + 16].hex()))
        if end > len(b):
            sys.exit("direction %d: frame at byte %d ends past the "
                     "stream (%d > %d)" % (d, i, end, len(b)))
        out.append((starts[d][k][0], d, i, t, b[i:end]))
        i = end
for _, d, _, t, f in sorted(out):
    print("%d %02x 0000 %s" % (d, t, " ".join("%02x" % x for x in f)))
'
}

# cap_tshark ARGS...: tshark on the capture, decrypting TLS on the nodes'
# listening ports with the key log.
cap_tshark() {
	local p dec=()
	while read -r p; do
		dec+=(-d "tcp.port==$p,tls")
	done <"$CAP_DIR/ports"
	tshark -r "$CAP_DIR/cap.pcapng" \
	    -o "tls.keylog_file:$CAP_DIR/keys.log" "${dec[@]}" "$@" \
	    2>/dev/null
}

# cap_extract: every TCP stream to frames ($CAP_DIR/frames: the lines of
# cap_split, stream by stream, with the stream number first), then
# $CAP_DIR/frames.pcap. Fails when a stream does not cut into frames
# (a record that did not decrypt leaves a hole that breaks the cut), or
# when a stream of encrypted records gives nothing (it was not
# decrypted).
cap_extract() {
	local s n enc alerts
	: >"$CAP_DIR/frames"
	CAP_STREAMS=0
	for s in $(cap_tshark -T fields -e tcp.stream | sort -un); do
		CAP_STREAMS=$((CAP_STREAMS + 1))
		if ! cap_tshark -q -z "follow,tls,raw,$s" | cap_split \
		    >"$CAP_DIR/s$s.frames"; then
			echo "stream $s does not cut into RELOAD frames" >&2
			return 1
		fi
		# A stream with encrypted records must give frames, unless
		# all it carried was a close_notify (which then decrypts).
		n=$(wc -l <"$CAP_DIR/s$s.frames")
		enc=$(cap_tshark -Y "tcp.stream == $s && tls.record.opaque_type" |
		    wc -l)
		alerts=$(cap_tshark -Y "tcp.stream == $s && tls.alert_message" |
		    wc -l)
		if [ "$enc" -gt 0 ] && [ "$n" -eq 0 ] && [ "$alerts" -eq 0 ]; then
			echo "stream $s: $enc encrypted packets, nothing" \
			    "decrypted" >&2
			return 1
		fi
		sed "s/^/$s /" "$CAP_DIR/s$s.frames" >>"$CAP_DIR/frames"
	done
	cut -d' ' -f4- "$CAP_DIR/frames" >"$CAP_DIR/frames.hex"
	text2pcap -q -T 40000,6084 "$CAP_DIR/frames.hex" \
	    "$CAP_DIR/frames.pcap" >/dev/null 2>&1
}

# cap_flagged PCAP: the number of problems tshark reports in PCAP:
# packets that match CAP_BAD plus entries of the expert tap at warning
# level or above (some dissector errors are expert infos attached to no
# tree item, which only the tap lists), as tests/tshark/check counts.
cap_flagged() {
	local a b
	a=$(tshark -r "$1" -Y "$CAP_BAD" 2>/dev/null | wc -l)
	b=$(tshark -r "$1" -q -z expert,warn 2>/dev/null |
	    grep -cE '^(Errors|Warns) \(')
	echo $((a + b))
}

# cap_report PCAP: what tshark flags in PCAP, with the frame hex of each
# flagged packet, for the test's output.
cap_report() {
	local no
	tshark -r "$1" -q -z expert,warn 2>/dev/null | grep -E '^ +[0-9]+ ' |
	    sed 's/^/#   /'
	for no in $(tshark -r "$1" -Y "$CAP_BAD" -T fields -e frame.number \
	    2>/dev/null); do
		echo "# packet $no (stream dir type hex):"
		sed -n "${no}p" "$CAP_DIR/frames" | sed 's/^/#   /'
	done
}

cap_setup_file() {
	CAP_SKIP=$(cap_missing)
	export CAP_SKIP
	[ -n "$CAP_SKIP" ] && return 0
	node_setup
	CAP_DIR=$NT_DIR
	export CAP_DIR NT_DIR
	if ! cap_run >"$CAP_DIR/run.log" 2>&1; then
		CAP_FAIL="the overlay run failed; see below"
	elif ! cap_extract >>"$CAP_DIR/run.log" 2>&1; then
		CAP_FAIL="decryption or framing failed; see below"
	else
		CAP_FAIL=
	fi
	export CAP_FAIL CAP_STREAMS
	# Nothing may outlive the run: the tests only read files. Only the
	# children this shell has not reaped yet are killed: a PID that was
	# waited for may already belong to another process.
	local pid live
	live=" $(jobs -p | tr '\n' ' ') "
	for pid in "${NT_PIDS[@]}"; do
		[[ $live == *" $pid "* ]] && _nt_kill "$pid"
	done
	NT_PIDS=()
}

cap_teardown_file() {
	if [ -n "${CAP_KEEP:-}" ] && [ -n "${CAP_DIR:-}" ]; then
		mkdir -p "$CAP_KEEP"
		cp -a "$CAP_DIR" "$CAP_KEEP/"
	fi
	[ -n "${CAP_DIR:-}" ] && rm -rf "$CAP_DIR"
	return 0
}

# cap_ready: skip when the test cannot run here; fail (with the run's
# log and the node logs) when the live part failed.
cap_ready() {
	[ -z "$CAP_SKIP" ] || skip "$CAP_SKIP"
	if [ -n "$CAP_FAIL" ]; then
		echo "$CAP_FAIL" >&2
		cat "$CAP_DIR/run.log" >&2
		tail -n 30 "$CAP_DIR"/n*.log >&2 2>/dev/null
		return 1
	fi
}
