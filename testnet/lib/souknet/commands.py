"""What testnet/up, down and status do: start N nodes and record them in testnet/.run/nodes.json,
stop them (and remove their namespaces), and print their state."""

from __future__ import annotations

import json
import os
import random
import shutil
import time

from .build import build, source_state
from .common import NETNS_P2P_PORT, NETNS_RPC_PORT, NODES_FILE, RUN_DIR, TestnetError, say
from .graph import adjacency, diameter, plan_edges
from .model import Net, Node
from .netns import netns_address, require_root_for_netns, setup_netns, teardown_netns
from .process import init_datadir, start_node, stop_nodes
from .waiting import wait_connected


def live_nodes_of_previous_run() -> list[Node]:
    if not NODES_FILE.exists():
        return []
    try:
        net = Net.load()
    except (ValueError, TestnetError):
        return []
    return [n for n in net.nodes if n.alive()]


# ---- up --------------------------------------------------------------------------------------


def _check_up(n: int, netns: bool, delay_ms: float, loss_pct: float) -> None:
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


def _remove_stale_namespaces() -> None:
    """Removes the namespaces of a stopped run that `down` did not remove."""
    if NODES_FILE.exists():
        old = json.loads(NODES_FILE.read_text())
        if old.get("netns") and not old.get("netns_removed"):
            teardown_netns(old)


def _fresh_run_dir() -> None:
    """Wipes the previous (stopped) run's directory, logs included."""
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir(parents=True)


def _new_net(n: int, binary: str, source: dict, netns: bool, delay_ms: float, loss_pct: float, degree: int,
             seed: int, log_level: str, edges: list) -> Net:
    """The run's record before any node exists (the fields of nodes.json, in their order)."""
    return Net({
        "created_at": time.time(), "binary": binary,
        "build": os.environ.get("SOUK_BUILD") or ("release" if "release" in binary else "debug"),
        "mode": "netns" if netns else "loopback", "delay_ms": delay_ms, "loss_pct": loss_pct,
        "degree": degree, "seed": seed, "log_level": log_level, "netns": None,
        "source": source if not os.environ.get("SOUK_BIN") else {"binary_from": "SOUK_BIN", **source},
        "edges": [list(e) for e in edges], "planned_diameter": diameter(adjacency(n, edges)),
        "nodes": [],
    })


def _init_node(binary: str, i: int, netns: bool) -> Node:
    """`souk init` for node i's data dir under testnet/.run/, and its record (ports still unknown
    on loopback: the OS picks them when the daemon starts)."""
    name = f"n{i}"
    datadir = RUN_DIR / name
    info = init_datadir(binary, datadir, "testnet")
    node = Node(name=name, index=i, node_id=info["node_id"], datadir=str(datadir),
                cookie=str(datadir / "rpc.cookie"), stdout_log=str(datadir / "daemon.out"),
                stderr_log=str(datadir / "daemon.log"))
    if netns:
        addr = netns_address(i)
        node.netns, node.rpc_port = f"souk-{i}", NETNS_RPC_PORT
        node.p2p_host, node.p2p_bind, node.p2p_port = addr, addr, NETNS_P2P_PORT
        node.p2p_address = f"{addr}:{NETNS_P2P_PORT}"
    return node


def _start_all(net: Net, edges: list, timeout: float) -> None:
    """Starts the daemons in order, each dialling its planned earlier nodes, then waits for the links."""
    for i, node in enumerate(net.nodes):
        node.connect = [net.nodes[j].p2p_address for (a, j) in edges if a == i]
        start_node(net, node)
    say(f"    {len(net.nodes)} daemons ready; waiting until every planned link is up")
    wait_connected(net, timeout)
    net.save()


def up(n: int, netns: bool = False, delay_ms: float = 0.0, loss_pct: float = 0.0, release: bool = False,
       degree: int = 2, seed: int | None = None, log_level: str = "info", timeout: float | None = None,
       binary: str | None = None, emulation: str = "auto") -> Net:
    """Starts N nodes (building souk unless `binary` or $SOUK_BIN is given) and returns once every
    planned link is up; on any failure stops what it started (logs kept) and raises."""
    _check_up(n, netns, delay_ms, loss_pct)
    _remove_stale_namespaces()
    source = source_state()
    if binary is None:
        binary = build(release)
    _fresh_run_dir()
    seed = seed if seed is not None else random.randrange(1 << 30)
    edges = plan_edges(n, degree, random.Random(seed))
    net = _new_net(n, binary, source, netns, delay_ms, loss_pct, degree, seed, log_level, edges)
    say(f"==> starting {n} nodes ({net.data['mode']}"
        f"{f', {delay_ms:g} ms one-way link delay' if delay_ms else ''}{f', {loss_pct:g}% loss' if loss_pct else ''}; "
        f"{len(edges)} links, planned diameter {net.data['planned_diameter']}, seed {seed})")
    net.nodes = [_init_node(binary, i, netns) for i in range(n)]
    net.save()
    try:
        if netns:
            setup_netns(n, delay_ms, loss_pct, net, emulation)
        _start_all(net, edges, timeout if timeout is not None else 60 + 2 * n)
    except BaseException:
        # Leave nothing half-started behind; the logs stay for a post-mortem.
        say("    up failed; stopping what it started (logs kept)")
        down(quiet=True)
        raise
    return net


# ---- down and status -------------------------------------------------------------------------


def down(quiet: bool = False) -> int:
    """Stops every recorded node (SIGTERM, SIGKILL after 15 s) and removes the run's namespaces."""
    if not NODES_FILE.exists():
        if not quiet:
            say("no testnet recorded; nothing to stop")
        return 0
    net = Net.load()
    live = [n for n in net.nodes if n.alive()]
    killed = [n.name for n in stop_nodes(live, grace=15)]
    removed = teardown_netns(net.data) if net.data.get("netns") else []
    net.data["netns_removed"] = True
    net.data["stopped_at"] = time.time()
    for n in net.nodes:
        if not n.alive():
            n.pid = None
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
    """Prints one line per node; returns 1 when a node is down."""
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
