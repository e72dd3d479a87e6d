"""Local (LAN) discovery, with real `souk daemon` processes in network namespaces on one bridge.

Each node runs in a namespace of its own (`sld-<i>-<pid>`, address 10.78.0.1x/24 with broadcast
10.78.0.255 on `eth0`), whose veth peer sits on bridge `br0` in a hub namespace (`sld-hub-<pid>`).
One more namespace (`sld-obs-<pid>`, 10.78.0.100) has no daemon: the test listens there with a raw
UDP socket bound to the discovery port (SO_REUSEADDR), and sends hostile datagrams from there.
Nothing here touches testnet's 10.77.0.0/16 or its `souk-*` namespaces; every namespace is removed
when the module ends, whatever happened. Needs root and `ip` (iproute2); skipped otherwise.

No node is given --connect, a bootstrap peer or a peer line: every link comes from discovery.

What is checked (the contract of the feature):
- two `main` nodes with the defaults find each other within 15 s: each one's peer.list shows the
  other's node id (a ready link, from the other's 10.78.0.x address);
- a default node's announcement is, byte for byte: `souk-lan`, version 0x01, the network name's
  length and `main`, its P2P port (u16 big-endian; here one the OS picked), 8 instance bytes, and
  nothing more; nodes started with --no-local-discovery or --no-discover next to it send no
  announcement and link with nobody in the 5 s after it announced;
- two `testnet` nodes neither announce nor find each other by default; with
  `local-discovery = true` in souk.conf they announce (`testnet`, port 17421, on UDP 17422) and
  find each other within 15 s;
- hostile datagrams to a node's 7422 (garbage, empty, truncated, trailing bytes, wrong magic or
  version, a network length of 0, over 200 or past the end, a name that is not UTF-8, another
  network, port 0, the node's own instance id, oversized ones, 1000 in a burst) do not crash it,
  make it dial nobody and log fewer than 20 lines at info or above; a valid announcement sent after
  them is still dialled (so the node was listening all along).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

import souknet
from conftest import LOG_LEVEL
from souknet.common import sh
from souknet.netns import setns, tcp_rtt_ms

SUBNET = "10.78.0"
PREFIX = 24
BROADCAST = f"{SUBNET}.255"
OBSERVER_IP = f"{SUBNET}.100"
N_NODES = 3
DISCOVERY_PORT = {"main": 7422, "testnet": 17422}
MAGIC = b"souk-lan"
VERSION = 1
INFO_OR_ABOVE = {"info", "notice", "warning", "error", "critical"}


# ------------------------------------------------------------------------------------------------
# The datagram
# ------------------------------------------------------------------------------------------------


def announcement(network, port: int, instance: bytes, version: int = VERSION, magic: bytes = MAGIC,
                 length: Optional[int] = None) -> bytes:
    """An announcement as the contract lays it out; `length` overrides the name-length byte."""
    name = network.encode() if isinstance(network, str) else network
    return magic + bytes([version, len(name) if length is None else length]) + name + struct.pack(">H", port) + instance


def check_announcement(data: bytes, network: str, port: int, who: str) -> bytes:
    """Checks `data` byte for byte against an announcement of `network` and `port`; returns its
    8-byte instance id."""
    name = network.encode()
    n = len(name)
    assert data[:8] == MAGIC, f"{who}'s announcement does not start with b'souk-lan': {data[:16]!r}"
    assert len(data) > 9 and data[8] == VERSION, f"{who}'s announcement has version byte {data[8:9]!r}, not 0x01"
    assert data[9] == n, f"{who}'s announcement has name length {data[9]}, expected {n} ({network!r}): {data!r}"
    assert data[10:10 + n] == name, f"{who}'s announcement names network {data[10:10 + n]!r}, expected {name!r}"
    announced = struct.unpack(">H", data[10 + n:12 + n])[0]
    assert announced == port, f"{who} announced P2P port {announced}, but it listens on {port}"
    assert len(data) == 8 + 1 + 1 + n + 2 + 8, (
        f"{who}'s announcement is {len(data)} bytes, expected {8 + 1 + 1 + n + 2 + 8}: {data!r}")
    return data[-8:]


# ------------------------------------------------------------------------------------------------
# Namespaces and sockets in them
# ------------------------------------------------------------------------------------------------


def in_netns(netns: str, make: Callable[[], socket.socket]) -> socket.socket:
    """`make()` run with this thread in `netns`; the socket stays there after the thread returns."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/var/run/netns/{netns}", os.O_RDONLY)
        try:
            setns(target)
            try:
                return make()
            finally:
                setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


