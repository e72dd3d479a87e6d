"""The README's examples, run as written against a fresh node: the shell commands of README.md's
```sh blocks ("Install and build" (its `souk` line), "Set up and run a node" with "More daemon
options", "Listings", "Search", "Node, peers and raw RPC", "JSON-RPC API") and the three error
lines of "Using the CLI".

Which blocks run. Every fenced ```sh block of README.md has a marker on the line before it:
`<!-- readme-test: NAME -->` (run by this file; NAME is one of BLOCKS) or
`<!-- readme-test: skip (REASON) -->`. Skipped: "Quick start" (it builds souk and runs every test
suite, this file included) and "Testnet" (multi-node testnets, some in network namespaces, covered by
the rest of Tests/Network). Of "Install and build" only the `souk` line runs (the other lines install
packages and build; the test puts the binary on PATH itself, which is what its `export PATH` line is
for). test_readme_blocks_are_marked fails when a ```sh block has no marker, so a new example has to
be run here or skipped with a reason.

How a command is taken from a block: `\\`-newline continuations are joined as bash joins them, a
`#` comment (a `#` outside quotes that starts a word) is dropped, and the rest runs with `bash -c`,
so quotes, `~` and `$(cat ~/.souk/rpc.cookie)` mean what they mean in a terminal.

What is substituted, and nothing else:
- `souk` is the binary under test ($SOUK_BIN, as in conftest.py): a directory holding a `souk`
  symlink to it comes first on PATH, so the text is unchanged;
- `~` is a fresh temporary HOME, with every SOUK_* variable removed from the environment (so the
  default data dir is ~/.souk, as the README assumes);
- the README's example ids, which only a running node can fill in: listing id
  8c4d2b6f0a1e9d3c7b5a4f2e1d0c9b8a is the listing the README's `listing create` line made, except in
  `listing retract`, where it is a second listing made by running that same `listing create` line
  again (so the first one is still there for the Search examples); seller key 9a32914f…89667 is this
  node's id; `<next_cursor from the previous page>` is the next_cursor of
  `souk search bicycle --limit 10 --json` (the cursor line without its `--cursor`).
- Ports are kept as written (7420, 7421, 7500; 7521 for `peer connect`). As root the whole run
  happens in a private network namespace (`unshare --net`, loopback only; every command runs through
  `nsenter --net`), so those ports are free whatever else runs on the machine, `--rpc-bind 0.0.0.0`
  exposes nothing, the dials to 192.0.2.10 and 203.0.113.7 fail at once, and these main-network
  nodes cannot find (or be found by) other main-network nodes by local discovery. Without a
  namespace the test runs on the host when those ports are free and is skipped when one is busy.

Set-up the README leaves to the reader, done by the test: ~/souk-passphrase.txt (for the encrypted
identity); a running daemon on ~/.souk for "Listings" onwards (the README's own
`souk daemon --datadir ~/.souk` line, started again); 11 more listings, "City bicycle no. 1".."11"
(`souk rpc listing.create …`), before "Search", so that `souk search bicycle --limit 10` has a second
page; and a second main-network node (~/.souk-peer, RPC 7520, P2P 7521) for
`souk peer connect 127.0.0.1:7521`.

Daemons. A foreground `souk daemon` line is started in the background and has succeeded when it
prints its ready line and `souk --datadir DIR node info --json` names the node id `souk init` printed
for DIR; a `--detach` line runs as written (exit 0). In "More daemon options" each daemon is stopped
(`souk --datadir DIR stop`) before the next line starts one on the same ports; whatever still runs at
the end is stopped the same way, then killed by pid (SIGKILL) if it has not exited 10 s later.

Every command must exit 0, and these outputs are checked:
- setup: `souk init` prints the node id; the testnet one's --json has network testnet and its
  souk.conf the given ports; the passphrase one writes an encrypted key file; the data dir is 0700
  and identity.key 0600; the daemon's ready line names that node id and 127.0.0.1:7420 and
  it writes rpc.cookie (0600), souk.pid and api; `node info` shows the id; `stop` returns after the
  daemon exited with status 0 and removed rpc.cookie, souk.pid and api;
- daemon options: the encrypted identity unlocks; `--rpc-port 7500` serves there and the CLI finds
  it from --datadir alone (a second daemon on the same dir meanwhile is refused, daemon.lock);
  `--detach` returns, writes ~/.souk/souk.log and the daemon answers; `--rpc-bind 0.0.0.0
  --rpc-allow-remote` binds 0.0.0.0:7420 (and is refused without --rpc-allow-remote);
  `--connect 192.0.2.10:7421 --no-discover` starts with P2P on 7421;
- listings (expected values taken from the README's own lines): create prints the id, title,
  price, location, tags and description it was given; show and show --json (every field the create
  line sets, the expiry, the envelope hex); update makes version 2 with the new price in the same
  currency and the new quantity; retract prints "retracted ID"; mine lists the listing and not the
  retracted one; renew makes version 3, expiring --expires-in-days after the renewal;
- search: `souk search bicycle` finds "Vintage road bicycle" (and not its retracted twin) among
  the 12 active listings, `--max-price 200` keeps it, `--sort price_asc` is in ascending price order
  with it at its updated price, `souk search road bike --country DE --condition good …` finds
  exactly that listing, `--seller` finds all 12, the cursor page continues the first page with no
  overlap and nothing missing;
- node, peers, raw RPC: `node info` (id, main, 12 active, 1 retracted); `peer add`/`remove` edit the
  bootstrap line of souk.conf; `peer connect` names the other node; ban/unban/bans; profile set and
  show ("Ana's bikes"); `rpc node.info`; both `rpc listing.search` forms (named params find the
  listing; the JSON object gives 5 EUR results by ascending price and a next_cursor); `help
  listing.search`;
- JSON-RPC: both curl calls answer JSON-RPC 2.0 results (the node id; the listing at its price,
  every result at most 200.00 EUR);
- test_readme_error_lines: each line of the README's ```text error block, with /home/me as HOME, is
  exactly what the CLI prints (no daemon: exit 3; no identity, wrong passphrase: exit 1).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable, Optional

import pytest

from conftest import REPO

README = REPO / "README.md"

MARKER_RE = re.compile(r"^<!-- readme-test: (\S+)(?: \((.+)\))? -->$")
OPEN_FENCE_RE = re.compile(r"^```(\S*)\s*$")
READY_RE = re.compile(r"souk daemon ready: node ([0-9a-f]{64}) rpc (\S+):(\d+)(?: p2p (\S+):(\d+))?")
ROW_RE = re.compile(r"^([0-9a-f]{32})\s+(\d+\.\d+) ([A-Z]{3})\s", re.M)  # a row of a listing table

# The blocks this file runs (marker names), in README order.
BLOCKS = ("install", "errors", "setup", "daemon-options", "listings", "search", "node-peers", "json-rpc")

# README placeholders that stand for ids a running node makes.
LISTING_PLACEHOLDER = "8c4d2b6f0a1e9d3c7b5a4f2e1d0c9b8a"
SELLER_PLACEHOLDER = "9a32914f4bf63e7543a586d201e0b8d060942dfaf085d48f92c9d44581089667"
CURSOR_PLACEHOLDER = "<next_cursor from the previous page>"

PORTS = (7420, 7421, 7500, 7520, 7521)  # what the README's daemons (and the test's peer) listen on
PASSPHRASE = "correct horse battery staple"
COMMAND_TIMEOUT = 30.0
READY_TIMEOUT = 30.0
STOP_GRACE = 10.0


# ------------------------------------------------------------------------------------------------
# README parsing
# ------------------------------------------------------------------------------------------------


@dataclass
class Block:
    name: str  # the marker's name ("skip" for skipped blocks; "" when unmarked)
    note: str  # the marker's parenthesised text
    lang: str  # the fence's info string (sh, text, …)
    line: int  # README line of the opening fence
    body: list  # the lines between the fences
    first: int  # README line of body[0]

    def commands(self) -> list:
        """(README line, command) for every shell command of the block."""
        return shell_commands(self.body, self.first)


def strip_comment(line: str) -> str:
    """`line` without its shell comment: from a `#` outside quotes that starts a word."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'":
            if c == "'":
                quote = None
        elif c == "\\":
            i += 1  # the next character is escaped
        elif quote == '"':
            if c == '"':
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
        i += 1
    return line.rstrip()


