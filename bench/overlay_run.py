#!/usr/bin/env python3
"""Overlay benchmark driver, run by bench/overlay (see there for usage).

Starts N p2p-node processes on 127.0.0.1 from the node directories that
p2p-testkit made, in batches, each node joining through a random node
already in the ring; then measures

  - start-up and convergence: every node's first successor and first
    predecessor equal its neighbours in the sorted list of Node-IDs
    (read with the "status" method of each node's control socket);
  - finger fill: valid fingers per node against the slots that some peer
    could fill (computed from the sorted ring);
  - lookups: hop count of p2p-trace --json from random nodes to random
    resource names, and latency (the routed Ping of p2p-node route
    --json, rtt_ms, and the trace's round-trip time to its last hop);
  - memory per node: Rss, Pss and Private_Dirty of /proc/PID/smaps_rollup;
  - idle CPU per node: utime + stime of /proc/PID/stat over an idle period.

Every process is started here, remembered by PID and killed by PID in a
finally block.
"""
import argparse
import json
import math
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

RING = 1 << 128


def log(msg):
    print("# " + msg, flush=True)


class Node:
    def __init__(self, idx, dirpath, logpath):
        self.idx = idx
        self.dir = dirpath
        self.log = logpath
        self.proc = None
        self.addr = None
        self.node_id = None


def ctl(node, method, params=None, timeout=10.0):
    """One JSON-RPC request on the node's control socket; the result, or
    None when the node does not answer or answers with an error."""
    req = {"jsonrpc": "2.0", "id": 1, "method": method,
           "params": params or {}}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(os.path.join(node.dir, "node.sock"))
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while True:
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                msg = json.loads(line)
                if msg.get("id") != 1:
                    continue  # a notification
                return msg.get("result")
            chunk = s.recv(65536)
            if not chunk:
                return None
            buf += chunk
    except (OSError, ValueError):
        return None
    finally:
        s.close()


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a list of numbers."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(1, math.ceil(p / 100.0 * len(v)))
    return v[k - 1]


