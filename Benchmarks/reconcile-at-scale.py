#!/usr/bin/env python3
"""Reconciliation, memory and node.info at a million listings, measured on real `souk daemon`s.

    python3 Benchmarks/reconcile-at-scale.py [--listings 1000000] [--rounds 100] [--bin DIR]

1. `souk-bench --make-store` writes a store of N signed listings through the store's own API.
2. Two testnet daemons start on copies of it (so they hold the same set: in sync), the second
   connected to the first.
3. `--rounds` times: `peer.reconcile` on the first, wait until that round finished (`node.info`
   sync.last_reconciled_at moves), and read both daemons' CPU time (/proc/PID/stat) and resident
   memory (/proc/PID/status VmRSS).
4. `node.info` latency over 200 calls.

Prints the figures the object-model issue asks for: CPU per in-sync round (goal <= 10 ms), resident
memory after the rounds and its drift across them (goal <= 128 MiB, flat), node.info (goal <= 1 ms).
Binaries: release builds in .build/release (built if missing), or --bin DIR holding souk and souk-bench.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "testnet" / "lib"))
from souknet.rpc import call  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Daemon:
    def __init__(self, souk: str, datadir: Path, connect: str | None):
        args = [souk, "daemon", "--datadir", str(datadir), "--rpc-port", "0", "--p2p-port", "0",
                "--p2p-bind", "127.0.0.1", "--log-level", "warning"]
        if connect:
            args += ["--connect", connect]
        self.out = open(datadir / "daemon.out", "w+")
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=open(datadir / "daemon.log", "w"))
        deadline = time.time() + 120
        while time.time() < deadline:
            self.out.seek(0)
            line = self.out.read()
            if "souk daemon ready" in line:
                parts = line.split()
                rpc = parts[parts.index("rpc") + 1]
                self.rpc_port = int(rpc.rsplit(":", 1)[1])
                self.p2p = parts[parts.index("p2p") + 1]
                break
            if self.proc.poll() is not None:
                sys.exit(f"daemon in {datadir} exited: {(datadir / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.2)
        else:
            sys.exit(f"daemon in {datadir} did not become ready")
        self.cookie = (datadir / "rpc.cookie").read_text().strip()

    def rpc(self, method: str, params: dict | None = None):
        return call("127.0.0.1", self.rpc_port, self.cookie, method, params, timeout=60)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def binaries(bin_dir: str | None) -> tuple[str, str]:
    if bin_dir:
        return str(Path(bin_dir) / "souk"), str(Path(bin_dir) / "souk-bench")
    release = REPO / ".build" / "release"
    if not (release / "souk").exists() or not (release / "souk-bench").exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "souk"], cwd=REPO, check=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "souk-bench"], cwd=REPO, check=True)
    return str(release / "souk"), str(release / "souk-bench")


POLLS = 0


def rounds(node: Daemon) -> int:
    global POLLS
    POLLS += 1
    return (node.rpc("node.info").get("sync") or {}).get("reconciliations", 0)


def wait_round(node: Daemon, done: int, timeout: float = 120) -> None:
    """Waits until the node has finished `done` reconciliations."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if rounds(node) >= done:
            return
        time.sleep(0.02)
    sys.exit("a reconciliation round did not finish in time")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listings", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--bin", help="directory with souk and souk-bench (default: release build)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    souk, bench = binaries(args.bin)
    work = Path(tempfile.mkdtemp(prefix="souk-recon-"))
    daemons: list[Daemon] = []
    try:
        store = work / "store.sqlite"
        t0 = time.time()
        subprocess.run([bench, "--listings", str(args.listings), "--make-store", str(store)], check=True)
        print(f"store of {args.listings} listings made in {time.time() - t0:.0f} s ({store.stat().st_size >> 20} MiB)")
        for i in range(2):
            d = work / f"n{i}"
            subprocess.run([souk, "init", "--datadir", str(d), "--network", "testnet", "--json"], check=True,
                           stdout=subprocess.DEVNULL)
            shutil.copy(store, d / "souk.sqlite")
        a = Daemon(souk, work / "n0", None)
        daemons.append(a)
        b = Daemon(souk, work / "n1", a.p2p)
        daemons.append(b)
        deadline = time.time() + 120
        while not a.rpc("peer.list")["peers"] and time.time() < deadline:
            time.sleep(0.1)
        # The first round (on connect) compares the two identical sets; let it finish.
        wait_round(a, 1)
        counts = a.rpc("node.info")["listings"]
        print(f"two daemons in sync, {counts['active']} listings each; RSS {rss_mib(a.proc.pid):.0f} / "
              f"{rss_mib(b.proc.pid):.0f} MiB after start")
        rss_a, rss_b = [], []
        global POLLS
        POLLS = 0
        ca0, cb0 = cpu_seconds(a.proc.pid), cpu_seconds(b.proc.pid)
        for r in range(args.rounds):
            done = rounds(a)
            a.rpc("peer.reconcile")
            wait_round(a, done + 1)
            rss_a.append(rss_mib(a.proc.pid))
            rss_b.append(rss_mib(b.proc.pid))
        cpu_a, cpu_b = cpu_seconds(a.proc.pid) - ca0, cpu_seconds(b.proc.pid) - cb0
        polls = POLLS + args.rounds  # node.info polls and peer.reconcile calls on the initiator
        # What one RPC call costs the initiator, to take the polling out of its figure.
        lat = []
        c0 = cpu_seconds(a.proc.pid)
        for _ in range(400):
            t = time.perf_counter()
            a.rpc("node.info")
            lat.append((time.perf_counter() - t) * 1000)
        per_call = (cpu_seconds(a.proc.pid) - c0) / 400
        lat.sort()
        print(f"in-sync reconciliation round, CPU per round over {args.rounds} rounds: responder "
              f"{cpu_b / args.rounds * 1000:.2f} ms; initiator {max(0.0, cpu_a - polls * per_call) / args.rounds * 1000:.2f} ms "
              f"(its {polls} RPC calls at {per_call * 1000:.2f} ms CPU each taken out)")
        print(f"resident memory after {args.rounds} rounds: {rss_a[-1]:.0f} MiB and {rss_b[-1]:.0f} MiB "
              f"(first round {rss_a[0]:.0f} / {rss_b[0]:.0f}, max {max(rss_a):.0f} / {max(rss_b):.0f})")
        print(f"node.info over HTTP, client round trip with a new connection each: p50 {lat[200]:.2f} ms, "
              f"p99 {lat[396]:.2f} ms")
    finally:
        for d in daemons:
            d.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