def shell_commands(body: list, first_line: int) -> list:
    """Joins `\\`-newline continuations (removing both, as bash does), drops comments and blank
    lines; returns (README line where the command starts, command text)."""
    out = []
    pending = None
    start = first_line
    for n, raw in enumerate(body, first_line):
        if pending is None:
            pending, start = "", n
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        cmd = strip_comment(pending + raw).strip()
        pending = None
        if cmd:
            out.append((start, cmd))
    assert pending is None, f"README.md line {start}: the block ends inside a `\\` continuation"
    return out


def readme_blocks(text: str) -> list:
    """Every fenced block of the README with the readme-test marker on the line before it."""
    lines = text.split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = OPEN_FENCE_RE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        assert j < len(lines), f"README.md line {i + 1}: code block never closed"
        marker = MARKER_RE.match(lines[i - 1].strip()) if i > 0 else None
        name, note = (marker.group(1), marker.group(2) or "") if marker else ("", "")
        blocks.append(Block(name, note, m.group(1), i + 1, lines[i + 1:j], i + 2))
        i = j + 1
    return blocks


def named_blocks() -> dict:
    return {b.name: b for b in readme_blocks(README.read_text()) if b.name and b.name != "skip"}


def souk_words(argv: list) -> list:
    """The positional words of a `souk` command line (subcommand first), skipping options and the
    values of the global options that take one."""
    words, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
        elif a in ("--datadir", "--rpc-port", "--rpc-host"):
            skip = True
        elif not a.startswith("-"):
            words.append(a)
    return words


def listing_fields(argv: list) -> dict:
    """What a `souk listing create` line asks for (the options the README's line uses)."""
    f = {k: option(argv, f"--{k}") for k in ("title", "description", "price", "currency", "category", "location",
                                                "country", "condition")}
    f["tags"] = [b for a, b in zip(argv, argv[1:]) if a == "--tag"]
    f["days"] = int(option(argv, "--expires-in-days") or 30)
    return f


def option(argv: list, name: str) -> Optional[str]:
    """The value of `name` in argv (`--name VALUE`), or None."""
    for a, b in zip(argv, argv[1:]):
        if a == name:
            return b
    return None


# ------------------------------------------------------------------------------------------------
# Running commands: bash -c, a temporary HOME, souk on PATH, the test's network namespace
# ------------------------------------------------------------------------------------------------


@dataclass
class Result:
    cmd: str
    where: str
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError:
            pytest.fail(f"{self.where}: `{self.cmd}` printed no JSON:\n{self.stdout[:2000]}")

    def table(self) -> list:
        """(listing id, price, currency) of each row of a listing table."""
        return [(i, p, c) for i, p, c in ROW_RE.findall(self.stdout)]

    def ids(self) -> list:
        return [row[0] for row in self.table()]


@dataclass
class Daemon:
    datadir: Path
    pid: int
    where: str
    proc: Optional[subprocess.Popen] = None  # foreground daemons are our children; detached ones are not
    ready: Optional[re.Match] = None
    stderr_path: Optional[Path] = None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return daemon_pid_running(self.pid, self.datadir)


