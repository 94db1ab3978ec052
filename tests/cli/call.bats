#!/usr/bin/env bats
# p2p-call without an overlay: two phones talking straight to each other
# on 127.0.0.1 (the caller's --proxy is the callee's --listen address),
# and p2p-call against SIPp's built-in uas and uac scenarios. Calls
# through the node's SIP front are tested elsewhere.

load lib_call

setup() {
	call_setup
}

teardown() {
	call_teardown
}

# ---- command line -----------------------------------------------------------

@test "p2p-call: --help, usage errors exit 2, no node exits 3" {
	run p2p-call --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: p2p-call"* ]]
	run p2p-call frobnicate
	[ "$status" -eq 2 ]
	run p2p-call dial
	[ "$status" -eq 2 ]
	run p2p-call dial bob@example.org extra
	[ "$status" -eq 2 ]
	run p2p-call message bob@example.org
	[ "$status" -eq 2 ]
	run p2p-call --no-register dial not-an-aor
	[ "$status" -eq 2 ]
	[[ "$output" == *"user@domain"* ]]
	run p2p-call --no-register --codec opus dial bob@example.org
	[ "$status" -eq 2 ]
	run p2p-call --no-register --listen 0.0.0.0 answer
	[ "$status" -eq 2 ]
	run p2p-call --no-register --listen 127.0.0.1:99999 answer
	[ "$status" -eq 2 ]
	run p2p-call --no-register --duration -1 dial bob@example.org
	[ "$status" -eq 2 ]
	run p2p-call --proxy nowhere dial bob@example.org
	[ "$status" -eq 2 ]
	run p2p-call --proxy 127.0.0.1:5060 register
	[ "$status" -eq 2 ]
	[[ "$output" == *"--as"* ]]
	run p2p-call --no-register --play "$P2P_TMP/missing.wav" \
	    --proxy 127.0.0.1:5060 dial bob@example.org
	[ "$status" -eq 2 ]
	# No node behind --dir: 3, with a hint.
	mkdir -m 0700 "$P2P_TMP/empty"
	run p2p-call --dir "$P2P_TMP/empty" dial bob@example.org
	[ "$status" -eq 3 ]
	[[ "$output" == *"p2p-node"* ]]
	run p2p-call --dir "$P2P_TMP/empty" register
	[ "$status" -eq 3 ]
	# Nobody at the proxy: nothing comes back, 3.
	local dead
	dead=$(call_udp_port)
	run p2p-call --proxy "127.0.0.1:$dead" --as alice@example.org \
	    --timeout 2 register
	[ "$status" -eq 3 ]
	run p2p-call --no-register --proxy "127.0.0.1:$dead" --timeout 2 \
	    message bob@example.org hi
	[ "$status" -eq 3 ]
}

# ---- registration ----------------------------------------------------------

@test "p2p-call register: front and AOR from sip.status, refresh, Expires 0 on SIGTERM; a node without a front exits 3" {
	local reg
	call_fake_node "$P2P_TMP/node.sock" "$P2P_TMP/front.log" 2
	p2p_spawn "$P2P_TMP/alice.log" p2p-call --socket "$P2P_TMP/node.sock" \
	    --json register
	reg=$P2P_LAST_PID
	p2p_wait_for "$P2P_TMP/alice.log" '"event":"registered"' 10 "$reg"
	[ "$(call_event "$P2P_TMP/alice.log" registered |
	    jq -r '"\(.aor) \(.expires)"')" = "alice@example.p2psip 2" ]
	# Granted 2 s: refreshed every second or so.
	sleep 2.5
	[ "$(grep -c 'expires=600' "$P2P_TMP/front.log")" -ge 3 ]
	kill -TERM "$reg"
	call_wait "$reg" 10
	[ "$CALL_RC" -eq 0 ]
	tail -n 1 "$P2P_TMP/front.log" | grep -q '^REGISTER expires=0 '
	# CSeq goes up by one each time.
	local n
	n=$(grep -c '^REGISTER' "$P2P_TMP/front.log")
	[ "$(grep -o 'cseq=[0-9]*' "$P2P_TMP/front.log" | cut -d= -f2 |
	    tr '\n' ' ')" = "$(seq -s ' ' 1 "$n") " ]

	call_fake_node "$P2P_TMP/nofront.sock" "$P2P_TMP/nofront.log" 2 nofront
	run p2p-call --socket "$P2P_TMP/nofront.sock" register
	[ "$status" -eq 3 ]
	[[ "$output" == *"--sip"* ]]
}

