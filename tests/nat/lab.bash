# The NAT lab: network namespaces, veth pairs and iptables MASQUERADE.
#
#   load ../nat/lab        (from a bats file in tests/cli)
#   lab_check || skip "$LAB_WHY"
#   lab_up [eim|symmetric]
#   lab_bg NS LOG CMD...   start CMD inside namespace NS in the background
#   lab_turn_start         coturn (STUN and TURN) on the public segment
#   lab_node I NS IP ...   a p2p-node inside NS (needs lib_node.bash)
#   lab_down               kill what was started (by PID), delete the
#                          namespaces (their veths go with them)
#
# Layout (every address exists only inside the lab's namespaces; nothing
# is routed to or from the machine's own network):
#
#     pub  198.51.100.1/24  bridge "pubbr" with the public hosts: the
#          bootstrap peer, coturn (STUN + TURN on 3478)
#      |                          |
#     r1  wan 198.51.100.11      r2  wan 198.51.100.12
#         lan 10.0.1.1/24            lan 10.0.2.1/24
#      |   MASQUERADE               |   MASQUERADE
#     a   10.0.1.2  (NATed)      b   10.0.2.2  (NATed)
#
# 198.51.100.0/24 is TEST-NET-2 (RFC 5737): a "public" address that is no
# one's. Each router masquerades what leaves its wan interface. Mode eim
# (the default): plain MASQUERADE, which keeps a flow's source port when it
# is free, so the mapping does not depend on the destination (endpoint-
# independent mapping, RFC 4787) while conntrack admits only replies from
# where a flow went (address- and port-dependent filtering): ICE gets
# through with server-reflexive candidates. Mode symmetric: MASQUERADE
# --random-fully, a new random port per destination (endpoint-dependent
# mapping): a server-reflexive candidate is useless to the peer, and only
# a TURN relay connects. In both modes a router drops what comes to its
# own wan address unasked, as home routers do; this also matters for the
# eim mode: a peer's check that reaches the router before the host behind
# it has sent anything would otherwise leave a conntrack entry for the
# router itself on the very tuple the host's mapping needs, and the
# masquerade would pick another port.
#
# Namespaces are named "$LAB_PFX-<role>", LAB_PFX unique per lab
# (p2pnat<pid of the test shell>), so parallel labs never meet.

LAB_PUB=198.51.100.1
LAB_R1=198.51.100.11
LAB_R2=198.51.100.12
LAB_A=10.0.1.2
LAB_B=10.0.2.2
LAB_TURN_USER=lab
LAB_TURN_PASS=labpass
LAB_NS=(pub r1 r2 a b)
LAB_PIDS=()
LAB_UP=0

# lab_check: can this machine make the lab? Sets LAB_WHY when not.
lab_check() {
	local probe
	LAB_WHY=
	if [ "$(id -u)" -ne 0 ]; then
		LAB_WHY="the NAT lab needs root (network namespaces, iptables)"
		return 1
	fi
	for t in ip iptables turnserver; do
		if ! command -v "$t" >/dev/null 2>&1; then
			LAB_WHY="the NAT lab needs $t"
			return 1
		fi
	done
	probe="p2pnatprobe$$"
	if ! ip netns add "$probe" 2>/dev/null; then
		LAB_WHY="cannot make a network namespace here (ip netns add failed: no CAP_NET_ADMIN?)"
		return 1
	fi
	if ! ip netns exec "$probe" iptables -t nat -L POSTROUTING \
	    >/dev/null 2>&1; then
		ip netns del "$probe" 2>/dev/null
		LAB_WHY="iptables NAT does not work in a network namespace here"
		return 1
	fi
	ip netns del "$probe"
	return 0
}

lab_ns() { echo "$LAB_PFX-$1"; }

# lab_exec NS CMD...: run CMD inside the lab namespace NS.
lab_exec() {
	local ns=$1
	shift
	ip netns exec "$(lab_ns "$ns")" "$@"
}

# _lab_link NS1 IF1 NS2 IF2: a veth pair between two lab namespaces.
_lab_link() {
	ip -n "$(lab_ns "$1")" link add name "$2" type veth peer name "$4" \
	    netns "$(lab_ns "$3")" &&
	ip -n "$(lab_ns "$1")" link set "$2" up &&
	ip -n "$(lab_ns "$3")" link set "$4" up
}

# _lab_router R WAN LANNET: router R's addresses, forwarding and NAT.
_lab_router() {
	local r=$1 wan=$2 lan=$3 mode=$4 rnd=
	[ "$mode" = symmetric ] && rnd=--random-fully
	ip -n "$(lab_ns "$r")" addr add "$wan/24" dev wan &&
	ip -n "$(lab_ns "$r")" addr add "$lan.1/24" dev lan &&
	lab_exec "$r" sysctl -qw net.ipv4.ip_forward=1 &&
	lab_exec "$r" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE \
	    $rnd &&
	lab_exec "$r" iptables -A INPUT -i wan -m conntrack --ctstate NEW \
	    -j DROP
}

# _lab_host H ADDR GW: a NATed host behind its router.
_lab_host() {
	ip -n "$(lab_ns "$1")" addr add "$2/24" dev eth0 &&
	ip -n "$(lab_ns "$1")" route add default via "$3"
}

# _lab_discard: a default route on the public segment to a gateway that
# is not there (a permanent neighbor entry with a MAC nobody has): the
# segment is then like the Internet, where a datagram to a private
# address of someone else's network is sent and lost. Without it sendto
# fails there with "Network is unreachable", and coturn closes a TURN
# allocation on that error (ICE has its relay send checks to the peer's
# host candidates, 10.0.x.x here).
_lab_discard() {
	ip -n "$(lab_ns pub)" neigh add 198.51.100.254 \
	    lladdr 02:00:00:00:00:fe dev pubbr nud permanent &&
	ip -n "$(lab_ns pub)" route add default via 198.51.100.254 dev pubbr
}