def daemon_pid_running(pid: int, datadir: Path) -> bool:
    """Is `pid` a live (not zombie) `souk daemon` of `datadir`? Guards against a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and "daemon" in args and str(datadir) in args


class Shell:
    """Runs README commands: `bash -c TEXT` in HOME with `souk` first on PATH, inside the test's
    network namespace when it has one; starts and stops daemons."""

    def __init__(self, binary: str, root: Path, netns_pid: Optional[int]):
        self.home = root / "home"
        self.home.mkdir()
        bindir = root / "bin"
        bindir.mkdir()
        (bindir / "souk").symlink_to(os.path.abspath(binary))
        self.logs = root / "logs"
        self.logs.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOUK_") and k != "BASH_ENV"}
        env["HOME"] = str(self.home)
        env["PATH"] = f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        self.env = env
        self.prefix = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", "--"] if netns_pid else []
        self.daemons: list[Daemon] = []
        self.counter = itertools.count()

    def path(self, text: str) -> Path:
        """A path as the shell reads it (`~/x` is HOME/x)."""
        return self.home / text[2:] if text.startswith("~/") else Path(text)

    def _reap(self) -> None:
        # `souk stop` waits until the daemon's pid is gone, and a child we have not reaped is a
        # zombie that kill(pid, 0) still finds: reap our foreground daemons while commands run.
        for d in self.daemons:
            if d.proc is not None:
                d.proc.poll()

    def run(self, cmd: str, where: str, expect: int = 0, timeout: float = COMMAND_TIMEOUT) -> Result:
        """Runs `cmd`; fails the test unless it exits with `expect` within `timeout` seconds."""
        n = next(self.counter)
        out_path, err_path = self.logs / f"cmd{n}.stdout", self.logs / f"cmd{n}.stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(self.prefix + ["bash", "-c", cmd], cwd=self.home, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                self._reap()
                if time.monotonic() > deadline:
                    proc.kill()
                    proc.wait()
                    pytest.fail(f"{where}: `{cmd}` did not finish within {timeout:.0f} s")
                time.sleep(0.01)
        r = Result(cmd, where, proc.returncode, out_path.read_text(errors="replace"),
                   err_path.read_text(errors="replace"))
        assert r.returncode == expect, (
            f"{where}: `{cmd}` exited with status {r.returncode}, expected {expect}\n"
            f"--- stdout ---\n{r.stdout[-3000:]}\n--- stderr ---\n{r.stderr[-3000:]}")
        return r

    def start_daemon(self, cmd: str, where: str) -> Daemon:
        """A foreground `souk daemon` line, started in the background; returns once it printed its
        ready line (fails the test if it exits first or is not ready within READY_TIMEOUT)."""
        argv = shlex.split(cmd)
        datadir = self.path(option(argv, "--datadir") or "~/.souk")
        n = next(self.counter)
        out_path, err_path = self.logs / f"daemon{n}.stdout", self.logs / f"daemon{n}.stderr"
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(self.prefix + ["bash", "-c", "exec " + cmd], cwd=self.home, env=self.env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        d = Daemon(datadir, proc.pid, where, proc=proc, stderr_path=err_path)
        self.daemons.append(d)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            m = READY_RE.search(out_path.read_text(errors="replace"))
            if m:
                d.ready = m
                return d
            if proc.poll() is not None:
                pytest.fail(f"{where}: `{cmd}` exited with status {proc.returncode} before it was ready\n"
                            f"--- stderr (tail) ---\n{tail(err_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"{where}: `{cmd}` printed no ready line within {READY_TIMEOUT:.0f} s\n"
                            f"--- stderr (tail) ---\n{tail(err_path)}")
            time.sleep(0.05)

    def detached(self, result: Result, datadir: Path) -> Daemon:
        """Records the daemon a `souk daemon --detach` line started (its pid from the line it printed)."""
        m = re.search(r"started in the background: pid (\d+)", result.stdout)
        assert m, f"{result.where}: `{result.cmd}` did not say it started the daemon: {result.stdout!r}"
        d = Daemon(datadir, int(m.group(1)), result.where)
        self.daemons.append(d)
        return d

    def wait_gone(self, d: Daemon, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not d.alive():
                return True
            time.sleep(0.05)
        return not d.alive()

    def stop(self, d: Daemon, where: str, check: bool = True) -> None:
        """`souk --datadir DIR stop`; SIGKILL by pid if the daemon still runs STOP_GRACE s later. With
        `check`, fails the test when the stop command fails or the daemon had to be killed."""
        if not d.alive():
            return
        cmd = f"souk --datadir {shlex.quote(str(d.datadir))} stop"
        try:
            self.run(cmd, where, timeout=STOP_GRACE + 5)
            stopped = self.wait_gone(d, STOP_GRACE)
        except BaseException:
            if check:
                self.kill(d)
                raise
            stopped = self.wait_gone(d, STOP_GRACE)
        if not stopped:
            self.kill(d)
            if check:
                pytest.fail(f"{where}: the daemon of {d.datadir} (pid {d.pid}) was still running "
                            f"{STOP_GRACE:.0f} s after `{cmd}`; killed it")

    def kill(self, d: Daemon) -> None:
        if d.proc is not None:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(5)
        elif daemon_pid_running(d.pid, d.datadir):
            os.kill(d.pid, signal.SIGKILL)
            self.wait_gone(d, 5)

    def stop_all(self) -> None:
        for d in self.daemons:
            if d.alive():
                try:
                    self.stop(d, "teardown", check=False)
                except BaseException:
                    pass
                self.kill(d)


def tail(path: Path, n: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def port_free(port: int) -> bool:
    for host in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


@pytest.fixture
def netns():
    """The pid of a process holding a private network namespace with loopback up, or None when
    this process cannot make one (not root, no unshare/nsenter/ip, or namespaces not allowed)."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter", "ip")):
        yield None
        return
    holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "600"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 5
        ready = False
        while holder.poll() is None and time.monotonic() < deadline:
            try:
                if os.readlink(f"/proc/{holder.pid}/ns/net") != own:
                    ready = True
                    break
            except OSError:
                pass
            time.sleep(0.02)
        if ready:
            up = subprocess.run(["nsenter", f"--net=/proc/{holder.pid}/ns/net", "--", "ip", "link", "set", "lo", "up"],
                                stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            ready = up.returncode == 0
        yield holder.pid if ready else None
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(5)


@pytest.fixture
def shell(souk_bin, tmp_path, netns):
    if netns is None:
        busy = [p for p in PORTS if not port_free(p)]
        if busy:
            pytest.skip(f"no private network namespace (needs root) and the README's ports {busy} are busy here")
    sh = Shell(souk_bin, tmp_path, netns)
    yield sh
    sh.stop_all()


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


@dataclass
class Check:
    pattern: str  # re.search against the README's command text
    fn: Callable
    used: int = 0


@dataclass
class Readme:
    """State of one run through the README: node ids by data dir, the listings it made, the node
    the later sections talk to."""

    sh: Shell
    ids: dict = field(default_factory=dict)  # data dir -> node id (what `souk init` printed)
    listing: str = ""  # the README's "Vintage road bicycle"
    fields: dict = field(default_factory=dict)  # what its `listing create` line asked for
    price: str = ""  # its price now (after `listing update`)
    twin: str = ""  # the same `listing create` line run again: the one `listing retract` retracts
    node: Optional[Daemon] = None  # the daemon on ~/.souk the sections after "Set up" use
    last: Optional[Daemon] = None  # the daemon the latest daemon line started
    peer_id: str = ""

    @property
    def main_id(self) -> str:
        return self.ids[self.sh.home / ".souk"]

    # ---- one block ----

    def run_block(self, block: Block, checks: list, substitute=lambda argv, text: text,
                  stop_each_daemon: bool = False, only_souk: bool = False) -> None:
        """Runs every command of `block` in order: daemon lines as daemons, the rest must exit 0;
        then the checks whose pattern matches the command's README text. Every check must match
        exactly one command of the block."""
        commands = block.commands()
        assert commands, f"README.md line {block.line}: block {block.name!r} has no command"
        for line, text in commands:
            argv = shlex.split(text)
            where = f"README.md line {line} (`{text if len(text) <= 70 else text[:67] + '...'}`)"
            if only_souk and argv[0] != "souk":
                continue
            cmd = substitute(argv, text)
            words = souk_words(argv) if argv[0] == "souk" else []
            if words[:1] == ["daemon"]:
                datadir = self.sh.path(option(argv, "--datadir") or "~/.souk")
                if "--detach" in argv:
                    result = self.sh.run(cmd, where)
                    self.last = self.sh.detached(result, datadir)
                else:
                    result = None
                    self.last = self.sh.start_daemon(cmd, where)
                self.check_serves(self.last, where, cmd)
            else:
                result = self.sh.run(cmd, where)
            for c in checks:
                if re.search(c.pattern, text):
                    c.used += 1
                    c.fn(result, where)
            if stop_each_daemon and words[:1] == ["daemon"]:
                self.sh.stop(self.last, f"{where} (stopping its daemon)")
        unused = [c.pattern for c in checks if c.used != 1]
        assert not unused, (f"README block {block.name!r} (line {block.line}): these checks did not match exactly "
                            f"one command — has the README changed? {unused}")

    def check_serves(self, d: Daemon, where: str, cmd: str) -> None:
        """The daemon a README line started answers `souk --datadir DIR node info` with the id
        `souk init` printed for DIR."""
        info = self.sh.run(f"souk --datadir {shlex.quote(str(d.datadir))} node info --json",
                           f"{where} (node info of the daemon `{cmd}` started)").json()
        want = self.ids.get(d.datadir)
        assert info["node_id"] == want, f"{where}: the daemon serves node {info['node_id']}, init printed {want}"
        if d.ready is not None:
            assert d.ready.group(1) == want, f"{where}: ready line {d.ready.group(0)!r} names another node"

    # ---- Install and build ----

    def install(self, block: Block) -> None:
        def version(r, where):
            # The release, then (binaries built from a git checkout) the commit: `0.1.0 (commit b4cced24dd2b)`.
            assert re.fullmatch(r"\d+\.\d+\.\d+\S*( \(commit [0-9a-f]{7,40}(-dirty)?\))?", r.stdout.strip()), (
                f"{where}: `souk --version` printed {r.stdout!r}")

        self.run_block(block, [Check(r"^souk --version$", version)], only_souk=True)

    # ---- Set up and run a node ----

    def setup(self, block: Block) -> None:
        sh = self.sh
        passphrase = sh.home / "souk-passphrase.txt"
        passphrase.write_text(PASSPHRASE + "\n")
        passphrase.chmod(0o600)

        def init_plain(r, where):
            node_id = r.stdout.strip()
            assert re.fullmatch(r"[0-9a-f]{64}", node_id), f"{where}: `souk init` should print the node id, printed {r.stdout!r}"
            d = sh.home / ".souk"
            self.ids[d] = node_id
            assert (d / "identity.key").stat().st_mode & 0o777 == 0o600, f"{where}: identity.key is not mode 0600"
            assert d.stat().st_mode & 0o777 == 0o700, f"{where}: the data dir is not mode 0700"
            assert (d / "souk.conf").is_file(), f"{where}: no souk.conf written"
            assert "unencrypted" in r.stderr, f"{where}: expected an unencrypted identity: {r.stderr!r}"

        def init_testnet(r, where):
            j = r.json()
            d = sh.home / ".souk-test"
            assert j["network"] == "testnet" and j["encrypted"] is False, f"{where}: {j}"
            assert j["datadir"] == str(d) and re.fullmatch(r"[0-9a-f]{64}", j["node_id"]), f"{where}: {j}"
            self.ids[d] = j["node_id"]
            conf = (d / "souk.conf").read_text()
            for line in ("network = testnet", "rpc-port = 17420", "p2p-port = 17421"):
                assert line in conf.splitlines(), f"{where}: souk.conf lacks {line!r}:\n{conf}"

        def init_encrypted(r, where):
            d = sh.home / ".souk-safe"
            self.ids[d] = r.stdout.strip()
            key = json.loads((d / "identity.key").read_text())
            assert key.get("encryption"), f"{where}: identity.key is not encrypted: {sorted(key)}"
            assert PASSPHRASE not in (d / "identity.key").read_text()

        def daemon(r, where):
            d = self.last
            self.node = d
            assert d.ready.group(2, 3) == ("127.0.0.1", "7420"), f"{where}: ready line {d.ready.group(0)!r}"
            assert d.ready.group(5) == "7421", f"{where}: P2P should listen on 7421: {d.ready.group(0)!r}"
            datadir = d.datadir
            assert (datadir / "rpc.cookie").stat().st_mode & 0o777 == 0o600, f"{where}: rpc.cookie is not mode 0600"
            assert (datadir / "souk.pid").read_text().strip() == str(d.pid), f"{where}: souk.pid is not the daemon's pid"
            api = (datadir / "api").read_text().splitlines()
            assert "rpc 127.0.0.1:7420" in api and f"pid {d.pid}" in api, f"{where}: api file {api}"

        def node_info(r, where):
            assert self.main_id in r.stdout, f"{where}: `node info` does not show the node id:\n{r.stdout}"
            assert re.search(r"^network:\s+main$", r.stdout, re.M), f"{where}: network is not main:\n{r.stdout}"
            assert "127.0.0.1:7420" in r.stdout, f"{where}: rpc address missing:\n{r.stdout}"

        def stop(r, where):
            d = self.node
            assert "stopped" in r.stdout, f"{where}: {r.stdout!r}"
            assert sh.wait_gone(d, 2), f"{where}: `souk stop` returned but the daemon (pid {d.pid}) still runs"
            assert d.proc.returncode == 0, f"{where}: the daemon exited with status {d.proc.returncode}"
            left = [f for f in ("rpc.cookie", "souk.pid", "api") if (d.datadir / f).exists()]
            assert not left, f"{where}: the stopped daemon left {left} behind"
            self.node = None

        self.run_block(block, [
            Check(r"^souk init --datadir ~/\.souk$", init_plain),
            Check(r"^souk init .*--network testnet", init_testnet),
            Check(r"^souk init .*--passphrase-file", init_encrypted),
            Check(r"^souk daemon --datadir ~/\.souk$", daemon),
            Check(r"^souk .*\bnode info$", node_info),
            Check(r"^souk .*\bstop$", stop),
        ])

    def daemon_line(self, block: Block) -> str:
        """The setup block's plain `souk daemon --datadir ~/.souk` line (the node later sections use)."""
        lines = [t for _, t in block.commands() if t == "souk daemon --datadir ~/.souk"]
        assert len(lines) == 1, f"README.md line {block.line}: expected one `souk daemon --datadir ~/.souk` line"
        return lines[0]

    # ---- More daemon options ----

    def daemon_options(self, block: Block) -> None:
        sh = self.sh

        def encrypted(r, where):
            info = sh.run("souk --datadir ~/.souk-safe node info --json", where).json()
            assert info["identity_encrypted"] is True, f"{where}: node.info says the identity is not encrypted"

        def rpc_7500(r, where):
            d = self.last
            assert d.ready.group(3) == "7500", f"{where}: ready line {d.ready.group(0)!r}"
            info = sh.run("souk --datadir ~/.souk node info --json", where).json()  # no --rpc-port: from `api`
            assert info["rpc"]["port"] == 7500, f"{where}: the CLI did not find the daemon on 7500: {info['rpc']}"
            # "A second daemon on the same data dir is refused (daemon.lock)."
            second = sh.run("souk daemon --datadir ~/.souk --rpc-port 0 --p2p-port 0", where, expect=1)
            assert second.stderr.startswith("Error: ") and str(d.datadir) in second.stderr, (
                f"{where}: a second daemon on the same data dir: {second.stderr!r}")

        def detach(r, where):
            assert "started in the background" in r.stdout, f"{where}: {r.stdout!r}"
            log = sh.home / ".souk" / "souk.log"
            assert log.is_file() and log.stat().st_size > 0, f"{where}: the detached daemon wrote no {log}"

        def remote(r, where):
            d = self.last
            assert d.ready.group(2, 3) == ("0.0.0.0", "7420"), f"{where}: ready line {d.ready.group(0)!r}"
            sh.stop(d, f"{where} (stopping its daemon)")
            refused = sh.run("souk daemon --datadir ~/.souk --rpc-bind 0.0.0.0", f"{where} without --rpc-allow-remote",
                             expect=1)
            assert "--rpc-allow-remote" in refused.stderr, f"{where}: refusal does not name the flag: {refused.stderr!r}"

        def connect(r, where):
            assert self.last.ready.group(5) == "7421", f"{where}: ready line {self.last.ready.group(0)!r}"

        self.run_block(block, [
            Check(r"--datadir ~/\.souk-safe --passphrase-file", encrypted),
            Check(r"--rpc-port 7500", rpc_7500),
            Check(r"--detach", detach),
            Check(r"--rpc-bind 0\.0\.0\.0 --rpc-allow-remote", remote),
            Check(r"--connect 192\.0\.2\.10:7421", connect),
        ], stop_each_daemon=True)

    # ---- Listings ----

    def listings(self, block: Block) -> None:
        sh = self.sh

        def substitute(argv, text):
            target = self.twin if souk_words(argv)[:2] == ["listing", "retract"] else self.listing
            return text.replace(LISTING_PLACEHOLDER, target)

        def created(r, where):
            m = re.search(r"^id:\s+([0-9a-f]{32})$", r.stdout, re.M)
            assert m, f"{where}: `listing create` printed no listing id:\n{r.stdout}"
            self.listing = m.group(1)
            f = self.fields = listing_fields(shlex.split(r.cmd))
            self.price = f["price"]
            for want in (f["title"], f"{f['price']} {f['currency']}", f"{f['location']} ({f['country']})",
                         ", ".join(f["tags"]), f["description"]):
                assert want in r.stdout, f"{where}: `listing create` output lacks {want!r}:\n{r.stdout}"
            assert re.search(r"^version:\s+1\s+status: active$", r.stdout, re.M), f"{where}: not version 1, active:\n{r.stdout}"
            # The listing `listing retract` will retract: the same README line once more.
            again = sh.run(r.cmd, f"{where} (run again: the listing `listing retract` retracts)")
            self.twin = re.search(r"^id:\s+([0-9a-f]{32})$", again.stdout, re.M).group(1)
            assert self.twin != self.listing, f"{where}: two creates gave one listing id"

        def show(r, where):
            f = self.fields
            assert re.search(rf"^id:\s+{self.listing}$", r.stdout, re.M), f"{where}: not listing {self.listing}:\n{r.stdout}"
            assert f["title"] in r.stdout and f"{f['price']} {f['currency']}" in r.stdout, (
                f"{where}: title or price of the create line missing:\n{r.stdout}")

        def show_json(r, where):
            j = r.json()
            f = self.fields
            want = {k: f[k] for k in ("title", "description", "price", "currency", "category", "location", "country",
                                      "condition", "tags")}
            want.update(listing_id=self.listing, quantity=1, version=1, status="active", seller=self.main_id,
                        price_minor=int(Decimal(f["price"]) * 100))  # EUR: 2 decimals
            got = {k: j.get(k) for k in want}
            assert got == want, f"{where}: the listing JSON differs from the create line:\n  got  {got}\n  want {want}"
            assert j["expires_at"] - j["updated_at"] == f["days"] * 86400, f"{where}: --expires-in-days not honoured: {j}"
            assert re.fullmatch(r"[0-9a-f]+", j.get("envelope", "")) and len(j["object_id"]) == 64, (
                f"{where}: no envelope hex or object id: {j}")

        def update(r, where):
            argv = shlex.split(r.cmd)
            self.price, quantity = option(argv, "--price"), option(argv, "--quantity")
            assert re.search(r"^version:\s+2\s", r.stdout, re.M), f"{where}: `listing update` did not make version 2:\n{r.stdout}"
            assert f"{self.price} {self.fields['currency']}" in r.stdout, (
                f"{where}: the new price should keep the currency: {self.price} {self.fields['currency']}:\n{r.stdout}")
            assert re.search(rf"quantity:\s+{quantity}$", r.stdout, re.M), f"{where}: quantity is not {quantity}:\n{r.stdout}"

        def retract(r, where):
            assert r.stdout.strip() == f"retracted {self.twin}", f"{where}: {r.stdout!r}"

        def mine(r, where):
            ids = r.ids()
            assert self.listing in ids and self.twin not in ids, (
                f"{where}: `listing mine` should list {self.listing} and not the retracted {self.twin}:\n{r.stdout}")

        def renew(r, where):
            days = int(option(shlex.split(r.cmd), "--expires-in-days"))
            assert re.search(r"^version:\s+3\s", r.stdout, re.M), f"{where}: `listing renew` did not make version 3:\n{r.stdout}"
            j = sh.run(f"souk listing show {self.listing} --json", where).json()
            assert j["version"] == 3 and j["expires_at"] - j["updated_at"] == days * 86400, (
                f"{where}: the renewed listing should expire {days} days after its update: {j}")

        self.run_block(block, [
            Check(r"^souk listing create ", created),
            Check(rf"^souk listing show {LISTING_PLACEHOLDER}$", show),
            Check(rf"^souk listing show {LISTING_PLACEHOLDER} --json$", show_json),
            Check(r"^souk listing update ", update),
            Check(r"^souk listing retract ", retract),
            Check(r"^souk listing mine$", mine),
            Check(r"^souk listing renew ", renew),
        ], substitute=substitute)

    # ---- Search ----

    def search(self, block: Block) -> None:
        sh = self.sh
        for i in range(1, 12):
            sh.run(f'souk rpc listing.create title="City bicycle no. {i}" price={10 + i}.00 currency=EUR category=bikes',
                   "set-up (more listings, so that `souk search bicycle --limit 10` has a second page)")
        active = {self.listing} | {l["listing_id"] for l in
                                   sh.run("souk listing mine --json", "set-up").json()["listings"]} - {self.twin}
        assert len(active) == 12, f"set-up: expected 12 active listings, have {len(active)}"
        first_page = {}

        def substitute(argv, text):
            text = text.replace(SELLER_PLACEHOLDER, self.main_id)
            if CURSOR_PLACEHOLDER in text:
                previous = re.sub(r"\s*--cursor\s+" + re.escape(CURSOR_PLACEHOLDER), "", text)
                page = sh.run(previous + " --json", f"the page before `{text}`").json()
                assert page["next_cursor"], f"`{previous}` has no next page: {page}"
                first_page["ids"] = [l["listing_id"] for l in page["results"]]
                text = text.replace(CURSOR_PLACEHOLDER, shlex.quote(page["next_cursor"]))
            return text

        def bicycle(r, where):
            assert set(r.ids()) == active, (
                f"{where}: `souk search bicycle` should find the 12 active listings, the README's "
                f"{self.listing} among them and not the retracted {self.twin}:\n{r.stdout}")
            assert self.fields["title"] in r.stdout, f"{where}: {self.fields['title']!r} not shown:\n{r.stdout}"

        def max_price(r, where):
            assert set(r.ids()) == active and all(float(p) <= 200 for _, p, _ in r.table()), f"{where}:\n{r.stdout}"

        def price_asc(r, where):
            rows = r.table()
            prices = [float(p) for _, p, _ in rows]
            assert set(r.ids()) == active and prices == sorted(prices), f"{where}: not sorted by price:\n{r.stdout}"
            assert (self.listing, self.price, self.fields["currency"]) in rows, (
                f"{where}: {self.listing} should be listed at {self.price} {self.fields['currency']}:\n{r.stdout}")

        def road_bike(r, where):
            assert r.ids() == [self.listing], f"{where}: `search road bike …` should find exactly {self.listing}:\n{r.stdout}"
            assert self.fields["title"] in r.stdout and self.fields["location"] in r.stdout, f"{where}:\n{r.stdout}"

        def seller(r, where):
            assert set(r.ids()) == active, f"{where}: --seller {self.main_id} should find all its listings:\n{r.stdout}"

        def cursor(r, where):
            first, second = first_page["ids"], r.ids()
            assert len(first) == 10 and second, f"{where}: pages {first} / {second}"
            assert not set(first) & set(second), f"{where}: the second page repeats {set(first) & set(second)}"
            assert set(first) | set(second) == active, f"{where}: the two pages miss {active - set(first) - set(second)}"
            assert "more: --cursor" not in r.stdout, f"{where}: the last page should not offer more:\n{r.stdout}"

        self.run_block(block, [
            Check(r"^souk search bicycle$", bicycle),
            Check(r"--max-price 200 --currency EUR", max_price),
            Check(r"--sort price_asc", price_asc),
            Check(r"^souk search road bike ", road_bike),
            Check(r"--seller ", seller),
            Check(r"--cursor ", cursor),
        ], substitute=substitute)

    # ---- Node, peers and raw RPC ----

    def node_peers(self, block: Block) -> None:
        sh = self.sh
        conf = sh.home / ".souk" / "souk.conf"

        def node_info(r, where):
            assert self.main_id in r.stdout and re.search(r"^network:\s+main$", r.stdout, re.M), f"{where}:\n{r.stdout}"
            assert re.search(r"^listings:\s+12 active, 1 retracted$", r.stdout, re.M), f"{where}:\n{r.stdout}"

        def peer_add(r, where):
            assert "bootstrap = 203.0.113.7:7421" in conf.read_text().splitlines(), (
                f"{where}: souk.conf has no bootstrap line:\n{conf.read_text()}")

        def peer_remove(r, where):
            assert "203.0.113.7:7421" not in conf.read_text(), f"{where}: still in souk.conf:\n{conf.read_text()}"

        def peer_connect(r, where):
            assert self.peer_id in r.stdout, f"{where}: should name the node on 7521 ({self.peer_id}): {r.stdout!r}"

        def peer_disconnect(r, where):
            assert "disconnected" in r.stdout, f"{where}: {r.stdout!r}"

        def ban(r, where):
            assert "203.0.113.7" in r.stdout, f"{where}: {r.stdout!r}"

        def bans(r, where):
            assert "203.0.113.7" not in r.stdout, f"{where}: still banned after unban:\n{r.stdout}"

        def profile(r, where):
            for want in ("Ana's bikes", "203.0.113.7:7421", self.main_id):
                assert want in r.stdout, f"{where}: profile lacks {want!r}:\n{r.stdout}"
            assert re.search(r"^languages:\s+en$", r.stdout, re.M), f"{where}:\n{r.stdout}"

        def rpc_info(r, where):
            j = r.json()
            assert j["node_id"] == self.main_id and j["network"] == "main", f"{where}: {j}"

        def rpc_named(r, where):
            j = r.json()
            assert [l["listing_id"] for l in j["results"]] == [self.listing], f"{where}: {j['results']}"

        def rpc_object(r, where):
            j = r.json()
            minors = [l["price_minor"] for l in j["results"]]
            assert len(minors) == 5 and minors == sorted(minors), f"{where}: 5 results by ascending price: {minors}"
            assert {l["currency"] for l in j["results"]} == {"EUR"} and j["next_cursor"], f"{where}: {j}"

        def help_search(r, where):
            assert "listing.search" in r.stdout and "cursor" in r.stdout, f"{where}:\n{r.stdout}"

        self.run_block(block, [
            Check(r"^souk node info$", node_info),
            Check(r"^souk peer add ", peer_add),
            Check(r"^souk peer remove ", peer_remove),
            Check(r"^souk peer connect 127\.0\.0\.1:7521$", peer_connect),
            Check(r"^souk peer disconnect ", peer_disconnect),
            Check(r"^souk peer ban ", ban),
            Check(r"^souk peer unban ", ban),
            Check(r"^souk peer bans$", bans),
            Check(r"^souk profile set ", profile),
            Check(r"^souk profile show", profile),
            Check(r"^souk rpc node\.info$", rpc_info),
            Check(r"^souk rpc listing\.search query=", rpc_named),
            Check(r"^souk rpc listing\.search '\{", rpc_object),
            Check(r"^souk help listing\.search$", help_search),
        ])

    # ---- JSON-RPC API ----

    def json_rpc(self, block: Block) -> None:
        def result(r, where):
            reply = r.json()
            assert reply.get("jsonrpc") == "2.0" and "result" in reply, f"{where}: {reply}"
            return reply["result"]

        def info(r, where):
            assert result(r, where)["node_id"] == self.main_id

        def search(r, where):
            found = {l["listing_id"]: l for l in result(r, where)["results"]}
            assert self.listing in found and found[self.listing]["price"] == self.price, (
                f"{where}: {self.listing} at {self.price} not among the results: {sorted(found)}")
            assert all(Decimal(l["price"]) <= Decimal("200.00") and l["currency"] == "EUR" for l in found.values()), (
                f"{where}: max_price 200.00 EUR not applied: {[(l['price'], l['currency']) for l in found.values()]}")

        self.run_block(block, [
            Check(r'"method":"node\.info"', info),
            Check(r'"method":"listing\.search"', search),
        ])


def test_readme_blocks_are_marked():
    """Every ```sh block of README.md is marked to run here or skipped with a reason; each block
    name this file runs is marked exactly once; the placeholders the test fills in are still there."""
    blocks = readme_blocks(README.read_text())
    unmarked = [b.line for b in blocks if b.lang == "sh" and not b.name]
    assert not unmarked, (f"README.md: ```sh blocks at lines {unmarked} have no <!-- readme-test: NAME --> or "
                          f"<!-- readme-test: skip (REASON) --> marker on the line before them")
    for b in blocks:
        if b.name == "skip":
            assert b.note, f"README.md line {b.line}: a skipped block needs a reason: <!-- readme-test: skip (…) -->"
        elif b.name:
            assert b.name in BLOCKS, f"README.md line {b.line}: unknown readme-test block {b.name!r} (known: {BLOCKS})"
    names = [b.name for b in blocks if b.name in BLOCKS]
    assert sorted(names) == sorted(BLOCKS), f"README.md: readme-test markers {names}, expected each of {BLOCKS} once"
    text = README.read_text()
    for placeholder in (LISTING_PLACEHOLDER, SELLER_PLACEHOLDER, CURSOR_PLACEHOLDER):
        assert placeholder in text, f"README.md no longer has the placeholder {placeholder!r} this test fills in"


def test_readme_shell_parsing():
    """The command extraction: comments outside quotes dropped, `#` inside quotes kept, continuations
    joined as bash joins them."""
    body = ['souk a --x "b # c" \\', "  --y 'd#e' # comment", "# only a comment", "", "souk z#notcomment"]
    assert shell_commands(body, 10) == [(10, "souk a --x \"b # c\"   --y 'd#e'"), (14, "souk z#notcomment")]
    assert strip_comment("echo \"a\\\"#b\" # c") == "echo \"a\\\"#b\""


def test_readme_examples(shell):
    """Runs the README's marked ```sh blocks in order on a fresh node (see the module docstring for
    what is substituted and checked)."""
    assert shutil.which("curl"), "curl is not installed: the README's JSON-RPC examples need it"
    blocks = named_blocks()
    run = Readme(shell)
    run.install(blocks["install"])
    run.setup(blocks["setup"])
    run.daemon_options(blocks["daemon-options"])

    # The node the rest of the README talks to: the setup block's own daemon line, again.
    line = run.daemon_line(blocks["setup"])
    run.node = shell.start_daemon(line, "set-up (the daemon for Listings onwards)")
    run.check_serves(run.node, "set-up", line)
    run.listings(blocks["listings"])
    run.search(blocks["search"])

    peer_dir = shell.home / ".souk-peer"
    run.peer_id = shell.run("souk init --datadir ~/.souk-peer --rpc-port 7520 --p2p-port 7521",
                            "set-up (a peer on 7521)").stdout.strip()
    run.ids[peer_dir] = run.peer_id
    peer = shell.start_daemon("souk daemon --datadir ~/.souk-peer --no-discover",
                              "set-up (a peer on 7521)")
    run.check_serves(peer, "set-up", "the peer")
    run.node_peers(blocks["node-peers"])

    run.json_rpc(blocks["json-rpc"])

    shell.stop(peer, "end of the run")
    shell.stop(run.node, "end of the run")


def test_readme_error_lines(shell):
    """The README's example error lines (```text block in "Using the CLI"), with /home/me as HOME,
    are exactly what the CLI prints: no identity (exit 1), no daemon (exit 3), a wrong passphrase
    (exit 1)."""
    sh = shell
    lines = [l for l in named_blocks()["errors"].body if l.strip()]
    home = str(sh.home)
    produced = {}

    # A data dir without an identity: ~/.souk exists but `souk init` has not run.
    (sh.home / ".souk").mkdir(mode=0o700)
    produced["no identity"] = sh.run("souk node info", "no identity yet", expect=1).stderr
    # An identity but no daemon.
    sh.run("souk init --datadir ~/.souk", "set-up")
    produced["no daemon"] = sh.run("souk node info", "no daemon running", expect=3).stderr
    # An encrypted identity and the wrong passphrase.
    (sh.home / "souk-passphrase.txt").write_text(PASSPHRASE + "\n")
    (sh.home / "wrong-passphrase.txt").write_text("not " + PASSPHRASE + "\n")
    sh.run("souk init --datadir ~/.souk-safe --passphrase-file ~/souk-passphrase.txt", "set-up")
    produced["wrong passphrase"] = sh.run("souk daemon --datadir ~/.souk-safe --passphrase-file ~/wrong-passphrase.txt",
                                          "wrong passphrase", expect=1).stderr

    assert len(lines) == len(produced), f"README error block has {len(lines)} lines, the test knows {sorted(produced)}"
    for readme_line in lines:
        keys = [k for k in produced if readme_line.startswith(f"Error: {k}")]
        assert len(keys) == 1, f"README error line {readme_line!r}: the test does not know how to produce it"
        want = readme_line.replace("/home/me", home)
        got = produced[keys[0]].strip()
        assert got == want, f"README says\n  {want}\nthe CLI printed\n  {got}"
