# Fixtures for the p2p-call tests (tests/cli/call.bats), on top of
# helpers.bash. No overlay: the phones talk straight to each other
# (--no-register, --proxy at the other phone) or to SIPp.
#
#   load lib_call
#   setup()    { call_setup; }
#   teardown() { call_teardown; }
#
# Every background process goes through p2p_spawn (PID recorded, stopped
# by PID in teardown). Every wait is a bounded poll; CALL_SCALE
# multiplies the bounds (the tools run under AddressSanitizer).

# shellcheck source=helpers.bash
source "$(dirname "${BASH_SOURCE[0]}")/helpers.bash"

CALL_SCALE=${CALL_SCALE:-1}

_call_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The tool under test: the sanitizer build unless PATH already has one.
if ! command -v p2p-call >/dev/null 2>&1; then
	PATH="$_call_root/build/san/bin:$_call_root/bin:$PATH"
fi
export PATH

call_setup() {
	p2p_setup
	command -v p2p-call >/dev/null || skip "p2p-call is not built"
	WAVCMP=
	if [ -x "$_call_root/build/san/kit/wavcmp" ]; then
		WAVCMP=$_call_root/build/san/kit/wavcmp
	elif [ -x "$_call_root/build/rel/kit/wavcmp" ]; then
		WAVCMP=$_call_root/build/rel/kit/wavcmp
	fi
}

