"""Fixtures for the real-process network tests: `souk` daemons on loopback, each in its own temp
data dir with OS-assigned ports, always stopped (SIGTERM, then SIGKILL) when a test ends.

The binary is `$SOUK_BIN`, else `.build/debug/souk` (what scripts/test.sh builds), else
`.build-pytest/debug/souk`; the suite fails with a clear message when none exists.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"souk daemon ready: node ([0-9a-f]{64}) rpc ([\d.]+):(\d+)(?: p2p ([\d.]+):(\d+))?")


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
    deadline = time.monotonic() + timeout
    last_exc: Optional[BaseException] = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except AssertionError:
            raise
        except Exception as e:  # a node still starting, a connection refused: keep polling
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:.1f} s waiting for {what}"
            if last_exc:
                msg += f" (last error: {last_exc!r})"
            pytest.fail(msg)
        time.sleep(interval)


class RPCError(Exception):
    def __init__(self, error: dict):
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.code = error.get("code")


class Node:
    """One `souk daemon` process."""

    def __init__(self, binary: str, datadir: Path, name: str, network: str):
        self.binary = binary
        self.datadir = datadir
        self.name = name
        self.network = network
        self.proc: Optional[subprocess.Popen] = None
        self.node_id = ""
        self.rpc_port = 0
        self.p2p_port = 0
        self.stderr_path = datadir.parent / f"{name}.stderr.log"
        self._stdout_lines: list[str] = []
        self._ready = threading.Event()
        self._auth = ""
        self._id = 0

    # ---- lifecycle ----

    def init(self) -> None:
        out = subprocess.run(
            [self.binary, "init", "--datadir", str(self.datadir), "--network", self.network, "--rpc-port", "0"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"souk init failed: {out.stderr.strip()}")
        self.node_id = out.stdout.strip().splitlines()[-1]

    def start(self, connect: tuple = (), extra: tuple = (), p2p_port: Optional[int] = None,
              timeout: float = 30.0) -> "Node":
        args = [
            self.binary, "daemon", "--datadir", str(self.datadir), "--rpc-port", "0",
            "--p2p-port", str(p2p_port if p2p_port is not None else (self.p2p_port or 0)),
            "--p2p-bind", "127.0.0.1", "--no-discover", "--log-level", os.environ.get("SOUK_LOG_LEVEL", "debug"),
        ]
        for c in connect:
            args += ["--connect", c]
        args += list(extra)
        self._ready.clear()
        self._stdout_lines = []
        with open(self.stderr_path, "ab") as err:
            err.write(f"==== start {' '.join(args)}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        threading.Thread(target=self._read_stdout, args=(self.proc,), daemon=True).start()
        if not self._ready.wait(timeout):
            code = self.proc.poll()
            self.stop()
            raise RuntimeError(
                f"{self.name}: no ready line within {timeout} s (exit code {code}); stderr tail:\n{self.stderr_tail()}")
        line = next(l for l in self._stdout_lines if READY.search(l))
        m = READY.search(line)
        assert m.group(1) == self.node_id, f"ready line names {m.group(1)}, init said {self.node_id}"
        self.rpc_port = int(m.group(3))
        self.p2p_port = int(m.group(5))
        cookie = (self.datadir / "rpc.cookie").read_text().strip()
        self._auth = "Basic " + base64.b64encode(cookie.encode()).decode()
        return self

    def _read_stdout(self, proc: subprocess.Popen) -> None:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            self._stdout_lines.append(line)
            if READY.search(line):
                self._ready.set()

    def stop(self, grace: float = 5.0) -> None:
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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

    # ---- JSON-RPC ----

    def rpc(self, method: str, params: Optional[dict] = None, timeout: float = 10.0):
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params or {}}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.rpc_port}/", data=body,
            headers={"Content-Type": "application/json", "Authorization": self._auth})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                reply = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            reply = json.loads(e.read() or b"{}")
        if "error" in reply and reply["error"] is not None:
            raise RPCError(reply["error"])
        return reply["result"]

    # ---- helpers ----

    def info(self) -> dict:
        return self.rpc("node.info")

    def counts(self) -> tuple:
        li = self.info()["listings"]
        return li["active"], li["retracted"]

    def ready_peers(self) -> list:
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
        for n in self.nodes:
            if n.running:
                try:
                    n.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                n.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait(5)


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
