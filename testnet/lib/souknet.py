#!/usr/bin/env python3
"""Souk testnet library: build, start, drive and stop N local `souk daemon` processes.

Used by testnet/up, down, status, demo and measure (the bash wrappers call `python3 -m` style
entry points below). Python 3 standard library only.

Layout of a run (testnet/.run/, git-ignored):
    nodes.json          what `up` started (read by every other script)
    nN/                 node N's data dir (identity, souk.conf, souk.db, rpc.cookie)
    nN/daemon.out       the daemon's stdout (the "ready" line), appended on restart
    nN/daemon.log       the daemon's stderr (its log)

Two modes:
    loopback (default)  every node on 127.0.0.1, OS-assigned rpc and p2p ports.
    netns               node i in network namespace souk-<i> with address 10.77.x.y/16 on a veth
                        whose other end sits on bridge br0 in namespace souk-hub; `tc netem`
                        on the node side of every veth delays (and optionally drops) every packet
                        a node sends, so each one-way link has the configured delay. Kernels
                        without sch_netem get wire.py instead: a tun0 per namespace and one
                        userspace switch that holds each packet for the delay (same per-hop cost).
                        RPC stays on 127.0.0.1 inside each namespace (DESIGN invariant 8): this
                        library opens its RPC sockets inside the node's namespace with setns(2).
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

TESTNET_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TESTNET_DIR.parent
RUN_DIR = TESTNET_DIR / ".run"
NODES_FILE = RUN_DIR / "nodes.json"
SCRATCH = REPO_DIR / ".build-testnet"

HUB_NS = "souk-hub"
BRIDGE = "br0"
NETNS_RPC_PORT = 17420
NETNS_P2P_PORT = 17421
READY_RE = re.compile(r"souk daemon ready: node ([0-9a-f]+) rpc ([^ ]+):(\d+)(?: p2p ([^ ]+):(\d+))?")


class TestnetError(Exception):
    """A failure with a message meant for the person running the script."""


def say(msg: str = "") -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def now_ms() -> float:
    return time.time() * 1000.0


# ---------------------------------------------------------------------------------------------
# Network namespaces: sockets inside a namespace without spawning `ip netns exec` per call.

_CLONE_NEWNET = 0x40000000
_libc = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def socket_in_netns(netns: str | None) -> socket.socket:
    """A TCP socket created inside `netns` (it stays there after this thread switches back)."""
    if not netns:
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
        try:
            _setns(target)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


# ---------------------------------------------------------------------------------------------
# JSON-RPC


class RPCError(Exception):
    def __init__(self, node: str, method: str, code, message: str, data=None):
        super().__init__(f"{node}: {method} failed: {message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class Node:
    """One node of the run, as recorded in nodes.json."""

    def __init__(self, rec: dict):
        self.rec = rec

    def __getattr__(self, key):
        try:
            return self.rec[key]
        except KeyError as e:
            raise AttributeError(key) from e

    def __repr__(self) -> str:
        return f"Node({self.rec.get('name')})"

    @property
    def short_id(self) -> str:
        return (self.rec.get("node_id") or "?")[:12]

    def cookie(self) -> str:
        return Path(self.rec["cookie"]).read_text().strip()

    def rpc(self, method: str, params: dict | None = None, timeout: float = 15.0):
        """Calls `method` and returns its result; raises RPCError or OSError."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}).encode()
        auth = base64.b64encode(self.cookie().encode()).decode()
        sock = socket_in_netns(self.rec.get("netns"))
        try:
            sock.settimeout(timeout)
            sock.connect((self.rec["rpc_host"], self.rec["rpc_port"]))
            conn = http.client.HTTPConnection(self.rec["rpc_host"], self.rec["rpc_port"], timeout=timeout)
            conn.sock = sock
            conn.request(
                "POST", "/", body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}",
                         "Connection": "close"})
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            sock.close()
        try:
            reply = json.loads(raw)
        except ValueError as e:
            raise RPCError(self.name, method, resp.status, f"HTTP {resp.status}: {raw[:200]!r}") from e
        if "error" in reply and reply["error"] is not None:
            err = reply["error"]
            raise RPCError(self.name, method, err.get("code"), err.get("message", "?"), err.get("data"))
        return reply.get("result")

    def try_rpc(self, method: str, params: dict | None = None, timeout: float = 5.0):
        try:
            return self.rpc(method, params, timeout)
        except (OSError, RPCError, http.client.HTTPException):
            return None

    def alive(self) -> bool:
        return pid_alive(self.rec.get("pid"), self.rec.get("datadir"))

    def ready_peers(self) -> list[dict]:
        res = self.try_rpc("peer.list")
        if not res:
            return []
        return [p for p in res.get("peers", []) if p.get("ready")]

    def arrivals(self, object_ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in range(0, len(object_ids), 5000):
            res = self.rpc("node.arrivals", {"object_ids": object_ids[i:i + 5000]}, timeout=30)
            out.update(res.get("arrivals", {}))
        return out


def pid_alive(pid, datadir=None) -> bool:
    """Is `pid` a running souk daemon (of `datadir`, when given)? Guards against reused pids."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if ") Z" in stat:  # a zombie is dead
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    if "daemon" not in args or "--datadir" not in args:
        return False
    return datadir is None or datadir in args


# ---------------------------------------------------------------------------------------------
# The run's record


class Net:
    def __init__(self, data: dict):
        self.data = data
        self.nodes = [Node(r) for r in data["nodes"]]

    @staticmethod
    def load() -> "Net":
        if not NODES_FILE.exists():
            raise TestnetError(f"no testnet recorded ({NODES_FILE} is missing) — start one with testnet/up N")
        return Net(json.loads(NODES_FILE.read_text()))

    def save(self) -> None:
        self.data["nodes"] = [n.rec for n in self.nodes]
        tmp = NODES_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        tmp.replace(NODES_FILE)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise TestnetError(f"no node named {name} (have {', '.join(n.name for n in self.nodes)})")

    def by_id(self) -> dict[str, Node]:
        return {n.node_id: n for n in self.nodes}

    @property
    def delay_ms(self) -> float:
        return float(self.data.get("delay_ms") or 0)


# ---------------------------------------------------------------------------------------------
# Building


def run(cmd: list[str], check: bool = True, capture: bool = False, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, **kw)


def source_state() -> dict:
    """The commit and any uncommitted changes under Sources/ and Package.swift, to name what was built."""
    def git(*a):
        return subprocess.run(["git", *a], cwd=REPO_DIR, capture_output=True, text=True).stdout.strip()
    import hashlib
    diff = git("diff", "HEAD", "--", "Sources", "Package.swift")
    return {"commit": git("rev-parse", "--short=12", "HEAD"),
            "dirty_files": len([x for x in git("status", "--porcelain", "--", "Sources", "Package.swift").splitlines()
                                if x.strip()]),
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None}


def build(release: bool) -> str:
    """Builds `souk` once (own scratch path) and returns the binary's path; $SOUK_BIN skips the build."""
    env_bin = os.environ.get("SOUK_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            raise TestnetError(f"SOUK_BIN={env_bin} is not an executable file")
        say(f"==> using SOUK_BIN={env_bin} (no build)")
        return env_bin
    if shutil.which("swift") is None:
        raise TestnetError("the swift toolchain is not on PATH; install Swift 6.1+ from https://www.swift.org/install/")
    config = "release" if release else "debug"
    cmd = ["swift", "build", "-c", config, "--product", "souk", "--scratch-path", str(SCRATCH)]
    say(f"==> building souk ({config}): {' '.join(cmd)}")
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO_DIR, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise TestnetError(f"swift build failed (exit {proc.returncode}):\n{tail}")
    binary = SCRATCH / config / "souk"
    if not binary.exists():
        raise TestnetError(f"swift build succeeded but {binary} is missing")
    say(f"    built in {time.time() - t0:.0f} s: {binary}")
    return str(binary)


# ---------------------------------------------------------------------------------------------
# Topology


def plan_edges(n: int, degree: int, rng: random.Random) -> list[tuple[int, int]]:
    """Node i dials `degree` distinct random earlier nodes (fewer when there are fewer).

    Half of each node's links go to its recent predecessors, which stretches the graph
    (diameter > 2 for N >= ~8), the rest anywhere earlier, which keeps it robust."""
    edges: list[tuple[int, int]] = []
    for i in range(1, n):
        earlier = list(range(i))
        k = min(degree, i)
        recent = earlier[-3:]
        chosen = {rng.choice(recent)}
        while len(chosen) < k:
            chosen.add(rng.choice(earlier))
        edges += [(i, j) for j in sorted(chosen)]
    return edges


def adjacency(n: int, edges) -> list[set[int]]:
    adj = [set() for _ in range(n)]
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return adj


def bfs(adj: list[set[int]], start: int, skip: int | None = None) -> dict[int, int]:
    dist = {start: 0}
    q = deque([start])
    while q:
        u = q.popleft()
        for v in adj[u]:
            if v != skip and v not in dist:
                dist[v] = dist[u] + 1
                q.append(v)
    return dist


def diameter(adj: list[set[int]]) -> int | None:
    n = len(adj)
    best = 0
    for s in range(n):
        d = bfs(adj, s)
        if len(d) < n:
            return None
        best = max(best, max(d.values()))
    return best


def is_connected_without(adj: list[set[int]], removed: int) -> bool:
    rest = [i for i in range(len(adj)) if i != removed]
    if not rest:
        return True
    return len(bfs(adj, rest[0], skip=removed)) == len(rest)


# ---------------------------------------------------------------------------------------------
# Namespaces


def require_root_for_netns() -> None:
    if os.geteuid() != 0:
        raise TestnetError("--netns needs root (it creates network namespaces, veth pairs and tc qdiscs); "
                           "run as root or drop --netns for the loopback testnet")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise TestnetError(f"--netns needs `{tool}` (Debian package iproute2)")


def netns_address(i: int) -> str:
    return f"10.77.{i // 250}.{i % 250 + 1}"


def sh(*cmd: str) -> None:
    proc = subprocess.run(list(cmd), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise TestnetError(f"`{' '.join(cmd)}` failed: {proc.stdout.strip()}")


def netem_available() -> bool:
    """Can this kernel run `tc qdisc ... netem`? (Probed in a throwaway namespace.)"""
    probe = f"souk-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode != 0:
        return False
    try:
        return subprocess.run(["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                               "delay", "1ms"], capture_output=True).returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def setup_netns(n: int, delay_ms: float, loss_pct: float, net: Net, emulation: str = "auto") -> None:
    """One namespace per node, linked either by veth pairs to a bridge in a hub namespace (with
    `tc netem` on the node side of each veth for delay/loss), or — when the kernel has no netem —
    by tun devices to testnet/lib/wire.py, a userspace switch that applies the delay and loss."""
    existing = subprocess.run(["ip", "netns", "list"], text=True, capture_output=True).stdout
    names = {line.split()[0] for line in existing.splitlines() if line.strip()}
    clash = sorted(x for x in names if x == HUB_NS or re.fullmatch(r"souk-\d+", x))
    if clash:
        raise TestnetError(f"network namespaces {', '.join(clash)} already exist — run testnet/down "
                           f"(or `ip netns del NAME`) first")
    shaped = delay_ms > 0 or loss_pct > 0
    if emulation == "auto":
        emulation = "netem" if not shaped or netem_available() else "wire"
        if emulation == "wire":
            warn("this kernel has no sch_netem (tc qdisc ... netem fails: CONFIG_NET_SCH_NETEM is off); "
                 "emulating the links in userspace instead (testnet/lib/wire.py over tun devices)")
    net.data["netns"] = {"hub": None, "bridge": None, "namespaces": [], "emulation": emulation}
    net.data["link_emulation"] = emulation if shaped else "none"
    net.save()
    if emulation == "wire":
        for i in range(n):
            ns = f"souk-{i}"
            sh("ip", "netns", "add", ns)
            net.data["netns"]["namespaces"].append(ns)
        net.save()
        stats = RUN_DIR / "wire-stats.json"
        log = open(RUN_DIR / "wire.log", "ab")
        cmd = [sys.executable, str(TESTNET_DIR / "lib" / "wire.py"), "--delay", f"{delay_ms:g}", "--loss",
               f"{loss_pct:g}", "--stats", str(stats)] + [f"souk-{i}={netns_address(i)}/16" for i in range(n)]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                start_new_session=True)
        net.data["wire"] = {"pid": proc.pid, "stats": str(stats), "log": str(RUN_DIR / "wire.log")}
        net.save()
        line = proc.stdout.readline().decode(errors="replace")
        if "wire ready" not in line:
            proc.wait(timeout=5)
            raise TestnetError(f"the userspace wire did not start (see {RUN_DIR / 'wire.log'})")
    else:
        net.data["netns"].update({"hub": HUB_NS, "bridge": BRIDGE})
        sh("ip", "netns", "add", HUB_NS)
        net.data["netns"]["namespaces"].append(HUB_NS)
        net.save()
        sh("ip", "-n", HUB_NS, "link", "set", "lo", "up")
        sh("ip", "-n", HUB_NS, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", HUB_NS, "link", "set", BRIDGE, "up")
        netem = ["delay", f"{delay_ms:g}ms"] if delay_ms > 0 else []
        if loss_pct > 0:
            netem += ["loss", f"{loss_pct:g}%"]
        for i in range(n):
            ns = f"souk-{i}"
            sh("ip", "netns", "add", ns)
            net.data["netns"]["namespaces"].append(ns)
            net.save()
            sh("ip", "-n", HUB_NS, "link", "add", f"vh{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", HUB_NS, "link", "set", f"vh{i}", "master", BRIDGE)
            sh("ip", "-n", HUB_NS, "link", "set", f"vh{i}", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", f"{netns_address(i)}/16", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            if netem:
                try:
                    sh("ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "eth0", "root", "netem", *netem,
                       "limit", "100000")
                except TestnetError as e:
                    raise TestnetError(f"{e}\n(is the sch_netem kernel module available? `modprobe sch_netem`)")
    # A TCP connection attempt to a closed port proves the wiring: the RST comes back after one
    # round trip (2 x the one-way delay), which is recorded as the measured RTT.
    if n > 1:
        rtts = []
        deadline = time.time() + 10
        while len(rtts) < 5:
            try:
                rtts.append(tcp_rtt_ms("souk-0", netns_address(n - 1)))
            except OSError as e:
                if time.time() > deadline:
                    raise TestnetError(f"namespaces are wired but souk-0 cannot reach {netns_address(n - 1)}: {e}")
                time.sleep(0.2)
        net.data["tcp_rtt_ms"] = {"min": min(rtts), "max": max(rtts)}
        say(f"    namespaces wired ({emulation if shaped else 'veth + bridge'}); TCP round trip souk-0 -> "
            f"souk-{n - 1}: {min(rtts):.1f} ms (min of 5), expected {2 * delay_ms:g} ms")
        net.save()


def tcp_rtt_ms(netns: str | None, host: str, port: int = 9, timeout: float = 3.0) -> float:
    """Time until a connection attempt to a closed port is refused: one round trip."""
    s = socket_in_netns(netns)
    try:
        s.settimeout(timeout)
        t0 = time.perf_counter()
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return (time.perf_counter() - t0) * 1000
        raise OSError(f"port {port} on {host} is open; cannot time a refusal")
    finally:
        s.close()


def teardown_netns(data: dict) -> list[str]:
    removed = []
    wire = data.get("wire") or {}
    pid = wire.get("pid")
    if pid and _is_wire(pid):
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            _reap(pid)
            if not _is_wire(pid):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    info = data.get("netns") or {}
    for ns in reversed(info.get("namespaces", [])):
        proc = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
        if proc.returncode == 0:
            removed.append(ns)
        elif "No such file" not in proc.stderr:
            warn(f"ip netns del {ns}: {proc.stderr.strip()}")
    return removed


# ---------------------------------------------------------------------------------------------
# Node processes


def daemon_command(net: Net, node: Node) -> list[str]:
    rec = node.rec
    cmd = [net.data["binary"], "daemon", "--datadir", rec["datadir"],
           "--rpc-port", str(rec.get("rpc_port") or 0),
           "--p2p-port", str(rec.get("p2p_port") or 0),
           "--p2p-bind", rec["p2p_bind"], "--no-discover",
           "--log-level", net.data.get("log_level", "info")]
    for addr in rec.get("connect", []):
        cmd += ["--connect", addr]
    if rec.get("netns"):
        cmd = ["ip", "netns", "exec", rec["netns"]] + cmd
    return cmd


def start_node(net: Net, node: Node, timeout: float = 60.0) -> None:
    """Starts the node's daemon and waits for its ready line; records pid and ports."""
    if node.alive():
        raise TestnetError(f"{node.name} is already running (pid {node.pid})")
    rec = node.rec
    out_path = Path(rec["stdout_log"])
    err_path = Path(rec["stderr_log"])
    offset = out_path.stat().st_size if out_path.exists() else 0
    cmd = daemon_command(net, node)
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        err.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} testnet start: {' '.join(cmd)}\n".encode())
        err.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                                cwd=str(RUN_DIR))
    rec["pid"] = proc.pid
    rec["started_at"] = time.time()
    net.save()
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = out_path.read_bytes()[offset:].decode(errors="replace")
        m = READY_RE.search(text)
        if m:
            rec["node_id"] = m.group(1)
            rec["rpc_port"] = int(m.group(3))
            if m.group(5):
                rec["p2p_port"] = int(m.group(5))
                rec["p2p_address"] = f"{rec['p2p_host']}:{rec['p2p_port']}"
            net.save()
            # The cookie is written before the ready line; make sure RPC answers.
            while time.time() < deadline:
                if node.try_rpc("node.info", timeout=2) is not None:
                    return
                time.sleep(0.05)
            break
        if proc.poll() is not None:
            tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
            raise TestnetError(f"{node.name} exited with status {proc.returncode} before it was ready; "
                               f"last lines of {err_path}:\n{tail}")
        time.sleep(0.05)
    raise TestnetError(f"{node.name} did not print its ready line within {timeout:.0f} s (see {err_path})")


def stop_node(node: Node, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `grace` seconds. Returns True when it had to kill."""
    pid = node.rec.get("pid")
    if not node.alive():
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.time() + grace
    while time.time() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return False
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    for _ in range(100):
        _reap(pid)
        if not pid_alive(pid):
            break
        time.sleep(0.05)
    return True


def _is_wire(pid: int) -> bool:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return ") Z" not in stat and any(a.endswith(b"wire.py") for a in args)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---------------------------------------------------------------------------------------------
# Waiting


def link_graph(net: Net) -> tuple[list[set[int]], list[int]]:
    """Ready links as reported by peer.list (either side counts), and each node's ready-peer count."""
    index = {n.node_id: i for i, n in enumerate(net.nodes)}
    adj = [set() for _ in net.nodes]
    counts = []
    for i, n in enumerate(net.nodes):
        peers = n.ready_peers() if n.alive() else []
        counts.append(len(peers))
        for p in peers:
            j = index.get(p.get("node_id"))
            if j is not None and j != i:
                adj[i].add(j)
                adj[j].add(i)
    return adj, counts


def wait_connected(net: Net, timeout: float, want_all_planned: bool = True, quiet: bool = False) -> list[set[int]]:
    """Until every node has >= 1 ready peer and the graph is connected (and, preferably, every
    planned link is up). Raises TestnetError at the deadline unless the must-haves hold."""
    planned = {tuple(sorted(e)) for e in net.data.get("edges", [])}
    deadline = time.time() + timeout
    t0 = time.time()
    last_report = time.time()
    while True:
        adj, counts = link_graph(net)
        n = len(net.nodes)
        up = {(i, j) for i in range(n) for j in adj[i] if i < j}
        connected = len(bfs(adj, 0)) == n if n else True
        lonely = [net.nodes[i].name for i in range(n) if counts[i] == 0]
        missing = sorted(planned - up)
        if connected and not lonely and (not want_all_planned or not missing):
            if not quiet:
                say(f"    all {n} nodes connected after {time.time() - t0:.1f} s "
                    f"({len(up)} links, diameter {diameter(adj)})")
            return adj
        if time.time() > deadline:
            if connected and not lonely:
                warn(f"{len(missing)} planned links not up after {timeout:.0f} s "
                     f"({', '.join(f'{net.nodes[a].name}-{net.nodes[b].name}' for a, b in missing[:8])}); "
                     f"the graph is connected anyway")
                return adj
            dead = [x.name for x in net.nodes if not x.alive()]
            raise TestnetError(
                f"the testnet did not connect within {timeout:.0f} s: "
                f"{'nodes without a ready peer: ' + ', '.join(lonely) + '; ' if lonely else ''}"
                f"graph {'connected' if connected else 'NOT connected'}; {len(up)}/{len(planned)} planned links up"
                f"{'; dead processes: ' + ', '.join(dead) if dead else ''} (logs: {RUN_DIR}/*/daemon.log)")
        if not quiet and time.time() - last_report > 5:
            last_report = time.time()
            say(f"    waiting for links: {len(up)}/{len(planned)} up, "
                f"{n - len(lonely)}/{n} nodes have a ready peer")
        time.sleep(0.25)


# ---------------------------------------------------------------------------------------------
# up / down / status


def live_nodes_of_previous_run() -> list[Node]:
    if not NODES_FILE.exists():
        return []
    try:
        net = Net.load()
    except (ValueError, TestnetError):
        return []
    return [n for n in net.nodes if n.alive()]


def up(n: int, netns: bool = False, delay_ms: float = 0.0, loss_pct: float = 0.0, release: bool = False,
       degree: int = 2, seed: int | None = None, log_level: str = "info", timeout: float | None = None,
       binary: str | None = None, emulation: str = "auto") -> Net:
    if n < 1:
        raise TestnetError("N must be at least 1")
    if n > 250 * 200:
        raise TestnetError("N is too large")
    if (delay_ms or loss_pct) and not netns:
        raise TestnetError("--delay and --loss need --netns (netem on loopback would delay every local program)")
    if netns:
        require_root_for_netns()
    running = live_nodes_of_previous_run()
    if running:
        raise TestnetError(f"a testnet is still running ({', '.join(x.name for x in running)}); run testnet/down first")
    if NODES_FILE.exists():
        old = json.loads(NODES_FILE.read_text())
        if old.get("netns") and not old.get("netns_removed"):
            teardown_netns(old)
    source = source_state()
    if binary is None:
        binary = build(release)
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir(parents=True)
    seed = seed if seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    edges = plan_edges(n, degree, rng)
    adj = adjacency(n, edges)
    net = Net({
        "created_at": time.time(), "binary": binary, "build": os.environ.get("SOUK_BUILD") or ("release" if "release" in binary else "debug"),
        "mode": "netns" if netns else "loopback", "delay_ms": delay_ms, "loss_pct": loss_pct,
        "degree": degree, "seed": seed, "log_level": log_level, "netns": None,
        "source": source if not os.environ.get("SOUK_BIN") else {"binary_from": "SOUK_BIN", **source},
        "edges": [list(e) for e in edges], "planned_diameter": diameter(adj), "nodes": [],
    })
    say(f"==> starting {n} nodes ({net.data['mode']}"
        f"{f', {delay_ms:g} ms one-way link delay' if delay_ms else ''}{f', {loss_pct:g}% loss' if loss_pct else ''}; "
        f"{len(edges)} links, planned diameter {net.data['planned_diameter']}, seed {seed})")
    for i in range(n):
        name = f"n{i}"
        datadir = RUN_DIR / name
        proc = run([binary, "init", "--datadir", str(datadir), "--network", "testnet", "--json"], capture=True,
                   check=False)
        if proc.returncode != 0:
            raise TestnetError(f"souk init for {name} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        info = json.loads(proc.stdout)
        rec = {
            "name": name, "index": i, "node_id": info["node_id"], "datadir": str(datadir),
            "cookie": str(datadir / "rpc.cookie"), "stdout_log": str(datadir / "daemon.out"),
            "stderr_log": str(datadir / "daemon.log"), "netns": None, "pid": None,
            "rpc_host": "127.0.0.1", "rpc_port": 0,
            "p2p_host": "127.0.0.1", "p2p_bind": "127.0.0.1", "p2p_port": 0, "p2p_address": None,
            "connect": [],
        }
        if netns:
            rec.update({"netns": f"souk-{i}", "rpc_port": NETNS_RPC_PORT, "p2p_host": netns_address(i),
                        "p2p_bind": netns_address(i), "p2p_port": NETNS_P2P_PORT,
                        "p2p_address": f"{netns_address(i)}:{NETNS_P2P_PORT}"})
        net.nodes.append(Node(rec))
    net.save()
    try:
        if netns:
            setup_netns(n, delay_ms, loss_pct, net, emulation)
        for i, node in enumerate(net.nodes):
            node.rec["connect"] = [net.nodes[j].p2p_address for (a, j) in edges if a == i]
            start_node(net, node)
        say(f"    {n} daemons ready; waiting until every planned link is up")
        wait_connected(net, timeout if timeout is not None else 60 + 2 * n)
        net.save()
    except BaseException:
        # Leave nothing half-started behind; the logs stay for a post-mortem.
        say("    up failed; stopping what it started (logs kept)")
        down(quiet=True)
        raise
    return net


def down(quiet: bool = False) -> int:
    if not NODES_FILE.exists():
        if not quiet:
            say("no testnet recorded; nothing to stop")
        return 0
    net = Net.load()
    live = [n for n in net.nodes if n.alive()]
    for n in live:
        try:
            os.kill(n.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + 15
    while time.time() < deadline and any(n.alive() for n in live):
        for n in live:
            _reap(n.pid)
        time.sleep(0.1)
    killed = []
    for n in live:
        if n.alive():
            killed.append(n.name)
            try:
                os.kill(n.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for n in live:
        for _ in range(50):
            _reap(n.pid)
            if not n.alive():
                break
            time.sleep(0.05)
    removed = teardown_netns(net.data) if net.data.get("netns") else []
    net.data["netns_removed"] = True
    net.data["stopped_at"] = time.time()
    for n in net.nodes:
        if not n.alive():
            n.rec["pid"] = None
    net.save()
    if not quiet:
        msg = f"stopped {len(live)} node(s)"
        if killed:
            msg += f" ({', '.join(killed)} needed SIGKILL after 15 s)"
        if removed:
            msg += f"; removed {len(removed)} network namespaces"
        say(msg + f"; logs kept in {RUN_DIR}/*/daemon.log")
    return 0


def status() -> int:
    net = Net.load()
    say(f"{net.data['mode']} testnet, {len(net.nodes)} nodes"
        f"{f', {net.delay_ms:g} ms link delay' if net.delay_ms else ''} — {NODES_FILE}")
    say(f"{'name':<5} {'node id':<13} {'state':<7} {'peers':>5} {'listings':>8} {'retracted':>9} {'in_sync':<7} p2p")
    bad = 0
    for n in net.nodes:
        info = n.try_rpc("node.info") if n.alive() else None
        if info is None:
            say(f"{n.name:<5} {n.short_id:<13} {'down':<7} {'-':>5} {'-':>8} {'-':>9} {'-':<7} {n.p2p_address}")
            bad += 1
            continue
        peers = len(n.ready_peers())
        sync = info.get("sync") or {}
        listings = info.get("listings") or {}
        say(f"{n.name:<5} {n.short_id:<13} {'up':<7} {peers:>5} {listings.get('active', '?'):>8} "
            f"{listings.get('retracted', '?'):>9} {str(sync.get('in_sync', '?')).lower():<7} {n.p2p_address}")
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="souknet")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start N nodes")
    u.add_argument("n", type=int)
    add_up_args(u)
    sub.add_parser("down")
    sub.add_parser("status")
    s = sub.add_parser("stop-node")
    s.add_argument("name")
    s = sub.add_parser("start-node")
    s.add_argument("name")
    s = sub.add_parser("rpc", help="call one method on one node: rpc NAME METHOD [JSON-PARAMS]")
    s.add_argument("name")
    s.add_argument("method")
    s.add_argument("params", nargs="?", default="{}")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "up":
            up(args.n, **up_kwargs(args))
            say(f"==> testnet up: {NODES_FILE}")
            return 0
        if args.cmd == "down":
            return down()
        if args.cmd == "status":
            return status()
        net = Net.load()
        if args.cmd == "stop-node":
            stop_node(net.node(args.name))
            return 0
        if args.cmd == "start-node":
            start_node(net, net.node(args.name))
            return 0
        if args.cmd == "rpc":
            print(json.dumps(net.node(args.name).rpc(args.method, json.loads(args.params)), indent=2))
            return 0
    except TestnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except RPCError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 2


def add_up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--netns", action="store_true", help="one network namespace per node (needs root)")
    p.add_argument("--delay", type=float, default=0.0, metavar="MS", help="one-way link delay (with --netns)")
    p.add_argument("--loss", type=float, default=0.0, metavar="PCT", help="packet loss (with --netns)")
    p.add_argument("--release", action="store_true", help="build and run the release configuration")
    p.add_argument("--degree", type=int, default=2, help="links each node dials to earlier nodes (default 2)")
    p.add_argument("--seed", type=int, default=None, help="topology seed (default random, printed)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the links")
    p.add_argument("--link-emulation", choices=["auto", "netem", "wire"], default="auto",
                   help="with --netns and --delay/--loss: tc netem on veth pairs, or the userspace wire over "
                        "tun devices (auto: netem when the kernel has it)")


def up_kwargs(args) -> dict:
    if args.netns and args.delay < 0:
        raise TestnetError("--delay must be >= 0")
    return {"netns": args.netns, "delay_ms": args.delay, "loss_pct": args.loss, "release": args.release,
            "degree": args.degree, "seed": args.seed, "log_level": args.log_level, "timeout": args.timeout,
            "emulation": args.link_emulation}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
