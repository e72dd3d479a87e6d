"""`souk` processes: `souk init`, the daemon's command line, starting a daemon and waiting for its
ready line, stopping it (SIGTERM, then SIGKILL), and telling whether a recorded pid is still a
running daemon. Used by testnet/up and by the pytest harness in Tests/Network.

Functions take a node record (souknet.model.Node); this module does not import it, so the model
can use pid_alive without a cycle.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from .common import READY_RE, RUN_DIR, TestnetError

if TYPE_CHECKING:
    from .model import Net, Node

# Daemons this process started, so that reaping goes through their Popen objects.
_children: dict[int, subprocess.Popen] = {}


# ---- liveness --------------------------------------------------------------------------------


def _proc_args(pid: int) -> tuple[list[bytes], str] | None:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"), Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None


def pid_alive(pid, datadir=None) -> bool:
    """Is `pid` a running souk daemon (of `datadir`, when given)? Guards against reused pids."""
    if not pid:
        return False
    found = _proc_args(pid)
    if found is None:
        return False
    cmdline, stat = found
    if ") Z" in stat:  # a zombie is dead
        return False
    args = [a.decode(errors="replace") for a in cmdline]
    if "daemon" not in args or "--datadir" not in args:
        return False
    return datadir is None or datadir in args


def is_wire(pid: int) -> bool:
    """Is `pid` a running testnet/lib/wire.py?"""
    found = _proc_args(pid)
    if found is None:
        return False
    args, stat = found
    return ") Z" not in stat and any(a.endswith(b"wire.py") for a in args)


def reap(pid: int) -> None:
    """Collects `pid`'s exit status if it is our child and has exited (no zombie is left)."""
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _children.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# ---- starting --------------------------------------------------------------------------------


def init_datadir(binary: str, datadir, network: str = "testnet", extra: Iterable[str] = ()) -> dict:
    """Runs `souk init` for a new data dir and returns what it printed (--json): node_id and more."""
    cmd = [binary, "init", "--datadir", str(datadir), "--network", network, *extra, "--json"]
    proc = subprocess.run(cmd, text=True, capture_output=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise TestnetError(f"souk init for {Path(datadir).name} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return json.loads(proc.stdout)


def daemon_args(binary: str, node: Node, log_level: str = "info", extra: Iterable[str] = ()) -> list[str]:
    """`souk daemon` for `node`: its data dir, ports (0: the OS picks), bind address and --connect
    list, then `extra`; wrapped in `ip netns exec` when the node has a namespace."""
    cmd = [binary, "daemon", "--datadir", node.datadir,
           "--rpc-port", str(node.rpc_port or 0),
           "--p2p-port", str(node.p2p_port or 0),
           "--p2p-bind", node.p2p_bind, "--no-discover",
           "--log-level", log_level]
    for addr in node.connect:
        cmd += ["--connect", addr]
    cmd += list(extra)
    if node.netns:
        cmd = ["ip", "netns", "exec", node.netns] + cmd
    return cmd


def daemon_command(net: Net, node: Node) -> list[str]:
    """The command testnet/up runs for `node` of `net`."""
    return daemon_args(net.data["binary"], node, net.data.get("log_level", "info"))


def _launch(node: Node, cmd: list[str], cwd) -> subprocess.Popen:
    out_path, err_path = Path(node.stdout_log), Path(node.stderr_log)
    with open(out_path, "ab") as out, open(err_path, "ab") as err:
        err.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} testnet start: {' '.join(cmd)}\n".encode())
        err.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                                cwd=None if cwd is None else str(cwd))
    _children[proc.pid] = proc
    return proc


def _record_ready(node: Node, m) -> None:
    node.node_id = m.group(1)
    node.rpc_port = int(m.group(3))
    if m.group(5):
        node.p2p_port = int(m.group(5))
        node.p2p_address = f"{node.p2p_host}:{node.p2p_port}"


def _wait_ready(node: Node, proc: subprocess.Popen, offset: int, deadline: float, timeout: float,
                record: Callable[[], None]) -> None:
    out_path, err_path = Path(node.stdout_log), Path(node.stderr_log)
    while time.time() < deadline:
        m = READY_RE.search(out_path.read_bytes()[offset:].decode(errors="replace"))
        if m:
            _record_ready(node, m)
            record()
            # The cookie is written before the ready line; make sure RPC answers.
            while time.time() < deadline:
                if node.try_rpc("node.info", timeout=2) is not None:
                    return
                time.sleep(0.05)
            raise TestnetError(f"{node.name} printed its ready line but its RPC did not answer within "
                               f"{timeout:.0f} s (see {err_path})")
        if proc.poll() is not None:
            tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-15:])
            raise TestnetError(f"{node.name} exited with status {proc.returncode} before it was ready; "
                               f"last lines of {err_path}:\n{tail}")
        time.sleep(0.05)
    raise TestnetError(f"{node.name} did not print its ready line within {timeout:.0f} s (see {err_path})")


def spawn_daemon(node: Node, cmd: list[str], timeout: float = 60.0, record: Callable[[], None] = lambda: None,
                 cwd=None) -> None:
    """Runs `cmd` (stdout appended to node.stdout_log, stderr to node.stderr_log), waits for the
    ready line and for RPC to answer; records pid, start time, node id and ports on `node`, calling
    `record()` after each change (testnet/up saves nodes.json there)."""
    if node.alive():
        raise TestnetError(f"{node.name} is already running (pid {node.pid})")
    out_path = Path(node.stdout_log)
    offset = out_path.stat().st_size if out_path.exists() else 0
    proc = _launch(node, cmd, cwd)
    node.pid = proc.pid
    node.started_at = time.time()
    record()
    _wait_ready(node, proc, offset, time.time() + timeout, timeout, record)


def start_node(net: Net, node: Node, timeout: float = 60.0) -> None:
    """Starts the node's daemon and waits for its ready line; records pid and ports in nodes.json."""
    spawn_daemon(node, daemon_command(net, node), timeout, record=net.save, cwd=RUN_DIR)


# ---- stopping --------------------------------------------------------------------------------


def _signal(pid: int, sig: int) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def _wait_gone(pid: int, seconds: float) -> bool:
    """Polls (and reaps) until `pid` is no daemon any more; True when it went within `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        reap(pid)
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def stop_node(node: Node, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `grace` seconds. Returns True when it had to kill."""
    pid = node.pid
    if not node.alive() or not _signal(pid, signal.SIGTERM):
        return False
    if _wait_gone(pid, grace) or not _signal(pid, signal.SIGKILL):
        return False
    _wait_gone(pid, 5.0)
    return True


def kill_node(node: Node) -> None:
    """SIGKILL at once, and wait until the process is gone."""
    if node.alive() and _signal(node.pid, signal.SIGKILL):
        _wait_gone(node.pid, 5.0)


def stop_nodes(nodes: list[Node], grace: float) -> list[Node]:
    """SIGTERM to every live node at once, SIGKILL to those still running after `grace` seconds
    (all together); returns the nodes that had to be killed."""
    live = [n for n in nodes if n.alive()]
    for n in live:
        _signal(n.pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and any(n.alive() for n in live):
        for n in live:
            reap(n.pid)
        time.sleep(0.1)
    killed = [n for n in live if n.alive()]
    for n in killed:
        _signal(n.pid, signal.SIGKILL)
    for n in live:
        for _ in range(50):
            reap(n.pid)
            if not n.alive():
                break
            time.sleep(0.05)
    return killed