def udp_socket(netns: str, port: Optional[int] = None) -> socket.socket:
    """A UDP socket in `netns` with SO_REUSEADDR and SO_BROADCAST, bound to 0.0.0.0:`port` if given."""
    s = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


def tcp_listener(netns: str, port: int) -> socket.socket:
    s = in_netns(netns, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    s.setblocking(False)
    return s


def accepted(listener: socket.socket) -> list:
    """Addresses of the connections waiting on `listener` (each accepted and closed at once)."""
    out = []
    while True:
        try:
            conn, addr = listener.accept()
        except (BlockingIOError, InterruptedError):
            return out
        conn.close()
        out.append(addr)


def port_of(address: str) -> Optional[int]:
    """The port of a peer.list address ("10.78.0.100:40007"), or None."""
    tail = address.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _requirements_missing() -> Optional[str]:
    if os.geteuid() != 0:
        return "needs root (creates network namespaces, a bridge and veth pairs)"
    if shutil.which("ip") is None:
        return "needs `ip` (Debian package iproute2)"
    probe = f"sld-probe-{os.getpid()}"
    proc = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"cannot create a network namespace here: {proc.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _remove_stale_namespaces() -> None:
    """Deletes namespaces this module left behind in a run whose process is gone (killed with -9)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.strip() else ""
        m = re.fullmatch(r"sld-(?:hub|obs|probe|\d+)-(\d+)", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


class Lan:
    """The hub with its bridge, N_NODES node namespaces and the observer's namespace."""

    def __init__(self, tag: int):
        self.hub = f"sld-hub-{tag}"
        self.node_ns = [f"sld-{i}-{tag}" for i in range(N_NODES)]
        self.node_ip = [f"{SUBNET}.{10 + i}" for i in range(N_NODES)]
        self.obs = f"sld-obs-{tag}"
        self.created: list[str] = []

    def _add(self, ns: str) -> None:
        sh("ip", "netns", "add", ns)
        self.created.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def create(self) -> None:
        self._add(self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, (ns, ip) in enumerate(zip(self.node_ns + [self.obs], self.node_ip + [OBSERVER_IP])):
            self._add(ns)
            sh("ip", "-n", self.hub, "link", "add", f"vh{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", self.hub, "link", "set", f"vh{i}", "master", "br0")
            sh("ip", "-n", self.hub, "link", "set", f"vh{i}", "up")
            sh("ip", "-n", ns, "addr", "add", f"{ip}/{PREFIX}", "brd", "+", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def check(self) -> None:
        """TCP from the first node's namespace to the last one's, and a UDP broadcast from a node's
        namespace that the observer's namespace receives: the wiring works before any node starts."""
        deadline = time.monotonic() + 10
        while True:
            try:
                tcp_rtt_ms(self.node_ns[0], self.node_ip[-1])
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"namespace wiring: {self.node_ns[0]} cannot reach {self.node_ip[-1]}: {e}")
                time.sleep(0.1)
        rx = udp_socket(self.obs, 7499)
        tx = udp_socket(self.node_ns[0])
        try:
            rx.settimeout(0.2)
            deadline = time.monotonic() + 5
            while True:
                tx.sendto(b"sld-probe", (BROADCAST, 7499))
                try:
                    data, (src, _) = rx.recvfrom(64)
                    if data == b"sld-probe" and src == self.node_ip[0]:
                        return
                except TimeoutError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"namespace wiring: a broadcast to {BROADCAST} from {self.node_ns[0]} "
                                         f"does not reach {self.obs}")
        finally:
            rx.close()
            tx.close()

    def destroy(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created.clear()


# ------------------------------------------------------------------------------------------------
# Nodes and the observer
# ------------------------------------------------------------------------------------------------


class LanNode(souknet.Node):
    """A `souk daemon` in a node namespace (RPC on 127.0.0.1 there, through souknet's setns RPC)."""

    def __init__(self, binary: str, root: Path, name: str, netns: str, ip: str, network: str):
        datadir = root / name
        super().__init__(name=name, datadir=str(datadir), cookie=str(datadir / "rpc.cookie"),
                         stdout_log=str(root / f"{name}.stdout.log"), stderr_log=str(root / f"{name}.stderr.log"),
                         netns=netns)
        self.binary = binary
        self.ip = ip
        self.network = network
        self.node_id = souknet.init_datadir(binary, datadir, network, ("--rpc-port", "0"))["node_id"]

    def append_conf(self, line: str) -> None:
        with open(Path(self.datadir) / "souk.conf", "a") as f:
            f.write(line + "\n")

    def start(self, *flags: str, timeout: float = 20.0) -> "LanNode":
        """`ip netns exec NS souk daemon --datadir D --rpc-port 0 FLAGS`: no --connect, no
        --no-discover (unlike souknet.daemon_args); returns once it is ready and answers RPC."""
        self.rpc_port = 0
        self.p2p_port = 0
        cmd = ["ip", "netns", "exec", self.netns, self.binary, "daemon", "--datadir", self.datadir,
               "--rpc-port", "0", "--log-level", LOG_LEVEL, *flags]
        try:
            souknet.spawn_daemon(self, cmd, timeout)
        except souknet.TestnetError:
            souknet.stop_node(self, 5.0)
            raise
        assert self.p2p_port, f"{self.name}'s ready line names no P2P port"
        return self

    def peers(self) -> list:
        return self.rpc("peer.list", timeout=5)["peers"]

    def ready_ids(self) -> set:
        return {p["node_id"] for p in self.peers() if p.get("ready")}

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.stderr_log)
        except FileNotFoundError:
            return 0

    def log_since(self, offset: int) -> list[str]:
        with open(self.stderr_log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()

    def stderr_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(Path(self.stderr_log).read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"


class Observer:
    """A raw UDP socket bound to 0.0.0.0:`port` (SO_REUSEADDR) in the observer's namespace: it
    hears every announcement broadcast on the bridge, and sends the hostile datagrams."""

    def __init__(self, lan: Lan, port: int):
        self.port = port
        self.sock = udp_socket(lan.obs, port)
        self.heard: list[tuple[str, bytes]] = []  # (source IP, datagram), in arrival order

    def collect(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data, (src, _) = self.sock.recvfrom(65535)
            except TimeoutError:
                return
            self.heard.append((src, data))

    def from_ip(self, ip: str) -> list[bytes]:
        return [d for s, d in self.heard if s == ip]

    def wait_from(self, ip: str, timeout: float) -> Optional[bytes]:
        """The first datagram from `ip`, waiting up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.from_ip(ip)
            if got:
                return got[0]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.collect(min(left, 0.1))

    def sources(self) -> set:
        return {s for s, _ in self.heard}

    def close(self) -> None:
        self.sock.close()


def peers_summary(*nodes: LanNode) -> str:
    parts = []
    for n in nodes:
        try:
            rows = [(p.get("node_id") or "?")[:12] + "@" + p.get("address", "?") + (" ready" if p.get("ready") else "")
                    for p in n.peers()]
            parts.append(f"{n.name} ({n.ip}, {n.node_id[:12]}): {rows or 'no peers'}")
        except Exception as e:  # noqa: BLE001  (a summary for a failure message)
            parts.append(f"{n.name}: peer.list failed: {e!r} (alive: {n.alive()})")
    return "; ".join(parts)


def wait_for(predicate: Callable[[], object], timeout: float, what: str, detail: Callable[[], str] = lambda: ""):
    """Polls `predicate` every 0.2 s until it is truthy; fails the test naming `what` at the deadline."""
    try:
        return souknet.wait_until(predicate, timeout, 0.2, what)
    except souknet.WaitTimeout as e:
        message = f"{e}; {detail()}"
    pytest.fail(message)


def stays_alone(nodes: list[LanNode], seconds: float, observer: Optional[Observer] = None) -> None:
    """For `seconds`, no node's peer.list has any row (not even a handshake in progress)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for n in nodes:
            assert n.alive(), f"{n.name} exited; last lines of its log:\n{n.stderr_tail()}"
            rows = n.peers()
            assert not rows, f"{n.name} linked although it must not: {peers_summary(*nodes)}"
        if observer:
            observer.collect(0.25)
        else:
            time.sleep(0.25)


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lan():
    missing = _requirements_missing()
    if missing:
        pytest.skip(f"local discovery test {missing}")
    _remove_stale_namespaces()
    net = Lan(os.getpid())
    try:
        net.create()
        net.check()
        yield net
    finally:
        net.destroy()


@pytest.fixture
def make_node(lan, souk_bin, tmp_path, request):
    """make_node(slot, network) -> an initialised (not started) LanNode in namespace `slot`; every
    node is stopped when the test ends, and its log tail printed when the test failed."""
    made: list[LanNode] = []
    observers: list[Observer] = []

    def make(slot: int, network: str = "main", name: Optional[str] = None) -> LanNode:
        n = LanNode(souk_bin, tmp_path, name or f"n{slot}", lan.node_ns[slot], lan.node_ip[slot], network)
        made.append(n)
        return n

    def observer(port: int) -> Observer:
        observers.append(Observer(lan, port))
        return observers[-1]

    make.observer = observer
    yield make
    for o in observers:
        o.close()
    souknet.stop_nodes(made, grace=5.0)
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for n in made:
            sys.stderr.write(f"\n---- {n.name} ({n.ip}, {n.node_id[:12]}) stderr tail ----\n{n.stderr_tail(40)}\n")


# ------------------------------------------------------------------------------------------------
# 1. Two main nodes with the defaults
# ------------------------------------------------------------------------------------------------


def test_two_main_nodes_find_each_other(make_node):
    """A node already running finds one started after it within 15 s, with no --connect, bootstrap
    or peer line: both peer.list show the other's node id as a ready peer at its 10.78.0.x address.
    The first node listens on the default P2P port (7421), the second on one the OS picks, so the
    dial must use the announced port."""
    a = make_node(0).start()
    b = make_node(1).start("--p2p-port", "0")
    assert a.p2p_port == 7421 and b.p2p_port not in (0, 7421), (a.p2p_port, b.p2p_port)
    t0 = time.monotonic()
    wait_for(lambda: a.node_id in b.ready_ids() and b.node_id in a.ready_ids(), 15,
             "two main nodes to find each other by local discovery", lambda: peers_summary(a, b))
    took = time.monotonic() - t0
    for me, other in ((a, b), (b, a)):
        rows = [p for p in me.peers() if p.get("node_id") == other.node_id]
        assert rows and all(other.ip in r["address"] for r in rows), (
            f"{me.name}'s peer row for {other.name} should name {other.ip}: {rows}")
    assert a.alive() and b.alive()
    print(f"linked {took:.1f} s after the second node was ready")


# ------------------------------------------------------------------------------------------------
# 2. --no-local-discovery and --no-discover next to a default node
# ------------------------------------------------------------------------------------------------


def test_flags_switch_local_discovery_off(make_node):
    """A node with --no-local-discovery and one with --no-discover, then a default node. The
    default node's first announcement (seen by a raw socket on UDP 7422 in the observer's
    namespace) is checked byte for byte: magic, version, `main`, its P2P port (OS-picked), 8 instance
    bytes, 24 bytes in all. In the 5 s after it, none of the three has any peer.list row, and the
    two nodes with discovery off announce nothing."""
    observer = make_node.observer(DISCOVERY_PORT["main"])
    quiet = make_node(0, name="no-local-discovery").start("--no-local-discovery")
    closed = make_node(1, name="no-discover").start("--no-discover")
    loud = make_node(2, name="default").start("--p2p-port", "0")
    data = observer.wait_from(loud.ip, 6)
    assert data is not None, (
        f"no announcement from the default node ({loud.ip}) on UDP {observer.port} within 6 s of its start; "
        f"heard from: {sorted(observer.sources()) or 'nobody'}")
    check_announcement(data, "main", loud.p2p_port, loud.name)
    stays_alone([quiet, closed, loud], 5.0, observer)
    silent = {quiet.ip, closed.ip} & observer.sources()
    assert not silent, f"nodes with local discovery off announced anyway (from {sorted(silent)})"
    assert observer.sources() <= {loud.ip}, f"unexpected announcers: {sorted(observer.sources())}"


# ------------------------------------------------------------------------------------------------
# 3. testnet: off by default, on with `local-discovery = true`
# ------------------------------------------------------------------------------------------------


def test_testnet_needs_local_discovery_in_conf(make_node):
    """Two `testnet` nodes: by default neither announces (nothing on UDP 17422 or 7422) and they
    stay unlinked for 3 s. Restarted with `local-discovery = true` appended to souk.conf, each
    announces `testnet` with port 17421 on UDP 17422 and they find each other within 15 s."""
    on_testnet = make_node.observer(DISCOVERY_PORT["testnet"])
    on_main = make_node.observer(DISCOVERY_PORT["main"])
    t1 = make_node(0, "testnet").start()
    t2 = make_node(1, "testnet").start()
    assert (t1.p2p_port, t2.p2p_port) == (17421, 17421)
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        on_main.collect(0.05)
        stays_alone([t1, t2], 0.2, on_testnet)
    assert not on_testnet.heard and not on_main.heard, (
        f"testnet nodes announced without `local-discovery = true`: from "
        f"{sorted(on_testnet.sources() | on_main.sources())}")

    souknet.stop_nodes([t1, t2], grace=5.0)
    for t in (t1, t2):
        t.append_conf("local-discovery = true")
        t.start()
    wait_for(lambda: t1.node_id in t2.ready_ids() and t2.node_id in t1.ready_ids(), 15,
             "two testnet nodes with local-discovery = true to find each other", lambda: peers_summary(t1, t2))
    for t in (t1, t2):
        data = on_testnet.wait_from(t.ip, 2)
        assert data is not None, f"{t.name} linked, but no announcement from {t.ip} reached UDP 17422"
        check_announcement(data, "testnet", 17421, t.name)
    on_main.collect(0.1)
    assert not on_main.heard, f"testnet nodes sent to UDP 7422 (main's port): {on_main.heard[:3]}"


# ------------------------------------------------------------------------------------------------
# 4. Hostile datagrams
# ------------------------------------------------------------------------------------------------


def test_hostile_datagrams_are_ignored(lan, make_node):
    """Hostile datagrams sent to a running main node's UDP 7422 from the observer's namespace.
    Those that name a port name one where the observer listens on TCP, so any dial shows up there.
    Afterwards the node is alive, answers RPC, has no peer.list row, no connection reached the
    observer, and its log has fewer than 20 new lines at info or above (no per-packet logging at
    info). A valid announcement sent last is dialled within 5 s: the node was listening throughout."""
    observer = make_node.observer(DISCOVERY_PORT["main"])
    node = make_node(0).start()
    data = observer.wait_from(node.ip, 6)
    assert data is not None, f"no announcement from the node ({node.ip}) on UDP 7422 within 6 s of its start"
    own_instance = check_announcement(data, "main", node.p2p_port, node.name)

    # (what, the port it names or None, the datagram); each named port is the observer's own trap.
    inst = os.urandom(8)
    ports = iter(range(40001, 40100))
    cases = [("random garbage", None, os.urandom(40)), ("empty", None, b""), ("magic only", None, MAGIC),
             ("magic and version only", None, MAGIC + b"\x01")]
    for what, make in [
        ("truncated (instance one byte short)", lambda p: announcement("main", p, inst)[:-1]),
        ("truncated (no instance)", lambda p: announcement("main", p, b"")),
        ("trailing byte", lambda p: announcement("main", p, inst) + b"\x00"),
        ("version 2", lambda p: announcement("main", p, inst, version=2)),
        ("version 0", lambda p: announcement("main", p, inst, version=0)),
        ("wrong magic", lambda p: announcement("main", p, inst, magic=b"souk-lam")),
        ("network length 255", lambda p: announcement(b"m" * 255, p, inst)),
        ("network length 201", lambda p: announcement(b"m" * 201, p, inst)),
        ("network length 200, past the end", lambda p: announcement("main", p, inst, length=200)),
        ("network length 0", lambda p: announcement(b"", p, inst)),
        ("network length 3 for `main`", lambda p: announcement("main", p, inst, length=3)),
        ("another network (testnet)", lambda p: announcement("testnet", p, inst)),
        ("another network (Main)", lambda p: announcement("Main", p, inst)),
        ("network name not UTF-8", lambda p: announcement(b"\xff\xfe\xfd\xfc", p, inst)),
        ("the node's own instance id", lambda p: announcement("main", p, own_instance)),
        ("oversized (valid start, 1400 bytes)", lambda p: announcement("main", p, inst) + os.urandom(1376)),
        ("huge (valid start, 60000 bytes)", lambda p: announcement("main", p, inst).ljust(60000, b"\x00")),
    ]:
        port = next(ports)
        cases.append((what, port, make(port)))
    cases.append(("port 0", None, announcement("main", 0, inst)))
    case_of = {port: what for what, port, _ in cases if port}
    control_port = next(ports)
    traps = {p: tcp_listener(lan.obs, p) for p in list(case_of) + [control_port]}
    try:
        target = (node.ip, DISCOVERY_PORT["main"])
        log_offset = node.log_size()
        for _, _, datagram in cases:
            observer.sock.sendto(datagram, target)
            time.sleep(0.01)
        # 1000 more in a burst (10 x 100 back to back, 10 ms apart, at most 5 s in all): the cases in
        # turn, between random garbage, some of it behind the magic and version byte.
        t0 = time.monotonic()
        sent = 0
        while sent < 1000 and time.monotonic() - t0 < 5.0:
            r = sent % 3
            datagram = (cases[sent % len(cases)][2] if r == 0 else
                        os.urandom(sent % 300) if r == 1 else MAGIC + b"\x01" + os.urandom(sent % 240))
            try:
                observer.sock.sendto(datagram, target)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            sent += 1
            if sent % 100 == 0:
                time.sleep(0.01)
        burst_s = time.monotonic() - t0
        assert sent == 1000, f"only {sent} datagrams sent within 5 s"

        time.sleep(1.5)
        assert node.alive(), f"the node died after hostile datagrams; last lines of its log:\n{node.stderr_tail()}"
        info = node.rpc("node.info", timeout=5)
        assert info["node_id"] == node.node_id, f"node.info names {info['node_id']}, expected {node.node_id}"
        rows = node.peers()
        dials = {p: accepted(t) for p, t in traps.items()}
        dialled_cases = sorted({case_of.get(port_of(r["address"]), r["address"]) for r in rows} |
                               {case_of.get(p, str(p)) for p, a in dials.items() if a})
        assert not rows and not any(dials.values()), (
            f"invalid datagrams made the node dial the observer: {dialled_cases}; its peer.list: "
            f"{[(r.get('address'), r.get('direction')) for r in rows]}")
        loud = [line for line in node.log_since(log_offset) if line.split(" ", 2)[1:2] and
                line.split(" ", 2)[1] in INFO_OR_ABOVE]
        assert len(loud) < 20, (
            f"{len(loud)} log lines at info or above for {sent + len(cases)} invalid datagrams "
            f"(per-packet logging?); first ones:\n" + "\n".join(loud[:5]))

        # Positive control: a valid announcement of another instance is still dialled.
        control = announcement("main", control_port, os.urandom(8))
        dialled = []
        deadline = time.monotonic() + 5
        next_send = 0.0
        while not dialled and time.monotonic() < deadline:
            if time.monotonic() >= next_send:
                observer.sock.sendto(control, target)
                next_send = time.monotonic() + 1.0
            time.sleep(0.05)
            dialled = accepted(traps[control_port])
        assert dialled and dialled[0][0] == node.ip, (
            "a valid announcement sent after the hostile ones was not dialled within 5 s "
            f"(accepted: {dialled}); is the node still reading UDP 7422?")
        assert node.alive() and node.rpc("peer.list", timeout=5) is not None
        print(f"1000 datagrams in {burst_s * 1000:.0f} ms, node alive, {len(loud)} info+ log lines")
    finally:
        for s in traps.values():
            s.close()

