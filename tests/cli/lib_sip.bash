# Fixtures for the SIP end-to-end tests (tests/cli/sip.bats), on top of
# the node fixtures of lib_node.bash.
#
#   load lib_sip
#   setup()    { sip_setup; }
#   teardown() { sip_teardown; }
#
# sip_overlay N [OPTIONS...] starts an N-node overlay (p2p-testkit
# directories made with the overlay OPTIONS, every node on 127.0.0.1)
# whose nodes run a SIP front, `p2p-node run --sip 127.0.0.1:0`, and
# reads each front's UDP and TCP address from the node's "sip.status"
# control method into SIP_UDP[I] and SIP_TCP[I].
# Node I's certificate carries the user name "userI@test.p2psip"
# (sip_aor I); that is the only AOR its front registers.
#
# SIPp runs from the scenarios in tests/sip/ (sipp_run in the foreground,
# sipp_start in the background); every run NAME leaves its screen output,
# statistics, unexpected messages and full message trace in $NT_DIR
# (sipp-NAME.out, .csv, .err, .msg). baresip runs headless from a config
# directory made by baresip_start. Every process is recorded by PID in
# NT_PIDS, which node_teardown kills (never by name). Every wait is a
# bounded poll; NT_SCALE multiplies the bounds.
#
# SIP_EXEC is a command prefix for the user agents and the probes of
# their ports (SIPp, p2p-call, ss, the free-port probe): empty on the
# loopback, `ip netns exec NS` to run them inside a NAT lab's namespace
# (tests/nat/lab.bash) next to the node they use. sip_setup empties it.

# Variables set here are read by the tests.
# shellcheck disable=SC2034
# shellcheck source=lib_node.bash
source "$(dirname "${BASH_SOURCE[0]}")/lib_node.bash"
# p2p_wait_for
# shellcheck source=helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"

SIP_SCEN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../sip" && pwd)
SIP_DOMAIN=test.p2psip

SIP_UDP=()	# node index -> "127.0.0.1:port" of its front (UDP)
SIP_TCP=()	# node index -> "127.0.0.1:port" of its front (TCP)
SIP_EXEC=()	# command prefix of user agents (see above)

sip_setup() {
	node_setup
	SIP_UDP=()
	SIP_TCP=()
	SIP_EXEC=()
	SIPP_EXIT=
}

# sip_teardown: on failure, show the end of every SIPp trace (the node
# logs are shown by node_teardown), then stop everything.
sip_teardown() {
	local f
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${NT_DIR:-}" ]; then
		for f in "$NT_DIR"/sipp-*.err "$NT_DIR"/sipp-*.msg \
		    "$NT_DIR"/*.events "$NT_DIR"/baresip-*/out; do
			[ -s "$f" ] || continue
			echo "---- ${f#"$NT_DIR"/} (last 60 lines)" >&2
			tail -n 60 "$f" >&2
		done
	fi
	node_teardown
}

# sip_have_front: does this p2p-node take --sip?
sip_have_front() {
	p2p-node run --help 2>&1 | grep -q -- '--sip'
}

# sip_name I / sip_aor I: the user part and the AOR of node I's user.
sip_name() {
	echo "user$1"
}
sip_aor() {
	echo "user$1@$SIP_DOMAIN"
}

# sip_cert_user I: the user name in node I's certificate (the
# rfc822Name of its subjectAltName), read by openssl.
sip_cert_user() {
	openssl x509 -in "$(node_dir "$1")/cert.pem" -noout \
	    -ext subjectAltName | grep -o 'email:[^, ]*' | head -n 1 |
	    cut -c7-
}

