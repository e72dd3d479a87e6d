"""Bounded waits: polling a condition until a deadline (wait_until), and waiting until a testnet's
nodes are linked as planned (wait_connected, from the ready links that peer.list reports)."""

from __future__ import annotations

import time
from typing import Callable

from .common import RUN_DIR, TestnetError, say, warn
from .graph import bfs, diameter
from .model import Net


class WaitTimeout(TestnetError):
    """A wait_until deadline passed."""


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value and returns that value. An exception from
    `predicate` counts as "not yet" (a node still starting, a connection refused), except an
    AssertionError, which is raised at once. Raises WaitTimeout at the deadline."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as e:
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f} s waiting for {what}"
            if last_exc:
                msg += f" (last error: {last_exc!r})"
            raise WaitTimeout(msg)
        time.sleep(interval)


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


def _not_connected(net: Net, timeout: float, lonely: list[str], connected: bool, up: set, planned: set) -> TestnetError:
    dead = [x.name for x in net.nodes if not x.alive()]
    return TestnetError(
        f"the testnet did not connect within {timeout:.0f} s: "
        f"{'nodes without a ready peer: ' + ', '.join(lonely) + '; ' if lonely else ''}"
        f"graph {'connected' if connected else 'NOT connected'}; {len(up)}/{len(planned)} planned links up"
        f"{'; dead processes: ' + ', '.join(dead) if dead else ''} (logs: {RUN_DIR}/*/daemon.log)")


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
            raise _not_connected(net, timeout, lonely, connected, up, planned)
        if not quiet and time.time() - last_report > 5:
            last_report = time.time()
            say(f"    waiting for links: {len(up)}/{len(planned)} up, "
                f"{n - len(lonely)}/{n} nodes have a ready peer")
        time.sleep(0.25)
