"""Network namespaces for `testnet/up --netns`: one namespace per node, wired either by veth pairs
to a bridge in a hub namespace (with `tc netem` on the node side of each veth for delay and loss)
or, when the kernel has no sch_netem, by tun devices to testnet/lib/wire.py, a userspace switch
that applies the delay and loss.

Also opens sockets inside a namespace with setns(2), so RPC to a node in a namespace (which stays
on 127.0.0.1 there, DESIGN invariant 8) needs no `ip netns exec` per call.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

from .common import BRIDGE, HUB_NS, RUN_DIR, WIRE_SCRIPT, TestnetError, say, sh, warn
from .process import is_wire, reap

_CLONE_NEWNET = 0x40000000
_libc = None


# ---- sockets inside a namespace --------------------------------------------------------------


def setns(fd: int) -> None:
    """Moves this thread into the network namespace open at `fd`."""
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
            setns(target)
            try:
                return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            finally:
                setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)


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


# ---- checks ----------------------------------------------------------------------------------


def require_root_for_netns() -> None:
    if os.geteuid() != 0:
        raise TestnetError("--netns needs root (it creates network namespaces, veth pairs and tc qdiscs); "
                           "run as root or drop --netns for the loopback testnet")
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise TestnetError(f"--netns needs `{tool}` (Debian package iproute2)")


def netns_address(i: int) -> str:
    return f"10.77.{i // 250}.{i % 250 + 1}"


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


def _refuse_existing_namespaces() -> None:
    existing = subprocess.run(["ip", "netns", "list"], text=True, capture_output=True).stdout
    names = {line.split()[0] for line in existing.splitlines() if line.strip()}
    clash = sorted(x for x in names if x == HUB_NS or re.fullmatch(r"souk-\d+", x))
    if clash:
        raise TestnetError(f"network namespaces {', '.join(clash)} already exist — run testnet/down "
                           f"(or `ip netns del NAME`) first")


def _choose_emulation(emulation: str, shaped: bool) -> str:
    if emulation != "auto":
        return emulation
    emulation = "netem" if not shaped or netem_available() else "wire"
    if emulation == "wire":
        warn("this kernel has no sch_netem (tc qdisc ... netem fails: CONFIG_NET_SCH_NETEM is off); "
             "emulating the links in userspace instead (testnet/lib/wire.py over tun devices)")
    return emulation


# ---- wiring ----------------------------------------------------------------------------------


def _add_namespace(net, ns: str, save: bool = True) -> None:
    sh("ip", "netns", "add", ns)
    net.data["netns"]["namespaces"].append(ns)
    if save:
        net.save()


def _wire_with_userspace_switch(n: int, delay_ms: float, loss_pct: float, net) -> None:
    """A namespace per node and one wire.py process that links their tun devices."""
    for i in range(n):
        _add_namespace(net, f"souk-{i}", save=False)
    net.save()
    stats = RUN_DIR / "wire-stats.json"
    log = open(RUN_DIR / "wire.log", "ab")
    cmd = [sys.executable, str(WIRE_SCRIPT), "--delay", f"{delay_ms:g}", "--loss",
           f"{loss_pct:g}", "--stats", str(stats)] + [f"souk-{i}={netns_address(i)}/16" for i in range(n)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                            start_new_session=True)
    net.data["wire"] = {"pid": proc.pid, "stats": str(stats), "log": str(RUN_DIR / "wire.log")}
    net.save()
    line = proc.stdout.readline().decode(errors="replace")
    if "wire ready" not in line:
        proc.wait(timeout=5)
        raise TestnetError(f"the userspace wire did not start (see {RUN_DIR / 'wire.log'})")


def _netem_args(delay_ms: float, loss_pct: float) -> list[str]:
    args = ["delay", f"{delay_ms:g}ms"] if delay_ms > 0 else []
    if loss_pct > 0:
        args += ["loss", f"{loss_pct:g}%"]
    return args


def _add_veth(i: int, ns: str, netem: list[str]) -> None:
    """Node i's veth pair: `vh<i>` on the hub's bridge, `eth0` with its address in `ns`."""
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


def _wire_with_bridge(n: int, delay_ms: float, loss_pct: float, net) -> None:
    """A hub namespace with bridge br0 and a veth pair per node (netem on the node side)."""
    net.data["netns"].update({"hub": HUB_NS, "bridge": BRIDGE})
    _add_namespace(net, HUB_NS)
    sh("ip", "-n", HUB_NS, "link", "set", "lo", "up")
    sh("ip", "-n", HUB_NS, "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "-n", HUB_NS, "link", "set", BRIDGE, "up")
    netem = _netem_args(delay_ms, loss_pct)
    for i in range(n):
        ns = f"souk-{i}"
        _add_namespace(net, ns)
        _add_veth(i, ns, netem)


def _measure_rtt(n: int, delay_ms: float, how: str, net) -> None:
    """A TCP connection attempt to a closed port proves the wiring: the RST comes back after one
    round trip (2 x the one-way delay), which is recorded as the measured RTT."""
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
    say(f"    namespaces wired ({how}); TCP round trip souk-0 -> "
        f"souk-{n - 1}: {min(rtts):.1f} ms (min of 5), expected {2 * delay_ms:g} ms")
    net.save()


def setup_netns(n: int, delay_ms: float, loss_pct: float, net, emulation: str = "auto") -> None:
    """One namespace per node, linked by veth pairs and a bridge (netem) or by the userspace wire;
    every step is recorded in `net` (nodes.json) as it happens, so teardown_netns can undo it."""
    _refuse_existing_namespaces()
    shaped = delay_ms > 0 or loss_pct > 0
    emulation = _choose_emulation(emulation, shaped)
    net.data["netns"] = {"hub": None, "bridge": None, "namespaces": [], "emulation": emulation}
    net.data["link_emulation"] = emulation if shaped else "none"
    net.save()
    if emulation == "wire":
        _wire_with_userspace_switch(n, delay_ms, loss_pct, net)
    else:
        _wire_with_bridge(n, delay_ms, loss_pct, net)
    if n > 1:
        _measure_rtt(n, delay_ms, emulation if shaped else "veth + bridge", net)


# ---- teardown --------------------------------------------------------------------------------


def _stop_wire(pid) -> None:
    if not pid or not is_wire(pid):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        reap(pid)
        if not is_wire(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)


def teardown_netns(data: dict) -> list[str]:
    """Stops the wire (if any) and deletes the namespaces recorded in `data`; returns those removed."""
    removed = []
    _stop_wire((data.get("wire") or {}).get("pid"))
    info = data.get("netns") or {}
    for ns in reversed(info.get("namespaces", [])):
        proc = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True)
        if proc.returncode == 0:
            removed.append(ns)
        elif "No such file" not in proc.stderr:
            warn(f"ip netns del {ns}: {proc.stderr.strip()}")
    return removed