lab_up() {
	local mode=${1:-eim} ns
	LAB_PFX="p2pnat$$"
	LAB_MODE=$mode
	LAB_UP=1
	for ns in "${LAB_NS[@]}"; do
		ip netns add "$(lab_ns "$ns")" || return 1
		ip -n "$(lab_ns "$ns")" link set lo up || return 1
	done
	ip -n "$(lab_ns pub)" link add name pubbr type bridge &&
	ip -n "$(lab_ns pub)" link set pubbr up &&
	ip -n "$(lab_ns pub)" addr add "$LAB_PUB/24" dev pubbr &&
	_lab_link pub p1 r1 wan && _lab_link pub p2 r2 wan &&
	ip -n "$(lab_ns pub)" link set p1 master pubbr &&
	ip -n "$(lab_ns pub)" link set p2 master pubbr &&
	_lab_link r1 lan a eth0 && _lab_link r2 lan b eth0 &&
	_lab_router r1 "$LAB_R1" 10.0.1 "$mode" &&
	_lab_router r2 "$LAB_R2" 10.0.2 "$mode" &&
	_lab_host a "$LAB_A" 10.0.1.1 && _lab_host b "$LAB_B" 10.0.2.1 &&
	_lab_discard
}

# lab_bg NS LOG CMD...: start CMD in NS, output to LOG; LAB_LAST_PID.
lab_bg() {
	local ns=$1 log=$2
	shift 2
	ip netns exec "$(lab_ns "$ns")" "$@" >"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_turn_start DIR: coturn on the public address only, long-term
# credentials $LAB_TURN_USER/$LAB_TURN_PASS, config and log in DIR.
lab_turn_start() {
	local dir=$1 i
	cat >"$dir/turnserver.conf" <<CONF
listening-ip=$LAB_PUB
relay-ip=$LAB_PUB
listening-port=3478
min-port=50000
max-port=50999
lt-cred-mech
user=$LAB_TURN_USER:$LAB_TURN_PASS
realm=p2psip.lab
fingerprint
no-tls
no-dtls
no-cli
no-tcp-relay
no-multicast-peers
pidfile=$dir/turnserver.pid
userdb=$dir/turndb
log-file=stdout
simple-log
CONF
	lab_bg pub "$dir/turnserver.log" turnserver -c "$dir/turnserver.conf"
	for i in $(seq 1 50); do
		grep -qE "(UDP|udp).*listener opened on.*$LAB_PUB:3478|IPv4. UDP listener opened on.*$LAB_PUB:3478" \
		    "$dir/turnserver.log" 2>/dev/null && return 0
		lab_exec pub ss -lun 2>/dev/null | grep -q "$LAB_PUB:3478" &&
		    return 0
		sleep 0.2
	done
	echo "turnserver did not start:" >&2
	cat "$dir/turnserver.log" >&2
	return 1
}

# lab_udp_reach SRC DST DST_IP: does a UDP datagram from namespace SRC
# reach an echo server at DST_IP:9999 in namespace DST and come back?
lab_udp_reach() {
	local src=$1 dst=$2 ip=$3 rc=0 pid i
	lab_bg "$dst" /dev/null python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(10)
d, a = s.recvfrom(100)
s.sendto(d, a)' "$ip"
	pid=$LAB_LAST_PID
	for i in $(seq 1 50); do
		lab_exec "$dst" ss -lun 2>/dev/null | grep -q "$ip:9999" && break
		sleep 0.1
	done
	lab_exec "$src" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for i in range(3):
    s.sendto(b"probe", (sys.argv[1], 9999))
    try:
        sys.exit(0 if s.recvfrom(100)[0] == b"probe" else 1)
    except socket.timeout:
        pass
sys.exit(1)' "$ip" 2>/dev/null || rc=$?
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return $rc
}

# lab_wait PID SECONDS: wait for a background process; its exit code, or
# 124 if it was still running (it is then killed).
lab_wait() {
	local pid=$1 t=$2 i
	for i in $(seq 1 $((t * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" || return $?
			return 0
		fi
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 124
}

# lab_node I NS IP [BOOTSTRAP [run options...]]: (with lib_node.bash)
# start node I inside
# namespace NS, listening on IP (port chosen by the kernel), and wait
# until it is in the ring (a client: linked to its admitting peer), as
# node_start does on the loopback. The process is the lab's (lab_down
# kills it by PID).
lab_node() {
	local i=$1 ns=$2 ip=$3 boot=${4:-}
	shift 3
	[ $# -gt 0 ] && shift
	local args=(run --dir "$(node_dir "$i")" --listen "$ip:0"
	    --update-interval 5 --log-level debug)
	[ -n "$boot" ] && args+=(--bootstrap "$boot")
	args+=("$@")
	lab_bg "$ns" "$(node_log "$i")" p2p-node "${args[@]}"
	NT_NODE_PID[$i]=$LAB_LAST_PID
	node_wait_joined "$i" "$boot" 90
}

# Runs under bats' errexit too: no step may stop the ones after it.
lab_down() {
	local pid ns i
	for pid in "${LAB_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		for i in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	LAB_PIDS=()
	[ "$LAB_UP" = 1 ] || return 0
	for ns in "${LAB_NS[@]}"; do
		ip netns del "$(lab_ns "$ns")" 2>/dev/null || true
	done
	LAB_UP=0
	return 0
}
