"""Building `souk` for the testnet (own scratch path .build-testnet), or taking a prebuilt binary
from $SOUK_BIN, and naming the source state a run was built from."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time

from .common import REPO_DIR, SCRATCH, TestnetError, say


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True).stdout.strip()


def source_state() -> dict:
    """The commit and any uncommitted changes under Sources/ and Package.swift, to name what was built."""
    diff = _git("diff", "HEAD", "--", "Sources", "Package.swift")
    dirty = [x for x in _git("status", "--porcelain", "--", "Sources", "Package.swift").splitlines() if x.strip()]
    return {"commit": _git("rev-parse", "--short=12", "HEAD"),
            "dirty_files": len(dirty),
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest()[:12] if diff else None}


def build(release: bool) -> str:
    """Builds `souk` once (own scratch path) and returns the binary's path; $SOUK_BIN skips the build."""
    env_bin = os.environ.get("SOUK_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            raise TestnetError(f"SOUK_BIN={env_bin} is not an executable file")
        say(f"==> using SOUK_BIN={env_bin} (no build)")
        return env_bin
    if shutil.which("swift") is None:
        raise TestnetError("the swift toolchain is not on PATH; install Swift 6.1+ from https://www.swift.org/install/")
    config = "release" if release else "debug"
    cmd = ["swift", "build", "-c", config, "--product", "souk", "--scratch-path", str(SCRATCH)]
    say(f"==> building souk ({config}): {' '.join(cmd)}")
    t0 = time.time()
    proc = subprocess.run(cmd, cwd=REPO_DIR, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-40:])
        raise TestnetError(f"swift build failed (exit {proc.returncode}):\n{tail}")
    binary = SCRATCH / config / "souk"
    if not binary.exists():
        raise TestnetError(f"swift build succeeded but {binary} is missing")
    say(f"    built in {time.time() - t0:.0f} s: {binary}")
    return str(binary)