# ---- calls between two phones ----------------------------------------------

@test "p2p-call: a call between two phones, 3 s of audio each way, recordings match" {
	local port ans dial c
	[ -n "$WAVCMP" ] || skip "wavcmp is not built (make san)"
	call_wavs
	port=$(call_udp_port)
	call_answerer bob "$port" --play "$P2P_TMP/noise.wav" \
	    --record "$P2P_TMP/bob-heard.wav"
	ans=$CALL_PID
	p2p_spawn "$P2P_TMP/alice.log" p2p-call --no-register --json \
	    --proxy "127.0.0.1:$port" --as alice@example.org \
	    --play "$P2P_TMP/chirp.wav" --record "$P2P_TMP/alice-heard.wav" \
	    --duration 4 dial bob@example.org
	dial=$P2P_LAST_PID
	call_wait "$dial" 30
	[ "$CALL_RC" -eq 0 ]
	call_wait "$ans" 15
	[ "$CALL_RC" -eq 0 ]

	# The caller's events, in order.
	[ "$(call_events "$P2P_TMP/alice.log" | jq -r .event | tr '\n' ' ')" = \
	    "started calling ringing answered ended " ]
	[ "$(call_event "$P2P_TMP/alice.log" answered | jq -r .codec)" = PCMU ]
	[ "$(call_event "$P2P_TMP/alice.log" ended | jq -r .reason)" = \
	    "local hangup" ]
	# 3 s at 50 packets a second each way, give or take a few.
	[ "$(call_event "$P2P_TMP/alice.log" ended | jq .rtp_sent)" -ge 145 ]
	[ "$(call_event "$P2P_TMP/alice.log" ended | jq .rtp_received)" -ge 140 ]
	[ "$(call_event "$P2P_TMP/bob.log" incoming | jq -r .from)" = \
	    alice@example.org ]
	[ "$(call_event "$P2P_TMP/bob.log" ended | jq -r .reason)" = \
	    "remote hangup" ]
	[ "$(call_event "$P2P_TMP/bob.log" ended | jq .rtp_received)" -ge 140 ]

	# What each side recorded is what the other played.
	[ "$(soxi -r "$P2P_TMP/bob-heard.wav")" -eq 8000 ]
	[ "$(soxi -c "$P2P_TMP/bob-heard.wav")" -eq 1 ]
	c=$(call_correlation "$P2P_TMP/chirp.wav" "$P2P_TMP/bob-heard.wav")
	echo "chirp vs bob's recording: $c"
	awk -v c="$c" 'BEGIN { exit !(c > 0.9) }'
	c=$(call_correlation "$P2P_TMP/noise.wav" "$P2P_TMP/alice-heard.wav")
	echo "noise vs alice's recording: $c"
	awk -v c="$c" 'BEGIN { exit !(c > 0.9) }'
	# and not what it played itself.
	c=$(call_correlation "$P2P_TMP/chirp.wav" "$P2P_TMP/alice-heard.wav")
	awk -v c="$c" 'BEGIN { exit !(c < 0.5) }'
}

@test "p2p-call: the callee's codec preference wins (PCMA), --answer-after" {
	local port ans dial t0 t1
	port=$(call_udp_port)
	call_answerer bob "$port" --codec pcma --answer-after 1500
	ans=$CALL_PID
	t0=$(date +%s%N)
	p2p_spawn "$P2P_TMP/alice.log" p2p-call --no-register --json \
	    --proxy "127.0.0.1:$port" --duration 1 dial bob@example.org
	dial=$P2P_LAST_PID
	call_wait "$dial" 30
	[ "$CALL_RC" -eq 0 ]
	t1=$(date +%s%N)
	call_wait "$ans" 15
	[ "$CALL_RC" -eq 0 ]
	[ "$(call_event "$P2P_TMP/alice.log" answered | jq -r .codec)" = PCMA ]
	[ "$(call_event "$P2P_TMP/bob.log" answered | jq -r .codec)" = PCMA ]
	# 1.5 s of ringing and 1 s of talk.
	[ $(((t1 - t0) / 1000000)) -ge 2500 ]
}