class Bench:
    def __init__(self, a):
        self.a = a
        self.nodes = [Node(i, os.path.join(a.work, "o", "n%d" % i),
                           os.path.join(a.work, "n%d.log" % i))
                      for i in range(a.nodes)]
        self.t_start = time.monotonic()
        self.deadline = self.t_start + a.max_wall
        self.res = {"nodes": a.nodes, "update_interval": a.update_interval,
                    "ping_interval": a.ping_interval}

    def left(self):
        return self.deadline - time.monotonic()

    # ---- processes -------------------------------------------------------

    def spawn(self, node, boot):
        args = [self.a.bin + "/p2p-node", "run", "--dir", node.dir,
                "--listen", "127.0.0.1:0", "--log-level", "warn",
                "--update-interval", str(self.a.update_interval),
                "--ping-interval", str(self.a.ping_interval)]
        if boot:
            args += ["--bootstrap", boot]
        with open(node.log, "wb") as f:
            node.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=f)

    def stop_all(self):
        """SIGKILL every node still running (not yet reaped, so its PID
        is still ours) and reap it. Not SIGTERM: hundreds of graceful
        Leaves at once set off a storm of ring repairs for nothing."""
        live = [n for n in self.nodes if n.proc and n.proc.poll() is None]
        for n in live:
            try:
                os.kill(n.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for n in live:
            n.proc.wait()

    def wait_joined(self, batch, boot_first):
        """Poll until every node of batch is in the ring; fills addr and
        node_id. Raises on a dead node or after the join timeout."""
        pending = list(batch)
        end = time.monotonic() + self.a.join_timeout
        while pending:
            if time.monotonic() > end or self.left() < 0:
                raise RuntimeError("nodes %s not joined after %ds" % (
                    [n.idx for n in pending], self.a.join_timeout))
            nxt = []
            for n in pending:
                if n.proc.poll() is not None:
                    raise RuntimeError("node %d exited (%d); see %s" % (
                        n.idx, n.proc.returncode, n.log))
                st = ctl(n, "status")
                ok = st is not None and (st.get("state") == "joined" or (
                    boot_first and st.get("state") == "alone"))
                if ok:
                    n.addr = st["listen"]
                    n.node_id = st["node_id"]
                else:
                    nxt.append(n)
            pending = nxt
            if pending:
                time.sleep(0.1)

    def start(self):
        a = self.a
        first = self.nodes[0]
        self.spawn(first, None)
        self.wait_joined([first], True)
        joined = [first]
        rest = self.nodes[1:]
        for k in range(0, len(rest), a.batch):
            batch = rest[k:k + a.batch]
            for n in batch:
                boot = random.choice(joined) if random.random() < 0.5 \
                    else first
                self.spawn(n, boot.addr)
            self.wait_joined(batch, False)
            joined += batch
        self.t_joined = time.monotonic()
        self.res["start_s"] = round(self.t_joined - self.t_start, 1)
        log("%d nodes joined in %.1f s (batches of %d)" % (
            a.nodes, self.t_joined - self.t_start, a.batch))

    # ---- the ring --------------------------------------------------------

    def statuses(self):
        out = {}
        for n in self.nodes:
            out[n.idx] = ctl(n, "status")
        return out

    def ring_ok(self, sts):
        ids = sorted(n.node_id for n in self.nodes)
        pos = {x: i for i, x in enumerate(ids)}
        bad = 0
        for n in self.nodes:
            st = sts.get(n.idx)
            if st is None:
                bad += 1
                continue
            i = pos[n.node_id]
            want_s = ids[(i + 1) % len(ids)]
            want_p = ids[(i - 1) % len(ids)]
            s = st.get("successors") or [None]
            p = st.get("predecessors") or [None]
            if s[0] != want_s or p[0] != want_p:
                bad += 1
        return bad

    def converge(self):
        end = min(self.deadline, time.monotonic() + self.a.converge_timeout)
        while True:
            sts = self.statuses()
            bad = self.ring_ok(sts)
            now = time.monotonic()
            if bad == 0:
                self.res["converge_after_last_join_s"] = round(
                    now - self.t_joined, 1)
                self.res["converge_total_s"] = round(now - self.t_start, 1)
                log("ring converged %.1f s after the last join, %.1f s "
                    "after the first start" % (now - self.t_joined,
                                               now - self.t_start))
                return sts
            if now > end:
                self.res["converge_after_last_join_s"] = None
                log("ring NOT converged: %d nodes disagree after %.0f s" %
                    (bad, now - self.t_joined))
                return sts
            time.sleep(1)

    def ideal_fingers(self):
        """Per node: how many finger slots (1..128) some peer falls in,
        the most fingers the node could have."""
        ids = sorted(int(n.node_id, 16) for n in self.nodes)
        out = {}
        for i, x in enumerate(ids):
            slots = set()
            for p in ids:
                if p == x:
                    continue
                d = (p - x) % RING
                slots.add(128 - (d.bit_length() - 1))
            out[x] = len(slots)
        return out

    def fingers(self):
        ideal = self.ideal_fingers()
        a = self.a
        end = min(self.deadline - self.a.reserve,
                  time.monotonic() + a.finger_wait)
        last = None
        stable_since = time.monotonic()
        while True:
            sts = self.statuses()
            have = sum(len(s.get("fingers") or []) for s in sts.values()
                       if s)
            can = sum(ideal.values())
            now = time.monotonic()
            if have != last:
                last = have
                stable_since = now
            ratio = have / can if can else 1.0
            if ratio >= a.finger_target or now > end or \
                    now - stable_since > a.finger_stable:
                break
            time.sleep(2)
        self.res["fingers_mean"] = round(have / len(self.nodes), 2)
        self.res["fingers_fillable_mean"] = round(can / len(self.nodes), 2)
        self.res["fingers_filled"] = round(ratio, 3)
        self.res["fingers_wait_s"] = round(now - self.t_joined, 1)
        routes = [len(set((s.get("successors") or []) +
                          (s.get("predecessors") or []) +
                          [f["node_id"] for f in s.get("fingers") or []]))
                  for s in sts.values() if s]
        self.res["routing_table_mean"] = round(statistics.mean(routes), 2)
        log("fingers: %.2f per node of %.2f fillable (%.0f%%), %.0f s "
            "after the last join; routing table %.1f peers per node" % (
                have / len(self.nodes), can / len(self.nodes), 100 * ratio,
                now - self.t_joined, statistics.mean(routes)))

    def fingers_after_idle(self):
        """The finger tables again once the ring has been left alone: links
        that nobody keeps are closed by then, and a finger must survive."""
        ideal = self.ideal_fingers()
        sts = self.statuses()
        have = sum(len(s.get("fingers") or []) for s in sts.values() if s)
        can = sum(ideal.values())
        self.res["fingers_after_idle_mean"] = round(have / len(self.nodes), 2)
        self.res["fingers_after_idle_filled"] = round(have / can, 3) \
            if can else 1.0
        log("fingers after the idle time: %.2f per node of %.2f fillable "
            "(%.0f%%)" % (have / len(self.nodes), can / len(self.nodes),
                          100.0 * have / can if can else 100.0))

    # ---- lookups ---------------------------------------------------------

    def lookups(self):
        a = self.a
        rnd = random.Random(a.seed)
        hops, trace_ms, route_ms, fails = [], [], [], 0
        end = self.deadline - a.reserve
        t0 = time.monotonic()
        done = 0
        for k in range(a.lookups):
            if time.monotonic() > end:
                log("lookups cut short by the wall-time cap after %d" % k)
                break
            n = rnd.choice(self.nodes)
            name = "bench-%08x@test.p2psip" % rnd.getrandbits(32)
            tr = subprocess.run(
                [a.bin + "/p2p-trace", "--json", "--timeout", "30",
                 "--dir", n.dir, name], capture_output=True, text=True)
            rt = subprocess.run(
                [a.bin + "/p2p-node", "route", "--json", "--timeout", "30",
                 "--dir", n.dir, "--resource", name],
                capture_output=True, text=True)
            done += 1
            try:
                t = json.loads(tr.stdout)
                r = json.loads(rt.stdout)
            except ValueError:
                fails += 1
                continue
            if not t.get("complete") or \
                    t.get("responsible") != r.get("responsible"):
                fails += 1
                continue
            hops.append(len(t["hops"]))
            if t["hops"]:
                trace_ms.append(t["hops"][-1]["rtt_ms"])
            route_ms.append(r["rtt_ms"])
        secs = time.monotonic() - t0
        n = len(self.nodes)
        self.res.update({
            "lookups": done, "lookup_failures": fails,
            "hops_mean": round(statistics.mean(hops), 3) if hops else None,
            "hops_p50": pct(hops, 50), "hops_p99": pct(hops, 99),
            "hops_max": max(hops) if hops else None,
            "chord_expect": round(0.5 * math.log2(n), 3),
            "goal": round(0.5 * math.log2(n) + 1, 3),
            "route_rtt_p50_ms": pct(route_ms, 50),
            "route_rtt_p99_ms": pct(route_ms, 99),
            "trace_rtt_p50_ms": pct(trace_ms, 50),
            "trace_rtt_p99_ms": pct(trace_ms, 99),
            "lookup_s": round(secs, 1)})
        hist = {}
        for h in hops:
            hist[h] = hist.get(h, 0) + 1
        self.res["hops_hist"] = {str(k): hist[k] for k in sorted(hist)}
        log("%d lookups in %.0f s, %d failed (trace incomplete or its "
            "responsible peer differs from route's)" % (done, secs, fails))

    # ---- /proc -----------------------------------------------------------

    def memory(self):
        rss, pss, pd = [], [], []
        for n in self.nodes:
            m = {}
            with open("/proc/%d/smaps_rollup" % n.proc.pid) as f:
                for line in f:
                    p = line.split()
                    if len(p) >= 3 and p[2] == "kB":
                        m[p[0].rstrip(":")] = int(p[1])
            rss.append(m["Rss"])
            pss.append(m["Pss"])
            pd.append(m["Private_Dirty"])
        self.res.update({
            "rss_median_kib": statistics.median(rss),
            "pss_median_kib": statistics.median(pss),
            "private_dirty_median_kib": statistics.median(pd),
            "rss_max_kib": max(rss), "private_dirty_max_kib": max(pd)})
        log("memory per node (median): Rss %d KiB, Pss %d KiB, "
            "Private_Dirty %d KiB" % (statistics.median(rss),
                                      statistics.median(pss),
                                      statistics.median(pd)))

    def cpu_ticks(self):
        """Per node: (utime + stime in clock ticks from /proc/PID/stat,
        time on a CPU in ns from /proc/PID/schedstat)."""
        out = []
        for n in self.nodes:
            with open("/proc/%d/stat" % n.proc.pid) as f:
                s = f.read()
            f = s[s.rindex(")") + 2:].split()
            with open("/proc/%d/schedstat" % n.proc.pid) as g:
                ns = int(g.read().split()[0])
            out.append((int(f[11]) + int(f[12]), ns))  # utime, stime
        return out

    def msg_counts(self):
        out = []
        for n in self.nodes:
            st = ctl(n, "status") or {}
            c = st.get("counters", {})
            out.append(c.get("messages_rx", 0) + c.get("messages_tx", 0))
        return out

    def idle(self):
        secs = self.a.idle
        time.sleep(3)  # let the lookups' last messages drain
        m0 = self.msg_counts()
        t0 = time.monotonic()
        c0 = self.cpu_ticks()
        time.sleep(secs)
        c1 = self.cpu_ticks()
        dt = time.monotonic() - t0
        m1 = self.msg_counts()
        # Messages each node sent and received while idle (the status
        # requests themselves are not RELOAD messages).
        msgs = [(b - a) / dt for a, b in zip(m0, m1)]
        conns, routable = [], []
        for n in self.nodes:
            peers = ctl(n, "peers") or {}
            if isinstance(peers, dict):
                peers = peers.get("peers", [])
            conns.append(len(peers))
            routable.append(sum(1 for p in peers if p.get("routable")))
        self.res.update({
            "idle_msgs_per_s_median": round(statistics.median(msgs), 3),
            "links_median": statistics.median(conns),
            "links_routable_median": statistics.median(routable)})
        log("while idle: %.3f messages/s per node (median, rx + tx); "
            "%d links per node (median), %d of them to routing-table "
            "peers" % (statistics.median(msgs), statistics.median(conns),
                       statistics.median(routable)))
        hz = os.sysconf("SC_CLK_TCK")
        per = [100.0 * (b[0] - a[0]) / hz / dt for a, b in zip(c0, c1)]
        # schedstat counts in ns where stat counts whole ticks (10 ms):
        # the median of a mostly idle node is only readable there.
        run = [100.0 * (b[1] - a[1]) / 1e9 / dt for a, b in zip(c0, c1)]
        self.res.update({
            "idle_s": round(dt, 1),
            "idle_cpu_median_pct": round(statistics.median(per), 3),
            "idle_cpu_mean_pct": round(statistics.mean(per), 3),
            "idle_cpu_max_pct": round(max(per), 3),
            "idle_cpu_all_nodes_pct": round(sum(per), 2),
            "idle_sched_median_pct": round(statistics.median(run), 4),
            "idle_sched_max_pct": round(max(run), 4),
            "idle_sched_all_nodes_pct": round(sum(run), 2)})
        log("idle CPU over %.0f s, utime+stime: median %.3f%%, mean %.3f%%, "
            "max %.3f%% of a core per node; all nodes %.2f%%" % (
                dt, statistics.median(per), statistics.mean(per), max(per),
                sum(per)))
        log("idle CPU over %.0f s, schedstat run time: median %.4f%%, "
            "max %.4f%% of a core per node; all nodes %.2f%%" % (
                dt, statistics.median(run), max(run), sum(run)))

    @staticmethod
    def kernel_counters():
        """Host-wide: TCP connections the kernel aborted on a timeout
        (retransmission or keepalive, TcpExt TCPAbortOnTimeout) and
        packets dropped because a CPU's input queue was full
        (/proc/net/softnet_stat, 2nd column; loopback traffic goes through
        it). None when the host does not show them."""
        aborts = drops = None
        try:
            with open("/proc/net/netstat") as f:
                lines = f.read().splitlines()
            for k in range(0, len(lines) - 1, 2):
                names, vals = lines[k].split(), lines[k + 1].split()
                if names[0] == "TcpExt:" and "TCPAbortOnTimeout" in names:
                    aborts = int(vals[names.index("TCPAbortOnTimeout")])
        except (OSError, ValueError, IndexError):
            pass
        try:
            with open("/proc/net/softnet_stat") as f:
                drops = sum(int(l.split()[1], 16) for l in f if l.strip())
        except (OSError, ValueError, IndexError):
            pass
        return aborts, drops

    def kernel_report(self, before, phase):
        after = self.kernel_counters()
        names = ("tcp_aborts_on_timeout", "input_queue_drops")
        parts = []
        for name, b, e in zip(names, before, after):
            if b is None or e is None:
                continue
            self.res["%s_%s" % (name, phase)] = e - b
            parts.append("%d %s" % (e - b, name.replace("_", " ")))
        if parts:
            log("host, %s: %s" % (phase, ", ".join(parts)))
        return after

    def run(self):
        try:
            k0 = self.kernel_counters()
            self.start()
            k0 = self.kernel_report(k0, "joins")
            sts = self.converge()
            self.fingers()
            self.memory()
            self.lookups()
            self.idle()
            self.kernel_report(k0, "after_joins")
            self.fingers_after_idle()
            self.memory()  # again, after the lookups
            for n in self.nodes:
                if n.proc.poll() is not None:
                    raise RuntimeError("node %d died during the run" %
                                       n.idx)
            self.res["wall_s"] = round(time.monotonic() - self.t_start, 1)
            del sts
            print(json.dumps(self.res, sort_keys=True))
            return 0
        finally:
            self.stop_all()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--work", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--update-interval", type=int, default=600)
    p.add_argument("--ping-interval", type=int, default=3600)
    p.add_argument("--lookups", type=int, default=1000)
    p.add_argument("--idle", type=float, default=30)
    p.add_argument("--max-wall", type=float, default=900)
    p.add_argument("--reserve", type=float, default=90,
                   help="seconds kept for the idle and memory phases")
    p.add_argument("--join-timeout", type=float, default=120)
    p.add_argument("--converge-timeout", type=float, default=300)
    p.add_argument("--finger-wait", type=float, default=180)
    p.add_argument("--finger-stable", type=float, default=30)
    p.add_argument("--finger-target", type=float, default=0.95)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    random.seed(a.seed)
    # A TERM or HUP to the driver still stops every node (finally).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(128 + sig))
    try:
        return Bench(a).run()
    except RuntimeError as e:
        print("bench/overlay: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
