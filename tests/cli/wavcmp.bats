#!/usr/bin/env bats
# wavcmp, the fixture that compares a played file with a recording: a
# tone sweep against itself delayed by 100 ms through a G.711 round trip
# is a match at +100 ms, against unrelated noise it is not; usage errors
# exit 2 and unreadable files 1. The WAV files are made with python3.

load helpers

setup() {
	p2p_setup
	_root=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	if [ -x "$_root/build/san/kit/wavcmp" ]; then
		WAVCMP=$_root/build/san/kit/wavcmp
	elif [ -x "$_root/build/rel/kit/wavcmp" ]; then
		WAVCMP=$_root/build/rel/kit/wavcmp
	else
		skip "wavcmp is not built (make san)"
	fi
	command -v python3 >/dev/null || skip "python3 is missing"
}

teardown() {
	p2p_teardown
}

# mkwav OUT KIND [RATE]: write 5 s of KIND (sweep, late: the sweep 100 ms
# later through mu-law, noise) as 16-bit mono WAV.
mkwav() {
	python3 -W ignore - "$@" <<'EOF'
import math, random, struct, sys, wave
out, kind = sys.argv[1], sys.argv[2]
rate = int(sys.argv[3]) if len(sys.argv) > 3 else 8000
n = 5 * rate
def sweep(i):
    t = i / rate
    return int(12000 * math.sin(2 * math.pi * (200 * t + 320 * t * t)))
if kind == "noise":
    random.seed(7)
    s = [random.randint(-10000, 10000) for _ in range(n)]
elif kind == "late":
    import audioop
    d = rate // 10
    s = [0] * d + [sweep(i) for i in range(n)]
    raw = struct.pack("<%dh" % len(s), *s)
    raw = audioop.ulaw2lin(audioop.lin2ulaw(raw, 2), 2)
    s = list(struct.unpack("<%dh" % len(s), raw))
else:
    s = [sweep(i) for i in range(n)]
w = wave.open(out, "wb")
w.setnchannels(1)
w.setsampwidth(2)
w.setframerate(rate)
w.writeframes(struct.pack("<%dh" % len(s), *s))
w.close()
EOF
}

@test "wavcmp: a delayed G.711 round trip matches at +100 ms" {
	python3 -W ignore -c 'import audioop' 2>/dev/null ||
		skip "python3 has no audioop"
	mkwav "$P2P_TMP/sweep.wav" sweep
	mkwav "$P2P_TMP/late.wav" late
	run "$WAVCMP" "$P2P_TMP/sweep.wav" "$P2P_TMP/late.wav"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^correlation\ (0\.99[0-9]|1\.000)\ offset_ms\ 100$ ]]
	run "$WAVCMP" "$P2P_TMP/late.wav" "$P2P_TMP/sweep.wav"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^correlation\ (0\.99[0-9]|1\.000)\ offset_ms\ -100$ ]]
}

@test "wavcmp: a 16 kHz file is compared at 8 kHz" {
	mkwav "$P2P_TMP/sweep.wav" sweep
	mkwav "$P2P_TMP/sweep16.wav" sweep 16000
	run "$WAVCMP" "$P2P_TMP/sweep16.wav" "$P2P_TMP/sweep.wav"
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^correlation\ (0\.9[5-9][0-9]|1\.000)\ offset_ms\ 0$ ]]
}

@test "wavcmp: noise does not match a sweep" {
	mkwav "$P2P_TMP/sweep.wav" sweep
	mkwav "$P2P_TMP/noise.wav" noise
	run "$WAVCMP" "$P2P_TMP/noise.wav" "$P2P_TMP/sweep.wav"
	[ "$status" -eq 0 ]
	c=$(echo "$output" | awk '$1 == "correlation" { print $2 }')
	[ -n "$c" ]
	awk -v c="$c" 'BEGIN { exit !(c < 0.3) }'
}

@test "wavcmp: usage errors exit 2, unreadable files 1" {
	run "$WAVCMP"
	[ "$status" -eq 2 ]
	run "$WAVCMP" a.wav
	[ "$status" -eq 2 ]
	mkwav "$P2P_TMP/sweep.wav" sweep
	run "$WAVCMP" "$P2P_TMP/sweep.wav" "$P2P_TMP/missing.wav"
	[ "$status" -eq 1 ]
	[[ "$output" == *missing.wav* ]]
	head -c 100 "$P2P_TMP/sweep.wav" >"$P2P_TMP/short.wav"
	run "$WAVCMP" "$P2P_TMP/short.wav" "$P2P_TMP/sweep.wav"
	[ "$status" -eq 1 ]
	[[ "$output" == *short.wav* ]]
}
