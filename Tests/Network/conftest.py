"""Fixtures for the real-process network tests: `souk` daemons on loopback, each in its own temp
data dir with OS-assigned ports, always stopped (SIGTERM, then SIGKILL) when a test ends.

Starting, stopping, JSON-RPC and waiting come from the testnet library (testnet/lib/souknet), the
same code testnet/up uses; this file adds the test-facing helpers and the fixtures.

The binary is `$SOUK_BIN`, else `.build/debug/souk` (what scripts/test.sh builds), else
`.build-pytest/debug/souk`; the suite fails with a clear message when none exists.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(REPO / "testnet" / "lib"))

import souknet  # noqa: E402  (after the path above)
from souknet import RPCError, TestnetError  # noqa: E402,F401  (RPCError: what Node.rpc raises)

LOG_LEVEL = os.environ.get("SOUK_LOG_LEVEL", "debug")


def drain(conn, seconds):
    """Reads (and answers) everything a Python peer receives for `seconds`; returns the messages."""
    import soukpeer as sp

    out = []
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return out
        try:
            m = conn.recv(left)
        except TimeoutError:
            return out
        if m.type == sp.GETADDR:
            conn.send(sp.encode_addr([]))
        out.append(m)


def find_binary() -> str:
    env = os.environ.get("SOUK_BIN")
    if env:
        if not os.access(env, os.X_OK):
            pytest.exit(f"SOUK_BIN={env} is not an executable file", returncode=2)
        return env
    for rel in (".build/debug/souk", ".build-pytest/debug/souk"):
        p = REPO / rel
        if os.access(p, os.X_OK):
            return str(p)
    pytest.exit(
        "no souk binary: set SOUK_BIN, or build one with `swift build --product souk` "
        "(expected .build/debug/souk)", returncode=2)


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value; fails the test at the deadline."""
    try:
        return souknet.wait_until(predicate, timeout, interval, what)
    except souknet.WaitTimeout as e:
        message = str(e)
    pytest.fail(message)


class Node(souknet.Node):
    """One `souk daemon` process: a testnet node record (souknet.Node, so RPC, liveness, start and
    stop are the testnet library's) plus the helpers the tests use. Logs go to <root>/<name>.*.log."""

    def __init__(self, binary: str, datadir: Path, name: str, network: str):
        root = datadir.parent
        super().__init__(name=name, datadir=str(datadir), cookie=str(datadir / "rpc.cookie"),
                         stdout_log=str(root / f"{name}.stdout.log"), stderr_log=str(root / f"{name}.stderr.log"))
        self.binary = binary
        self.network = network
        self.stderr_path = Path(self.stderr_log)

    # ---- lifecycle ----

    def init(self) -> None:
        self.node_id = souknet.init_datadir(self.binary, self.datadir, self.network, ("--rpc-port", "0"))["node_id"]

    def start(self, connect: tuple = (), extra: tuple = (), p2p_port: Optional[int] = None,
              timeout: float = 30.0) -> "Node":
        """Starts the daemon (RPC on a fresh port, P2P on `p2p_port`, else on the port it had, else
        on a fresh one) and returns once it printed its ready line and answers RPC."""
        expected_id = self.node_id
        self.connect = list(connect)
        self.rpc_port = 0
        if p2p_port is not None:
            self.p2p_port = p2p_port
        cmd = souknet.daemon_args(self.binary, self, LOG_LEVEL, extra)
        try:
            souknet.spawn_daemon(self, cmd, timeout)
        except TestnetError:  # it exited (the message has its log's tail) or never got ready
            self.stop()
            raise
        assert self.node_id == expected_id, f"ready line names {self.node_id}, init said {expected_id}"
        return self

    def stop(self, grace: float = 5.0) -> None:
        souknet.stop_node(self, grace)

    def kill(self) -> None:
        souknet.kill_node(self)

    @property
    def running(self) -> bool:
        return self.alive()

    @property
    def p2p(self) -> str:
        return f"127.0.0.1:{self.p2p_port}"

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, n: int = 30) -> str:
        return "\n".join(self.stderr_text().splitlines()[-n:])

    # ---- JSON-RPC helpers ----

    def rpc(self, method: str, params: Optional[dict] = None, timeout: float = 10.0):
        return super().rpc(method, params, timeout)

    def info(self) -> dict:
        return self.rpc("node.info")

    def counts(self) -> tuple:
        li = self.info()["listings"]
        return li["active"], li["retracted"]

    def ready_peers(self) -> list:
        """Unlike souknet.Node.ready_peers, raises when the node does not answer."""
        return [p for p in self.rpc("peer.list")["peers"] if p.get("ready")]

    def peer_ids(self) -> set:
        return {p["node_id"] for p in self.ready_peers()}

    def create_listing(self, title: str, price: str = "10.00", currency: str = "EUR", category: str = "misc",
                       **extra) -> dict:
        params = {"title": title, "price": price, "currency": currency, "category": category}
        params.update(extra)
        return self.rpc("listing.create", params)

    def all_listings(self) -> dict:
        """listing_id -> (version, object_id), by paging listing.search (sort newest, limit 100)."""
        out = {}
        cursor = None
        for _ in range(1000):
            params = {"sort": "newest", "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.rpc("listing.search", params)
            for l in page["results"]:
                out[l["listing_id"]] = (l["version"], l["object_id"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out
        raise AssertionError("listing.search pagination did not end")

    def __repr__(self) -> str:
        return f"<Node {self.name} rpc {self.rpc_port} p2p {self.p2p_port}>"


class Cluster:
    """Creates nodes and stops them all at teardown."""

    def __init__(self, binary: str, root: Path):
        self.binary = binary
        self.root = root
        self.nodes: list[Node] = []

    def node(self, name: Optional[str] = None, network: str = "testnet") -> Node:
        name = name or f"n{len(self.nodes)}"
        n = Node(self.binary, self.root / name, name, network)
        n.init()
        self.nodes.append(n)
        return n

    def start(self, name: Optional[str] = None, network: str = "testnet", connect: tuple = (),
              extra: tuple = ()) -> Node:
        return self.node(name, network).start(connect=connect, extra=extra)

    def stop_all(self) -> None:
        """SIGTERM to every node at once, SIGKILL to those still running 5 s later."""
        souknet.stop_nodes(self.nodes, grace=5.0)


@pytest.fixture(scope="session")
def souk_bin() -> str:
    return find_binary()


@pytest.fixture
def cluster(souk_bin, tmp_path, request):
    c = Cluster(souk_bin, tmp_path)
    yield c
    c.stop_all()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for n in c.nodes:
            sys.stderr.write(f"\n---- {n.name} ({n.node_id[:12]}) stderr tail ----\n{n.stderr_tail(40)}\n")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def connected(a: Node, b: Node) -> bool:
    return b.node_id in a.peer_ids() and a.node_id in b.peer_ids()
