"""A data dir this user may not read (another user's, mode 0700): `souk node info --datadir D` and
`souk daemon --datadir D` refuse it in one sentence that says why, and touch nothing in it.

As root (how the suite runs): root makes D with `souk init` and chmod 700 D; the commands run as
user nobody (`setpriv --reuid=65534 --regid=65534 --clear-groups`), from a copy of the binary in a
fresh 0755 directory under /tmp, and every parent directory of that copy and of D is checked to be
traversable by others, so D itself is the only thing out of nobody's reach. Not as root: D is
chmod 000 while the commands run (and 0700 again afterwards), and they run as this user.

Checked for each command:
- exit status 1;
- stderr is exactly one line, starting `Error: `, containing `permission denied` (compared without
  case), D's path, and the name of D's owner (`root` as root) outside that path;
- that line contains none of `NSCocoaErrorDomain` (a raw Foundation error), `no identity` or
  `souk init` (the misleading advice the check replaces: D has an identity);
- D's entries (names, sizes, modes, owners, mtimes) and D's own mode and mtime are unchanged: no
  file was created, removed or written.
`souk init` writes rpc-port = 0 and p2p-port = 0 into D's souk.conf, so a binary that wrongly
started a daemon would not take the default ports; such a daemon is killed after 20 s (it fails
the test).
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

NOBODY = 65534
TIMEOUT = 20.0
AS_ROOT = os.geteuid() == 0


@dataclass
class Unreadable:
    datadir: Path
    binary: Path
    prefix: list  # how to run as the other user ([] when not root)
    owner: str  # D's owner's user name, which the error must name
    env: dict

    def contents(self) -> dict:
        """D's own mode and mtime and, by name, each entry's size, mode, owner and mtime (read with
        D at 0700: as root it is; otherwise D is opened up for the moment it takes)."""
        if not AS_ROOT:
            self.datadir.chmod(0o700)
        try:
            st = self.datadir.stat()
            out = {".": (stat.S_IMODE(st.st_mode), st.st_mtime_ns)}
            with os.scandir(self.datadir) as it:
                for e in it:
                    s = e.stat(follow_symlinks=False)
                    out[e.name] = (s.st_size, s.st_mode, s.st_uid, s.st_mtime_ns)
            return out
        finally:
            if not AS_ROOT:
                self.datadir.chmod(0o000)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = self.prefix + [str(self.binary), *args]
        try:
            return subprocess.run(cmd, cwd="/", env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired as e:  # subprocess.run has killed it
            pytest.fail(f"`{' '.join(cmd)}` did not exit within {TIMEOUT:.0f} s (did it start a daemon on a data dir "
                        f"it cannot read?); stderr so far: {e.stderr!r}")


def traversable_by_others(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXOTH)


@pytest.fixture
def unreadable(souk_bin):
    base = Path(tempfile.mkdtemp(prefix="souk-access-", dir="/tmp" if AS_ROOT else None))
    datadir = base / "data"
    try:
        base.chmod(0o755)
        bindir = base / "bin"
        bindir.mkdir(mode=0o755)
        bindir.chmod(0o755)
        binary = bindir / "souk"
        shutil.copyfile(souk_bin, binary)
        binary.chmod(0o755)
        init = subprocess.run([souk_bin, "init", "--datadir", str(datadir), "--rpc-port", "0", "--p2p-port", "0"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, f"set-up: souk init failed: {init.stderr}"
        assert (datadir / "identity.key").is_file(), "set-up: souk init wrote no identity.key"
        datadir.chmod(0o700)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": os.environ.get("LANG", "C.UTF-8")}
        if AS_ROOT:
            try:
                home = pwd.getpwuid(NOBODY).pw_dir
            except KeyError:
                home = "/nonexistent"
            env["HOME"] = home
            blocked = [str(p) for p in [*bindir.parents, bindir, *datadir.parents] if not traversable_by_others(p)]
            assert not blocked, f"set-up: nobody cannot traverse {blocked}"
            assert binary.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH) == stat.S_IROTH | stat.S_IXOTH
            prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]
            assert shutil.which("setpriv"), "set-up: setpriv (util-linux) is needed to run as nobody"
        else:
            env["HOME"] = os.environ.get("HOME", "/")
            prefix = []
        owner = pwd.getpwuid(datadir.stat().st_uid).pw_name
        u = Unreadable(datadir, binary, prefix, owner, env)
        before = u.contents()
        if not AS_ROOT:
            datadir.chmod(0o000)
        u.before = before
        yield u
    finally:
        if datadir.exists():
            datadir.chmod(0o700)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("args", [("node", "info"), ("daemon",)], ids=["node-info", "daemon"])
def test_unreadable_datadir_is_refused_in_one_sentence(unreadable, args):
    """`souk node info` / `souk daemon` on a data dir owned by root with mode 0700, run as nobody
    (or on a chmod 000 dir when not root): exit 1, one `Error:` line naming the problem, the dir and
    its owner, no misleading advice, nothing written."""
    u = unreadable
    d = str(u.datadir)
    cmd = f"souk {' '.join(args)} --datadir {d}"
    r = u.run(*args, "--datadir", d)
    shown = f"\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}"

    assert r.returncode == 1, f"`{cmd}` as {'nobody' if AS_ROOT else 'this user'}: exit {r.returncode}, expected 1{shown}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"`{cmd}`: stderr should be one `Error: …` line{shown}"
    line = lines[0]
    assert "permission denied" in line.lower(), f"`{cmd}`: the error does not say `permission denied`: {line!r}"
    assert d in line, f"`{cmd}`: the error does not name the data dir {d}: {line!r}"
    assert re.search(rf"\b{re.escape(u.owner)}\b", line.replace(d, "")), (
        f"`{cmd}`: the error does not name the dir's owner {u.owner!r}: {line!r}")
    for misleading in ("NSCocoaErrorDomain", "no identity", "souk init"):
        assert misleading not in line, f"`{cmd}`: the error says {misleading!r}, which is wrong here: {line!r}"
    after = u.contents()
    assert after == u.before, (f"`{cmd}` changed the data dir: before {sorted(u.before)}, after {sorted(after)}; "
                               f"changed: {sorted(k for k in set(after) | set(u.before) if after.get(k) != u.before.get(k))}")