# call_teardown: on failure show the logs, then stop everything.
call_teardown() {
	local f
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${P2P_TMP:-}" ]; then
		for f in "$P2P_TMP"/*.log; do
			[ -s "$f" ] || continue
			echo "---- ${f#"$P2P_TMP"/} (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
	fi
	p2p_teardown
}

# call_udp_port: a UDP port on 127.0.0.1 that was free a moment ago.
call_udp_port() {
	python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# call_wavs: $P2P_TMP/chirp.wav (3 s sweep, 16 kHz stereo) and
# $P2P_TMP/noise.wav (3 s pink noise, 44.1 kHz mono), made with sox: the
# phones must resample and mix down both.
call_wavs() {
	sox -n -r 16000 -c 2 "$P2P_TMP/chirp.wav" synth 3 sine 200-3200 \
	    vol 0.6
	sox -n -r 44100 -c 1 "$P2P_TMP/noise.wav" synth 3 pinknoise vol 0.5
}

# call_wait PID [SECONDS]: wait for a background process to end; its exit
# status goes to CALL_RC. Returns 1 if it still runs after SECONDS.
call_wait() {
	local pid=$1 secs=$((${2:-30} * CALL_SCALE)) i
	for i in $(seq 1 $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "process $pid still runs after ${secs}s" >&2
		return 1
	fi
	CALL_RC=0
	wait "$pid" || CALL_RC=$?
	return 0
}

# call_events LOG: the JSON event lines of a p2p-call --json log.
call_events() {
	grep '^{' "$1"
}

# call_event LOG NAME: the first event NAME of LOG as one JSON line.
call_event() {
	call_events "$1" | jq -c --arg e "$2" 'select(.event == $e)' |
	    head -n 1
}

# call_answerer NAME PORT [options...]: "p2p-call answer" on PORT, no
# registration, JSON events in $P2P_TMP/NAME.log; waits until it
# listens. PID in CALL_PID.
call_answerer() {
	local name=$1 port=$2
	shift 2
	p2p_spawn "$P2P_TMP/$name.log" p2p-call --no-register --json \
	    --listen "127.0.0.1:$port" "$@" answer
	CALL_PID=$P2P_LAST_PID
	p2p_wait_for "$P2P_TMP/$name.log" '"event":"waiting"' \
	    $((15 * CALL_SCALE)) "$CALL_PID"
}

# call_listener NAME PORT [options...]: "p2p-call register" on PORT
# without registering (it shows messages and refuses calls).
call_listener() {
	local name=$1 port=$2
	shift 2
	p2p_spawn "$P2P_TMP/$name.log" p2p-call --no-register --json \
	    --listen "127.0.0.1:$port" "$@" register
	CALL_PID=$P2P_LAST_PID
	p2p_wait_for "$P2P_TMP/$name.log" '"event":"started"' \
	    $((15 * CALL_SCALE)) "$CALL_PID"
}

# call_sipp NAME ARGS...: SIPp in the background from $P2P_TMP (its trace
# files land there), output in $P2P_TMP/NAME.log. PID in SIPP_PID.
call_sipp() {
	local name=$1
	shift
	(cd "$P2P_TMP" && exec sipp "$@" -nostdin -trace_msg) \
	    >"$P2P_TMP/$name.log" 2>&1 </dev/null &
	SIPP_PID=$!
	P2P_PIDS+=("$SIPP_PID")
}

# call_correlation PLAYED RECORDED: the correlation wavcmp finds.
call_correlation() {
	"$WAVCMP" "$1" "$2" | awk '$1 == "correlation" { print $2 }'
}

# call_fake_node SOCKET LOG EXPIRES [nofront]: a stand-in for a node with
# a SIP front, in python: SOCKET answers "sip.status" (the front's UDP
# address and the user alice@example.p2psip; with nofront the JSON-RPC
# error 2 of a node started without --sip), and the front is a registrar
# that grants at most EXPIRES seconds and logs every REGISTER to LOG
# ("REGISTER expires=N contact=... cseq=..."). PID in CALL_PID.
call_fake_node() {
	cat >"$P2P_TMP/fakenode.py" <<'EOF_PY'
import json, os, socket, sys, threading, time
sockpath, logpath, expires = sys.argv[1], sys.argv[2], int(sys.argv[3])
nofront = len(sys.argv) > 4 and sys.argv[4] == "nofront"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
port = u.getsockname()[1]
log = open(logpath, "a", buffering=1)
def ctl():
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sockpath); srv.listen(4)
    while True:
        c, _ = srv.accept()
        req = json.loads(c.makefile().readline())
        if nofront:
            ans = {"jsonrpc": "2.0", "id": req["id"], "error": {"code": 2, "message": "no SIP front"}}
        else:
            ans = {"jsonrpc": "2.0", "id": req["id"], "result": {"udp": "127.0.0.1:%d" % port,
                   "tcp": "127.0.0.1:%d" % port, "aors": ["alice@example.p2psip"], "node_id": "00", "bindings": []}}
        c.sendall((json.dumps(ans) + "\n").encode()); c.close()
threading.Thread(target=ctl, daemon=True).start()
log.write("ready\n")
while True:
    d, a = u.recvfrom(65535)
    t = d.decode(errors="replace")
    lines = t.split("\r\n")
    if not lines[0].startswith("REGISTER "):
        continue
    hdr = {}
    keep = []
    for l in lines[1:]:
        if not l: break
        k, _, v = l.partition(":")
        hdr[k.strip().lower()] = v.strip()
        if k.strip().lower() in ("via", "from", "to", "call-id", "cseq"):
            keep.append(l)
    ex = int(hdr.get("expires", "-1"))
    log.write("REGISTER expires=%d contact=%s cseq=%s\n" % (ex, hdr.get("contact"), hdr.get("cseq")))
    g = min(ex, expires)
    r = "SIP/2.0 200 OK\r\n" + "\r\n".join(keep).replace("To: <sip:alice@example.p2psip>", "To: <sip:alice@example.p2psip>;tag=reg1") + \
        "\r\nContact: %s;expires=%d\r\nContent-Length: 0\r\n\r\n" % (hdr.get("contact", "").split(";")[0], g)
    u.sendto(r.encode(), a)
EOF_PY
	p2p_spawn "$P2P_TMP/fakenode.out" python3 "$P2P_TMP/fakenode.py" "$@"
	CALL_PID=$P2P_LAST_PID
	p2p_wait_for "$2" '^ready' $((10 * CALL_SCALE)) "$CALL_PID"
}
