"""Shared pieces of the souknet package: the run's paths and fixed ports, the error type meant for
the person running a script, printing, and running a command.

Imports nothing else from the package, so every other module may import it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

TESTNET_DIR = Path(__file__).resolve().parents[2]
REPO_DIR = TESTNET_DIR.parent
RUN_DIR = TESTNET_DIR / ".run"
NODES_FILE = RUN_DIR / "nodes.json"
SCRATCH = REPO_DIR / ".build-testnet"
WIRE_SCRIPT = TESTNET_DIR / "lib" / "wire.py"

HUB_NS = "souk-hub"
BRIDGE = "br0"
NETNS_RPC_PORT = 17420
NETNS_P2P_PORT = 17421
READY_RE = re.compile(r"souk daemon ready: node ([0-9a-f]+) rpc ([^ ]+):(\d+)(?: p2p ([^ ]+):(\d+))?")


class TestnetError(Exception):
    """A failure with a message meant for the person running the script."""

    __test__ = False  # not a pytest test class, although its name starts with "Test"


def say(msg: str = "") -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def now_ms() -> float:
    return time.time() * 1000.0


def run(cmd: list[str], check: bool = True, capture: bool = False, **kw) -> subprocess.CompletedProcess:
    """subprocess.run with text I/O; `capture` collects stdout and stderr."""
    return subprocess.run(cmd, check=check, text=True,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, **kw)


def sh(*cmd: str) -> None:
    """Runs a setup command; raises TestnetError with its output when it fails."""
    proc = subprocess.run(list(cmd), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise TestnetError(f"`{' '.join(cmd)}` failed: {proc.stdout.strip()}")