@test "p2p-call: an unanswered call is cancelled after --timeout (487), a busy one refused (486)" {
	local port ans dial
	port=$(call_udp_port)
	call_answerer bob "$port" --answer-after 20000
	ans=$CALL_PID
	run p2p-call --no-register --json --proxy "127.0.0.1:$port" \
	    --timeout 2 dial bob@example.org
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$(jq -r 'select(.event == "failed") | "\(.status) \(.timeout)"' \
	    <<<"$(grep '^{' <<<"$output")")" = "487 true" ]
	call_wait "$ans" 15
	[ "$CALL_RC" -eq 1 ]
	[ "$(call_event "$P2P_TMP/bob.log" ended | jq -r .reason)" = \
	    "cancelled by the caller" ]

	# "register" takes no calls.
	port=$(call_udp_port)
	call_listener carol "$port"
	run p2p-call --no-register --json --proxy "127.0.0.1:$port" \
	    dial carol@example.org
	[ "$status" -eq 1 ]
	[ "$(jq -r 'select(.event == "failed") | .status' \
	    <<<"$(grep '^{' <<<"$output")")" = 486 ]
	p2p_wait_for "$P2P_TMP/carol.log" '"event":"incoming"' 5
}

# ---- instant messages -------------------------------------------------------

@test "p2p-call: MESSAGE both ways out of a call, and within a call (interactive mode)" {
	local pa pb fifo ans
	pa=$(call_udp_port)
	pb=$(call_udp_port)
	call_listener alice "$pa" --as alice@example.org
	call_listener bob "$pb" --as bob@example.org
	run p2p-call --no-register --as alice@example.org \
	    message "bob@127.0.0.1:$pb" "hello bob, ça va?"
	[ "$status" -eq 0 ]
	[[ "$output" == *"delivered (200 OK)"* ]]
	run p2p-call --no-register --json --as bob@example.org \
	    --listen 127.0.0.1 message "alice@127.0.0.1:$pa" "hi alice"
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.event == "sent") | .status' \
	    <<<"$(grep '^{' <<<"$output")")" = 200 ]
	p2p_wait_for "$P2P_TMP/bob.log" '"event":"message"' 5
	p2p_wait_for "$P2P_TMP/alice.log" '"event":"message"' 5
	[ "$(call_event "$P2P_TMP/bob.log" message |
	    jq -r '"\(.from)|\(.text)|\(.in_dialog)"')" = \
	    "alice@example.org|hello bob, ça va?|false" ]
	[ "$(call_event "$P2P_TMP/alice.log" message | jq -r .text)" = \
	    "hi alice" ]

	# Within a call: an interactive phone answers and chats.
	pb=$(call_udp_port)
	fifo=$P2P_TMP/in.fifo
	mkfifo "$fifo"
	p2p-call --no-register --json --as carol@example.org \
	    --listen "127.0.0.1:$pb" <"$fifo" >"$P2P_TMP/carol.log" 2>&1 3>&- &
	ans=$!
	P2P_PIDS+=("$ans")
	exec 7>"$fifo"
	p2p_wait_for "$P2P_TMP/carol.log" '"event":"started"' 10 "$ans"
	p2p_spawn "$P2P_TMP/dave.log" p2p-call --no-register --json \
	    --as dave@example.org --proxy "127.0.0.1:$pb" --duration 3 \
	    dial carol@example.org
	p2p_wait_for "$P2P_TMP/carol.log" '"event":"incoming"' 10 "$ans"
	echo "/answer" >&7
	p2p_wait_for "$P2P_TMP/dave.log" '"event":"answered"' 10
	echo "a word within the call" >&7
	p2p_wait_for "$P2P_TMP/dave.log" '"event":"message"' 10
	[ "$(call_event "$P2P_TMP/dave.log" message |
	    jq -r '"\(.from)|\(.text)|\(.in_dialog)"')" = \
	    "carol@example.org|a word within the call|true" ]
	p2p_wait_for "$P2P_TMP/carol.log" '"event":"ended"' 10 "$ans"
	# No call any more: a plain line is explained, not sent.
	echo "anyone there?" >&7
	echo "/quit" >&7
	exec 7>&-
	call_wait "$ans" 15
	[ "$CALL_RC" -eq 0 ]
	grep -q "no call in progress" "$P2P_TMP/carol.log"
	[ "$(call_events "$P2P_TMP/carol.log" | jq -r .event | grep -c '^sent$')" -eq 1 ]
}

# ---- SIPp -------------------------------------------------------------------

