#!/usr/bin/env python3
"""A userspace network for testnet namespaces, for kernels without `sch_netem`.

    wire.py --delay MS --loss PCT --stats FILE NS=ADDR/PREFIX [NS=ADDR/PREFIX ...]

Creates a tun device `tun0` in every given network namespace, gives it the address, and then
forwards IPv4 packets between the devices by destination address, like a switch — but every
packet is held for MS milliseconds first (and dropped with probability PCT %). One hop between two
nodes therefore costs one one-way delay, as `tc netem delay MS` on each node's link would; TCP
runs end to end through it, so RTTs, retransmissions and ACK clocking are real.

Prints "wire ready" on stdout once every device is up. SIGTERM/SIGINT stop it (the tun devices
disappear with it). On exit, and every few seconds, writes statistics to FILE (JSON): packets and
bytes forwarded and dropped, and how late packets left compared with their due time (scheduling
lateness — the error of this emulation on a busy machine).
"""

from __future__ import annotations

import ctypes
import fcntl
import heapq
import json
import os
import random
import selectors
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def setns(fd: int) -> None:
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def open_tun_in(ns: str, name: str = "tun0") -> int:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        setns(target)
        try:
            fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        finally:
            setns(own)
    finally:
        os.close(own)
        os.close(target)
    return fd


def ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"wire: `ip {' '.join(args)}` failed: {proc.stderr.strip()}")


def main(argv: list[str]) -> int:
    delay = 0.0
    loss = 0.0
    stats_path = None
    specs = []
    it = iter(argv)
    for a in it:
        if a == "--delay":
            delay = float(next(it)) / 1000.0
        elif a == "--loss":
            loss = float(next(it)) / 100.0
        elif a == "--stats":
            stats_path = next(it)
        else:
            ns, _, cidr = a.partition("=")
            specs.append((ns, cidr))
    # Emulating the wire: packets must leave on time even when the nodes keep every core busy, as
    # they would with netem in the kernel. A real-time (FIFO) priority preempts the nodes as soon
    # as a packet is due; the process sleeps in select() otherwise. Fall back to nice -10.
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
    except (OSError, AttributeError):
        try:
            os.nice(-10)
        except OSError:
            pass

    fds: dict[int, str] = {}
    route: dict[bytes, int] = {}
    for ns, cidr in specs:
        fd = open_tun_in(ns)
        fds[fd] = ns
        route[socket_aton(cidr.split("/")[0])] = fd
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "addr", "add", cidr, "dev", "tun0")
        ip("-n", ns, "link", "set", "tun0", "up")

    sel = selectors.DefaultSelector()
    for fd in fds:
        sel.register(fd, selectors.EVENT_READ)
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    queue: list[tuple[float, int, int, bytes]] = []
    seq = 0
    st = {"delay_ms": delay * 1000, "loss_pct": loss * 100, "forwarded_packets": 0, "forwarded_bytes": 0,
          "dropped_loss": 0, "dropped_unroutable": 0, "dropped_write": 0, "lateness_ms_hist": {}}
    late_hist: dict[int, int] = {}
    rng = random.Random()

    def write_stats():
        if not stats_path:
            return
        st["lateness_ms_hist"] = {str(k): v for k, v in sorted(late_hist.items())}
        tmp = stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(st, f)
        os.replace(tmp, stats_path)

    print("wire ready", flush=True)
    last_stats = time.monotonic()
    while not stop:
        now = time.monotonic()
        timeout = None if not queue else max(0.0, queue[0][0] - now)
        if timeout is None or timeout > 1.0:
            timeout = 1.0
        try:
            events = sel.select(timeout)
        except InterruptedError:
            events = []
        now = time.monotonic()
        for key, _ in events:
            fd = key.fd
            while True:
                try:
                    pkt = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if len(pkt) < 20 or pkt[0] >> 4 != 4:
                    continue  # IPv4 only (IPv6 router solicitations and the like are dropped)
                dst = route.get(pkt[16:20])
                if dst is None:
                    st["dropped_unroutable"] += 1
                    continue
                if loss and rng.random() < loss:
                    st["dropped_loss"] += 1
                    continue
                seq += 1
                heapq.heappush(queue, (now + delay, seq, dst, pkt))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            due, _, dst, pkt = heapq.heappop(queue)
            try:
                os.write(dst, pkt)
                st["forwarded_packets"] += 1
                st["forwarded_bytes"] += len(pkt)
            except OSError:
                st["dropped_write"] += 1
            late = int((now - due) * 1000)
            late_hist[late] = late_hist.get(late, 0) + 1
        if now - last_stats > 2:
            last_stats = now
            write_stats()
    write_stats()
    return 0


def socket_aton(addr: str) -> bytes:
    return bytes(int(x) for x in addr.split("."))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
