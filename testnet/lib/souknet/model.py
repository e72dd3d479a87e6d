"""The run's record: `Node` (one daemon, as in nodes.json) and `Net` (the whole of
testnet/.run/nodes.json: how the run was made, its planned links and its nodes).

nodes.json is read by every testnet script and by people; its field names are a contract.
`Node.to_dict` writes exactly the fields it was read with (unknown ones are kept in `extra`).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import rpc
from .common import NODES_FILE, TestnetError
from .process import pid_alive


@dataclass(eq=False)
class Node:
    """One node of the run, as recorded in nodes.json. Nodes compare by identity."""

    name: str
    index: int = 0
    node_id: str = ""
    datadir: str = ""
    cookie: str = ""  # the path of rpc.cookie (read_cookie() reads it)
    stdout_log: str = ""  # the daemon's stdout (its ready line), appended on restart
    stderr_log: str = ""  # the daemon's log
    netns: str | None = None
    pid: int | None = None
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 0
    p2p_host: str = "127.0.0.1"
    p2p_bind: str = "127.0.0.1"
    p2p_port: int = 0
    p2p_address: str | None = None
    connect: list[str] = field(default_factory=list)
    started_at: float | None = None  # written once the node was started
    extra: dict = field(default_factory=dict, repr=False)  # fields of nodes.json this code does not know

    @classmethod
    def from_dict(cls, rec: dict) -> "Node":
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in rec.items() if k in known},
                   extra={k: v for k, v in rec.items() if k not in known})

    def to_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(Node) if f.name != "extra"}
        out["connect"] = list(self.connect)
        if self.started_at is None:
            del out["started_at"]
        out.update(self.extra)
        return out

    @property
    def short_id(self) -> str:
        return (self.node_id or "?")[:12]

    def read_cookie(self) -> str:
        return Path(self.cookie).read_text().strip()

    def rpc(self, method: str, params: dict | None = None, timeout: float = 15.0):
        """Calls `method` and returns its result; raises RPCError or OSError."""
        return rpc.call(self.rpc_host, self.rpc_port, self.read_cookie(), method, params, timeout,
                        netns=self.netns, who=self.name)

    def try_rpc(self, method: str, params: dict | None = None, timeout: float = 5.0):
        """Like rpc(), but None on any failure."""
        try:
            return self.rpc(method, params, timeout)
        except (OSError, rpc.RPCError, http.client.HTTPException):
            return None

    def alive(self) -> bool:
        return pid_alive(self.pid, self.datadir)

    def ready_peers(self) -> list[dict]:
        res = self.try_rpc("peer.list")
        if not res:
            return []
        return [p for p in res.get("peers", []) if p.get("ready")]

    def arrivals(self, object_ids: list[str]) -> dict[str, int]:
        """Arrival times (ms) of the given objects on this node, for those it holds."""
        out: dict[str, int] = {}
        for i in range(0, len(object_ids), 5000):
            res = self.rpc("node.arrivals", {"object_ids": object_ids[i:i + 5000]}, timeout=30)
            out.update(res.get("arrivals", {}))
        return out


class Net:
    """testnet/.run/nodes.json: `data` holds the run's fields, `nodes` its Node records."""

    def __init__(self, data: dict):
        self.data = data
        self.nodes = [Node.from_dict(r) for r in data["nodes"]]

    @staticmethod
    def load() -> "Net":
        if not NODES_FILE.exists():
            raise TestnetError(f"no testnet recorded ({NODES_FILE} is missing) — start one with testnet/up N")
        return Net(json.loads(NODES_FILE.read_text()))

    def save(self) -> None:
        """Writes nodes.json atomically (a temporary file renamed over it)."""
        self.data["nodes"] = [n.to_dict() for n in self.nodes]
        tmp = NODES_FILE.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n")
        tmp.replace(NODES_FILE)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise TestnetError(f"no node named {name} (have {', '.join(n.name for n in self.nodes)})")

    def by_id(self) -> dict[str, Node]:
        return {n.node_id: n for n in self.nodes}

    @property
    def delay_ms(self) -> float:
        return float(self.data.get("delay_ms") or 0)