@test "p2p-call dial against SIPp's uas scenario" {
	local port
	command -v sipp >/dev/null || skip "sipp is not installed"
	port=$(call_udp_port)
	call_sipp sipp-uas -sn uas -i 127.0.0.1 -p "$port" -m 1 \
	    -timeout 30s -timeout_error
	sleep 0.5
	run p2p-call --no-register --json --proxy "127.0.0.1:$port" \
	    --duration 1 dial "service@127.0.0.1:$port"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *'"event":"ringing"'* ]]
	[[ "$output" == *'"event":"answered","codec":"PCMU"'* ]]
	call_wait "$SIPP_PID" 30
	[ "$CALL_RC" -eq 0 ]
	# SIPp saw our ACK and BYE.
	grep -q "^ACK sip:" "$P2P_TMP"/uas_*_messages.log
	grep -q "^BYE sip:" "$P2P_TMP"/uas_*_messages.log
}

@test "p2p-call answer against SIPp's uac scenario" {
	local port ans
	command -v sipp >/dev/null || skip "sipp is not installed"
	port=$(call_udp_port)
	call_answerer bob "$port"
	ans=$CALL_PID
	call_sipp sipp-uac -sn uac "127.0.0.1:$port" -i 127.0.0.1 \
	    -p "$(call_udp_port)" -m 1 -d 1000 -timeout 30s -timeout_error
	call_wait "$SIPP_PID" 30
	[ "$CALL_RC" -eq 0 ]
	call_wait "$ans" 15
	[ "$CALL_RC" -eq 0 ]
	[ "$(call_event "$P2P_TMP/bob.log" incoming | jq -r .from)" = \
	    sipp@127.0.0.1 ]
	[ "$(call_event "$P2P_TMP/bob.log" ended | jq -r .reason)" = \
	    "remote hangup" ]
	grep -q "^SIP/2.0 180 Ringing" "$P2P_TMP"/uac_*_messages.log
}

# ---- robustness -------------------------------------------------------------