# sip_ctl I METHOD [PARAMS-JSON]: one JSON-RPC call on node I's control
# socket; prints the result (JSON, one line). An error answer is printed
# on stderr and returns 1; no answer within 15 s returns 3.
sip_ctl() {
	python3 - "$(node_dir "$1")/node.sock" "$2" "${3:-{\}}" <<'EOF'
import json, socket, sys
path, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
try:
    s.connect(path)
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                           "params": params}) + "\n").encode())
    buf = b""
    while True:
        while b"\n" not in buf:
            b = s.recv(65536)
            if not b:
                raise EOFError("connection closed")
            buf += b
        line, buf = buf.split(b"\n", 1)
        m = json.loads(line)
        if m.get("id") != 1:
            continue	# a notification
        if "error" in m:
            print(json.dumps(m["error"]), file=sys.stderr)
            sys.exit(1)
        print(json.dumps(m.get("result")))
        sys.exit(0)
except (OSError, EOFError, ValueError) as e:
    print("%s: %s" % (path, e), file=sys.stderr)
    sys.exit(3)
EOF
}

# sip_status I: node I's "sip.status" (JSON).
sip_status() {
	sip_ctl "$1" sip.status
}

# sip_read_front I: wait until node I's sip.status names its UDP front;
# sets SIP_UDP[I] and SIP_TCP[I].
sip_read_front() {
	local i=$1 s u secs=$((30 * NT_SCALE))
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		if s=$(sip_status "$i" 2>/dev/null); then
			u=$(jq -r '.udp // empty' <<<"$s")
			if [[ "$u" =~ ^127\.0\.0\.1:[1-9][0-9]*$ ]]; then
				SIP_UDP[$i]=$u
				SIP_TCP[$i]=$(jq -r '.tcp // empty' <<<"$s")
				return 0
			fi
		fi
		sleep 0.2
	done
	echo "node $i: no SIP front in sip.status after ${secs}s: ${s:-}" >&2
	return 1
}

# sip_node_start I [BOOTSTRAP] [SIP-ADDR] [extra run options...]: start
# node I with a SIP front at SIP-ADDR (127.0.0.1:0 by default: a free
# port) and read its addresses. With port 0 the front binds the UDP port
# the kernel gives it and then the same TCP port, which another socket
# may hold: a node that exits at start-up with "cannot listen" is
# started again (3 tries, each one said on stderr).
sip_node_start() {
	local i=$1 boot=${2:-} addr=${3:-127.0.0.1:0} try
	shift
	[ $# -gt 0 ] && shift
	[ $# -gt 0 ] && shift
	for try in 1 2 3; do
		if node_start "$i" "$boot" --sip "$addr" "$@"; then
			sip_read_front "$i"
			return
		fi
		node_alive "$i" && return 1
		grep -q 'cannot listen' "$(node_log "$i")" || return 1
		echo "node $i (try $try): $(tail -n 1 "$(node_log "$i")")" >&2
	done
	return 1
}

# sip_overlay N [OPTIONS...]: N node directories (p2p-testkit overlay
# OPTIONS), then nodes 0 .. N-1 with a SIP front each, all joining
# through node 0, in a converged ring.
sip_overlay() {
	local n=$1 i
	node_overlay "$n" "${@:2}"
	sip_node_start 0 || return 1
	for ((i = 1; i < n; i++)); do
		sip_node_start "$i" "${NT_NODE_ADDR[0]}" || return 1
	done
	node_wait_ring 120
}

# sip_front_port I: the UDP port of node I's front.
sip_front_port() {
	echo "${SIP_UDP[$1]##*:}"
}

# sip_free_udp_port: a UDP port on 127.0.0.1 that was free a moment ago.
sip_free_udp_port() {
	"${SIP_EXEC[@]}" python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# sip_free_baresip_port: a port P on 127.0.0.1 that baresip can listen
# on: free a moment ago for UDP and TCP, and P + 1 for TCP too (its
# SIP/TLS transport takes the next port).
sip_free_baresip_port() {
	"${SIP_EXEC[@]}" python3 -c 'import socket
for _ in range(200):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    ok = p < 65535
    held = [u]
    for port in (p, p + 1):
        if not ok:
            break
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.append(t)
        try:
            t.bind(("127.0.0.1", port))
        except OSError:
            ok = False
    for x in held:
        x.close()
    if ok:
        print(p)
        break
else:
    raise SystemExit("no free port")'
}

# sip_wait_udp PORT [SECONDS]: wait until something listens on UDP
# 127.0.0.1:PORT.
sip_wait_udp() {
	local port=$1 secs=$((${2:-10} * NT_SCALE))
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		"${SIP_EXEC[@]}" ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	echo "nothing listens on UDP port $port after ${secs}s" >&2
	return 1
}

# sip_node_kill I: SIGKILL node I (and reap it).
sip_node_kill() {
	_nt_kill "${NT_NODE_PID[$1]}"
}

# ---- SIPp -------------------------------------------------------------------

# _sipp_args NAME: the options every SIPp run gets (local address, the
# overlay's domain, no keyboard, traces under $NT_DIR).
_sipp_args() {
	local b=$NT_DIR/sipp-$1
	printf '%s\n' -i 127.0.0.1 -key domain "$SIP_DOMAIN" -nostdin \
	    -trace_err -error_file "$b.err" \
	    -trace_msg -message_file "$b.msg" \
	    -trace_stat -stf "$b.csv" -fd 1 \
	    -trace_screen -screen_file "$b.screen"
}

# sipp_run NAME SCENARIO [sipp options and remote address...]: run
# tests/sip/SCENARIO.xml in the foreground (bounded by -timeout, which
# the caller should give, and by a hard limit of 180 s); the exit status
# goes to SIPP_EXIT (0: every call succeeded, 1: at least one failed).
# Always returns 0: the caller checks SIPP_EXIT.
sipp_run() {
	local name=$1 scen=$2 args
	shift 2
	mapfile -t args < <(_sipp_args "$name")
	SIPP_EXIT=0
	(cd "$NT_DIR" && exec timeout -k 5 $((180 * NT_SCALE)) \
	    "${SIP_EXEC[@]}" sipp -sf "$SIP_SCEN/$scen.xml" "${args[@]}" \
	    "$@") \
	    >"$NT_DIR/sipp-$name.out" 2>&1 3>&- </dev/null || SIPP_EXIT=$?
	return 0
}

# sipp_start NAME SCENARIO [sipp options...]: the same in the
# background; its PID goes to SIPP_PID (and NT_PIDS).
sipp_start() {
	local name=$1 scen=$2 args
	shift 2
	mapfile -t args < <(_sipp_args "$name")
	"${SIP_EXEC[@]}" sipp -sf "$SIP_SCEN/$scen.xml" "${args[@]}" "$@" \
	    >"$NT_DIR/sipp-$name.out" 2>&1 3>&- </dev/null &
	SIPP_PID=$!
	NT_PIDS+=("$SIPP_PID")
}

# sipp_wait PID [SECONDS]: wait for a background SIPp; its exit status
# goes to SIPP_EXIT. Returns 1 if it still runs after SECONDS.
sipp_wait() {
	node_wait_exit "$1" "${2:-60}" || {
		echo "SIPp $1 still running after ${2:-60}s" >&2
		return 1
	}
	SIPP_EXIT=$NT_EXIT
}

# sipp_stat NAME FIELD: FIELD (e.g. "SuccessfulCall(C)") from the last
# line of run NAME's statistics file.
sipp_stat() {
	awk -F';' -v f="$2" '
	    NR == 1 { for (i = 1; i <= NF; i++) if ($i == f) c = i; next }
	    { last = $c }
	    END { if (c) print last; else exit 1 }' "$NT_DIR/sipp-$1.csv"
}

# sipp_calls NAME: "successful failed" calls of run NAME.
sipp_calls() {
	echo "$(sipp_stat "$1" 'SuccessfulCall(C)')" \
	    "$(sipp_stat "$1" 'FailedCall(C)')"
}

# sipp_received NAME CODE: how many responses CODE run NAME received.
sipp_received() {
	grep -A2 -E '^UDP message received' "$NT_DIR/sipp-$1.msg" |
	    grep -c "^SIP/2.0 $2 " || true
}

# sip_register NAME I USER [LOCALPORT] [SCENARIO]: REGISTER USER@domain
# at node I's front, with SIPp's address (LOCALPORT, or a free one) as
# the Contact; register.xml expects 200, register_forbidden 403.
sip_register() {
	local name=$1 i=$2 user=$3 port=${4:-} scen=${5:-register} p=()
	[ -n "$port" ] && p=(-p "$port")
	sipp_run "$name" "$scen" -s "$user" -key expires 600 "${p[@]}" \
	    -m 1 -timeout 30s -timeout_error "${SIP_UDP[$i]}"
}

# sip_call NAME I CALLEE-USER PAUSE-MS: user I registers at node I's
# front from a free port (run NAME-reg), then calls CALLEE-USER from
# that port through the same front with uac.xml (run NAME): INVITE ...
# 200, ACK, PAUSE-MS, BYE, 200. SIPP_EXIT is the call's exit status (or
# the REGISTER's when that failed).
sip_call() {
	local name=$1 i=$2 callee=$3 pause=$4 port
	port=$(sip_free_udp_port)
	sip_register "$name-reg" "$i" "$(sip_name "$i")" "$port"
	[ "$SIPP_EXIT" -eq 0 ] || return 0
	sipp_run "$name" uac -s "$callee" -key caller "$(sip_name "$i")" \
	    -p "$port" -m 1 -d "$pause" -timeout 60s -timeout_error \
	    "${SIP_UDP[$i]}"
}

# sip_call_ok UAC UAS: after sip_call UAC and a background UAS (sipp_start
# UAS, SIPP_PID): each made one successful call; the caller heard 180 and
# 200 twice (the INVITE's and the BYE's).
sip_call_ok() {
	[ "$SIPP_EXIT" -eq 0 ] && [ "$(sipp_calls "$1")" = "1 0" ] &&
	[ "$(sipp_received "$1" 180)" -ge 1 ] &&
	[ "$(sipp_received "$1" 200)" -ge 2 ] &&
	sipp_wait "$SIPP_PID" 30 && [ "$SIPP_EXIT" -eq 0 ] &&
	[ "$(sipp_calls "$2")" = "1 0" ]
}

# sip_lookup_wait I AOR [SECONDS]: poll node I's "sip.lookup" until the
# overlay has a registration under AOR.
sip_lookup_wait() {
	local i=$1 aor=$2 secs=$((${3:-30} * NT_SCALE)) r=
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		r=$(sip_ctl "$i" sip.lookup "{\"aor\":\"$aor\"}" 2>&1) &&
		    [ "$(jq -c '(.registrations // .targets // .bindings // .)
		        | if type == "array" then length else 1 end' \
		        <<<"$r" 2>/dev/null)" != 0 ] && return 0
		sleep 0.5
	done
	echo "node $i: no registration of $aor after ${secs}s: $r" >&2
	return 1
}

# ---- raw datagrams ----------------------------------------------------------

# sip_udp_probe PORT KIND [WAIT_S]: send one datagram of KIND to
# 127.0.0.1:PORT and print every answer's status line (or "no answer")
# within WAIT_S seconds (default 1). KIND:
#   garbage     512 random bytes
#   text        a line of text that is not SIP
#   nohdr       a request line and nothing else
#   badcl       an OPTIONS of 10 KB whose Content-Length claims more
#   big10k      an OPTIONS with a 10 KB header
#   huge        an INVITE of 65507 bytes (the largest UDP datagram)
#   options     a well-formed OPTIONS for the server itself
#   message     a MESSAGE outside a dialog (a proxied request)
sip_udp_probe() {
	python3 - "$@" <<'EOF'
import os, socket, sys, time
port, kind = int(sys.argv[1]), sys.argv[2]
wait = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
lp = s.getsockname()[1]
tag = os.urandom(4).hex()

def req(method, extra="", body=b"", cl=None):
    h = ("%s sip:127.0.0.1:%d SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:probe@test.p2psip>;tag=%s\r\n"
         "To: <sip:127.0.0.1:%d>\r\n"
         "Call-ID: %s@127.0.0.1\r\n"
         "CSeq: 1 %s\r\n%s"
         "Content-Length: %d\r\n\r\n") % (method, port, lp, tag, tag, port,
                                         tag, method, extra,
                                         len(body) if cl is None else cl)
    return h.encode() + body

if kind == "garbage":
    d = os.urandom(512)
elif kind == "text":
    d = b"hello, are you SIP?\n"
elif kind == "nohdr":
    d = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\n\r\n"
elif kind == "badcl":
    d = req("OPTIONS", "Content-Type: text/plain\r\n", b"x" * 10240, 20480)
elif kind == "big10k":
    d = req("OPTIONS", "X-Filler: " + "y" * 10240 + "\r\n")
elif kind == "huge":
    d = req("INVITE", "X-Filler: " + "z" * 65300 + "\r\n")
    d = d[:65507]
elif kind == "options":
    d = req("OPTIONS", "Accept: application/sdp\r\n")
elif kind == "message":
    d = req("MESSAGE", "Content-Type: text/plain\r\n", b"hello")
else:
    sys.exit("unknown kind " + kind)
s.sendto(d, ("127.0.0.1", port))
end = time.monotonic() + wait
got = 0
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        b, _ = s.recvfrom(70000)
    except socket.timeout:
        break
    got += 1
    print(b.split(b"\r\n", 1)[0].decode("utf-8", "replace"))
    if kind == "options":
        break
if not got:
    print("no answer")
EOF
}

# sip_tcp_probe PORT BYTES: send a request line, a Content-Length of
# BYTES and that many bytes of body over TCP to 127.0.0.1:PORT; print
# the status line of an answer, "closed" if the front closes the
# connection, or "no answer" after 3 s.
sip_tcp_probe() {
	python3 - "$@" <<'EOF'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
lp = s.getsockname()[1]
h = ("MESSAGE sip:user9@test.p2psip SIP/2.0\r\n"
     "Via: SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bKbig%d\r\n"
     "Max-Forwards: 70\r\nFrom: <sip:probe@test.p2psip>;tag=b\r\n"
     "To: <sip:user9@test.p2psip>\r\nCall-ID: big%d@127.0.0.1\r\n"
     "CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n"
     "Content-Length: %d\r\n\r\n") % (lp, lp, lp, n)
try:
    s.sendall(h.encode())
    s.sendall(b"m" * n)
except OSError:
    print("closed")
    sys.exit(0)
s.settimeout(3)
try:
    b = s.recv(65536)
    print(b.split(b"\r\n", 1)[0].decode("utf-8", "replace") if b
          else "closed")
except socket.timeout:
    print("no answer")
except OSError:
    print("closed")
EOF
}

# ---- baresip ----------------------------------------------------------------

# baresip_start NAME AOR FRONT-PORT [SOURCE-WAV] [PASSWORD]: a headless
# baresip in $NT_DIR/baresip-NAME (its own config, accounts and
# contacts; no sound card: audio from SOURCE-WAV through aufile,
# received audio to aubridge, both directions dumped to WAV files by
# sndfile), listening on a free 127.0.0.1 port, registering AOR through
# the front at 127.0.0.1:FRONT-PORT (answering its Digest challenge with
# PASSWORD, when given) over TRANSPORT (udp, or tls to the front's
# --sip-tls port, checking its certificate against CAFILE) and answering
# calls itself. Its PID goes to BARESIP_PID, its output to
# $NT_DIR/baresip-NAME/out. With BARESIP_STUN=HOST:PORT set, its media
# use ICE (baresip's ice module) with that STUN server, on every
# interface, RTP and RTCP multiplexed; it runs under SIP_EXEC (a lab
# namespace) when that is set.
baresip_start() {
	local name=$1 aor=$2 front=$3 wav=${4:-} pass=${5:-} d port auth=
	local transp=${6:-udp} cafile=${7:-} uparam=
	d=$NT_DIR/baresip-$name
	mkdir -p "$d"
	port=$(sip_free_baresip_port)
	if [ -z "$wav" ]; then
		wav=$d/source.wav
		sox -n -r 8000 -c 1 -b 16 "$wav" synth 5 sine 300-3000 \
		    vol 0.5 2>/dev/null
	fi
	cat >"$d/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$port
net_interface		127.0.0.1
call_local_timeout	60
call_max_calls		4
audio_player		aubridge,nil
audio_source		aufile,$wav
audio_alert		aubridge,nil
audio_level		no
ausrc_srate		8000
ausrc_channels		1
rtp_ports		40000-40999
jitter_buffer_delay	5-10
rtp_stats		no
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
snd_path		$d
module_tmp		uuid.so
module_tmp		account.so
module_app		menu.so
EOF
	[ -n "$cafile" ] && echo "sip_cafile		$cafile" >>"$d/config"
	if [ -n "${BARESIP_STUN:-}" ]; then
		sed -i '/^net_interface/d' "$d/config"
		# (p2p-call offers RTP and RTCP multiplexed, one component)
		printf 'module\t\t\tstun.so\nmodule\t\t\tturn.so\nmodule\t\t\tice.so\nrtcp_mux\t\tyes\n' \
		    >>"$d/config"
	fi
	[ -n "$pass" ] && auth=";auth_pass=$pass"
	[ "$transp" = udp ] || uparam=";transport=$transp"
	local nat="medianat="
	[ -n "${BARESIP_STUN:-}" ] &&
	    nat="medianat=ice;stunserver=stun:$BARESIP_STUN"
	printf '<sip:%s%s>%s;regint=60;outbound="sip:127.0.0.1:%s;transport=%s";answermode=auto;audio_codecs=PCMU,PCMA;%s;mediaenc=\n' \
	    "$aor" "$uparam" "$auth" "$front" "$transp" "$nat" >"$d/accounts"
	: >"$d/contacts"
	BARESIP_PORT=$port
	"${SIP_EXEC[@]}" baresip -f "$d" -v >"$d/out" 2>&1 3>&- </dev/null &
	BARESIP_PID=$!
	NT_PIDS+=("$BARESIP_PID")
}

# baresip_wait NAME PATTERN [SECONDS]: wait for PATTERN in its output.
baresip_wait() {
	p2p_wait_for "$NT_DIR/baresip-$1/out" "$2" "$((${3:-20} * NT_SCALE))" \
	    "${BARESIP_PID:-}"
}

# ---- p2p-call ---------------------------------------------------------------

# call_start NAME I ARGS...: `p2p-call --dir NODE-I ARGS...` in the
# background, JSON events to $NT_DIR/NAME.events, stderr to NAME.log;
# its PID goes to CALL_PID (and NT_PIDS).
call_start() {
	local name=$1 i=$2
	shift 2
	"${SIP_EXEC[@]}" p2p-call --dir "$(node_dir "$i")" "$@" \
	    >"$NT_DIR/$name.events" 2>"$NT_DIR/$name.log" 3>&- </dev/null &
	CALL_PID=$!
	NT_PIDS+=("$CALL_PID")
}

# call_events NAME: the event names of run NAME, one per line, in order
# (the "event" member of each JSON line, or "type").
call_events() {
	jq -r '.event // .type // empty' "$NT_DIR/$1.events" 2>/dev/null
}

# call_wait_event NAME EVENT [SECONDS] [PID]: wait until run NAME reported
# EVENT.
call_wait_event() {
	local name=$1 ev=$2 secs=$((${3:-30} * NT_SCALE)) pid=${4:-}
	SECONDS=0
	while [ "$SECONDS" -lt "$secs" ]; do
		call_events "$name" | grep -qx -- "$ev" && return 0
		if [ -n "$pid" ] && ! _nt_running "$pid"; then
			call_events "$name" | grep -qx -- "$ev" && return 0
			echo "p2p-call $name exited before '$ev':" >&2
			cat "$NT_DIR/$name.events" "$NT_DIR/$name.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "p2p-call $name: no '$ev' event after ${secs}s:" >&2
	cat "$NT_DIR/$name.events" "$NT_DIR/$name.log" >&2
	return 1
}

# call_finish DIAL ANSWER DIAL-PID ANSWER-PID MIN-RTP: runs DIAL and
# ANSWER both reported "ended", exited 0, and each received at least
# MIN-RTP RTP packets.
call_finish() {
	call_wait_event "$1" ended 30 "$3" || return 1
	call_wait_event "$2" ended 30 "$4" || return 1
	node_wait_exit "$3" 20
	[ "$NT_EXIT" -eq 0 ] || return 1
	node_wait_exit "$4" 20
	[ "$NT_EXIT" -eq 0 ] || return 1
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/$1.events")" -ge "$5" ] &&
	[ "$(jq -s 'map(select(.event == "ended"))[0].rtp_received' \
	    "$NT_DIR/$2.events")" -ge "$5" ]
}

# call_two_phones TRANSPORT: p2p-call --TRANSPORT (tcp or tls) waits at
# node 2's front and registers a contact of that transport; a p2p-call
# on UDP at node 1 sends it a message; then one on TRANSPORT at node 1
# calls it: 2 s of audio each way (call_finish), and both fronts logged
# the INVITE on TRANSPORT.
call_two_phones() {
	local t=$1 apid dpid
	sip_chirp "$NT_DIR/a.wav" 3 200-3400
	sip_chirp "$NT_DIR/b.wav" 3 3400-200
	call_start answer 2 answer "--$t" --json --play "$NT_DIR/a.wav"
	apid=$CALL_PID
	call_wait_event answer registered 30 "$apid" || return 1
	[[ "$(jq -r '.bindings[0].contact' <<<"$(sip_status 2)")" == \
	    *"transport=$t"* ]] || return 1
	sip_lookup_wait 1 "$(sip_aor 2)" 30 || return 1
	p2p-call --dir "$(node_dir 1)" message "$(sip_aor 2)" "over $t" ||
	    return 1
	call_wait_event answer message 20 "$apid" || return 1
	call_start dial 1 dial "$(sip_aor 2)" --duration 2 "--$t" --json \
	    --play "$NT_DIR/b.wav"
	dpid=$CALL_PID
	call_wait_event dial answered 30 "$dpid" || return 1
	call_finish dial answer "$dpid" "$apid" 50 || return 1
	grep -q "sip: INVITE .* from $t 127\.0\.0\.1:" "$(node_log 1)" &&
	grep -q "sip: INVITE .* to $t 127\.0\.0\.1:" "$(node_log 2)"
}

# sip_chirp FILE SECONDS [F0-F1]: a 8 kHz 16-bit mono test signal: a
# logarithmic chirp plus a little noise, so that its autocorrelation has
# one sharp peak (a recording can then be aligned without ambiguity).
sip_chirp() {
	sox -n -r 8000 -c 1 -b 16 "$1" synth "$2" sine "${3:-200-3400}" \
	    synth "$2" whitenoise mix vol 0.5 2>/dev/null ||
	sox -n -r 8000 -c 1 -b 16 "$1" synth "$2" sine "${3:-200-3400}" \
	    vol 0.5
}