@test "p2p-call: junk datagrams are dropped; retransmitted requests get the same answer" {
	local port
	port=$(call_udp_port)
	call_listener bob "$port"
	python3 - "$port" <<'EOF'
import os, socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.bind(("127.0.0.1", 0))
dst = ("127.0.0.1", port)
junk = [b"", b"\r\n\r\n", b"\x00" * 100, os.urandom(1500),
        b"INVITE sip:bob@x SIP/2.0\r\n\r\n",
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4\r\n\r\n",
        b"MESSAGE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKa\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c1\r\n"
        b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        b"MESSAGE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKb\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c2\r\n"
        b"CSeq: 99999999999 MESSAGE\r\nContent-Length: 0\r\n\r\n",
        b"BYE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKc\r\n"
        b"From: <sip:a@x>;tag=1\r\nTo: <sip:bob@x>;tag=nope\r\nCall-ID: c3\r\n"
        b"CSeq: 1 BYE\r\nContent-Length: 5000\r\n\r\nshort"]
for j in junk:
    s.sendto(j, dst)
# A MESSAGE sent twice (same branch) is answered twice, the same way.
msg = (b"MESSAGE sip:bob@x SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=z9hG4bKretrans\r\n"
       b"From: <sip:probe@x>;tag=9\r\nTo: <sip:bob@x>\r\nCall-ID: r1\r\n"
       b"CSeq: 7 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\n"
       b"Content-Length: 5\r\n\r\nhello") % s.getsockname()[1]
def answer(branch):
    # Junk that parsed well enough was answered too (481, 400...).
    while True:
        a = s.recvfrom(65535)[0]
        if branch in a:
            return a
answers = []
for _ in range(2):
    s.sendto(msg, dst)
    answers.append(answer(b"z9hG4bKretrans"))
assert answers[0].startswith(b"SIP/2.0 200 "), answers[0]
assert answers[0] == answers[1], answers
# OPTIONS: 200 with Allow.
opt = (b"OPTIONS sip:bob@x SIP/2.0\r\n"
       b"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKopt\r\n"
       b"From: <sip:probe@x>;tag=9\r\nTo: <sip:bob@x>\r\nCall-ID: o1\r\n"
       b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n") % s.getsockname()[1]
s.sendto(opt, dst)
a = answer(b"z9hG4bKopt")
assert a.startswith(b"SIP/2.0 200 ") and b"\r\nAllow: " in a, a
EOF
	# Alive, and the message was shown once.
	kill -0 "$CALL_PID"
	[ "$(call_events "$P2P_TMP/bob.log" | jq -r .event | grep -c '^message$')" -eq 1 ]
	run p2p-call --no-register message "bob@127.0.0.1:$port" "still there?"
	[ "$status" -eq 0 ]
}

@test "p2p-call: the 200 OK is retransmitted until the ACK; a retransmitted 200 OK gets the ACK again" {
	local port dial
	# Callee side: a python caller that holds its ACK back.
	port=$(call_udp_port)
	call_answerer bob "$port"
	python3 - "$port" <<'EOF_PY'
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
me = s.getsockname()[1]
s.settimeout(5)
sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n")
def req(method, cseq, totag=b"", body=b"", branch=b"z9hG4bKinv"):
    return (b"%s sip:bob@127.0.0.1:%d SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:%d;rport;branch=%s\r\n"
            b"From: <sip:py@127.0.0.1>;tag=py1\r\nTo: <sip:bob@x>%s\r\n"
            b"Call-ID: held-ack\r\nCSeq: %d %s\r\nContact: <sip:py@127.0.0.1:%d>\r\n"
            b"Max-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s"
            % (method, port, me, branch, totag, cseq, method, me,
               b"Content-Type: application/sdp\r\n" if body else b"",
               len(body), body))
s.sendto(req(b"INVITE", 1, body=sdp), ("127.0.0.1", port))
oks = []
t0 = time.time()
while len(oks) < 3:
    a = s.recvfrom(65535)[0]
    if a.startswith(b"SIP/2.0 200 "):
        oks.append((time.time() - t0, a))
# Timer G: again after about 0.5 s, then 1 s more.
gaps = [oks[1][0] - oks[0][0], oks[2][0] - oks[1][0]]
assert 0.3 < gaps[0] < 0.9 and 0.7 < gaps[1] < 1.6, gaps
totag = [l for l in oks[0][1].split(b"\r\n") if l.startswith(b"To:")][0][len(b"To: <sip:bob@x>"):]
s.sendto(req(b"ACK", 1, totag, branch=b"z9hG4bKack"), ("127.0.0.1", port))
s.settimeout(2.5)
try:
    while True:
        a = s.recvfrom(65535)[0]
        assert not a.startswith(b"SIP/2.0 200 "), "200 OK after the ACK"
except socket.timeout:
    pass
s.settimeout(5)
s.sendto(req(b"BYE", 2, totag, branch=b"z9hG4bKbye"), ("127.0.0.1", port))
while True:
    a = s.recvfrom(65535)[0]
    if b"CSeq: 2 BYE" in a:
        assert a.startswith(b"SIP/2.0 200 "), a
        break
EOF_PY
	call_wait "$CALL_PID" 10
	[ "$CALL_RC" -eq 0 ]

	# Caller side: a python callee that sends its 200 OK twice.
	port=$(call_udp_port)
	python3 - "$port" >"$P2P_TMP/pyuas.log" 2>&1 3>&- <<'EOF_PY' &
import socket, sys
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", port))
s.settimeout(20)
sdp = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 9 RTP/AVP 0\r\n")
acks = 0
while True:
    m, src = s.recvfrom(65535)
    head = m.split(b"\r\n\r\n")[0].split(b"\r\n")
    meth = head[0].split(b" ")[0]
    keep = [l for l in head[1:] if l.split(b":")[0].lower() in
            (b"via", b"from", b"to", b"call-id", b"cseq")]
    keep = [l + b";tag=py2" if l.lower().startswith(b"to:") and b"tag=" not in l
            else l for l in keep]
    if meth == b"INVITE":
        ok = (b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
              b"\r\nContact: <sip:py@127.0.0.1:%d>\r\nContent-Type: application/sdp\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (port, len(sdp), sdp))
        s.sendto(ok, src)
        s.sendto(ok, src)
    elif meth == b"ACK":
        acks += 1
        print("ACK", acks, flush=True)
    elif meth == b"BYE":
        s.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
                 b"\r\nContent-Length: 0\r\n\r\n", src)
        print("BYE", flush=True)
        break
EOF_PY
	P2P_PIDS+=("$!")
	sleep 0.3
	run p2p-call --no-register --json --proxy "127.0.0.1:$port" \
	    --duration 1 dial bob@example.org
	[ "$status" -eq 0 ]
	p2p_wait_for "$P2P_TMP/pyuas.log" '^BYE' 10
	grep -q '^ACK 2' "$P2P_TMP/pyuas.log"
}
