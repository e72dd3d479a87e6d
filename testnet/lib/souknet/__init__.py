"""Souk testnet library: build, start, drive and stop N local `souk daemon` processes.

Used by testnet/up, down and status (`python3 -m souknet`, see cli.py), by testnet/demo and
testnet/measure (lib/demo.py, lib/measure.py, lib/workload.py), and by the pytest harness in
Tests/Network/conftest.py, which starts, stops and calls its daemons through this package.
Python 3 standard library only.

Modules, by job:
    common      paths of the run, TestnetError, say/warn
    build       source_state, build (or $SOUK_BIN)
    graph       plan_edges, adjacency, bfs, diameter, is_connected_without
    netns       sockets inside a namespace (setns), namespace setup/teardown, netem, tcp_rtt_ms
    rpc         RPCError, call (JSON-RPC over HTTP with the node's cookie)
    process     souk init, daemon command line, start/stop a daemon, pid_alive, reaping
    model       Node (a dataclass: one record of nodes.json), Net (nodes.json)
    waiting     wait_until, link_graph, wait_connected
    commands    up, down, status
    cli         main (argparse), add_up_args, up_kwargs

Layout of a run (testnet/.run/, git-ignored):
    nodes.json          what `up` started (read by every other script)
    nN/                 node N's data dir (identity, souk.conf, souk.db, rpc.cookie)
    nN/daemon.out       the daemon's stdout (the "ready" line), appended on restart
    nN/daemon.log       the daemon's stderr (its log)

Two modes:
    loopback (default)  every node on 127.0.0.1, OS-assigned rpc and p2p ports.
    netns               node i in network namespace souk-<i> with address 10.77.x.y/16 on a veth
                        whose other end sits on bridge br0 in namespace souk-hub; `tc netem`
                        on the node side of every veth delays (and optionally drops) every packet
                        a node sends, so each one-way link has the configured delay. Kernels
                        without sch_netem get wire.py instead: a tun0 per namespace and one
                        userspace switch that holds each packet for the delay (same per-hop cost).
                        RPC stays on 127.0.0.1 inside each namespace (DESIGN invariant 8): this
                        library opens its RPC sockets inside the node's namespace with setns(2).
"""

from .build import build, source_state
from .cli import add_up_args, main, up_kwargs
from .commands import down, live_nodes_of_previous_run, status, up
from .common import NODES_FILE, REPO_DIR, RUN_DIR, TESTNET_DIR, TestnetError, now_ms, say, warn
from .graph import adjacency, bfs, diameter, is_connected_without, plan_edges
from .model import Net, Node
from .netns import socket_in_netns, tcp_rtt_ms
from .process import (daemon_args, daemon_command, init_datadir, kill_node, pid_alive, spawn_daemon, start_node,
                      stop_node, stop_nodes)
from .rpc import RPCError
from .waiting import WaitTimeout, link_graph, wait_connected, wait_until

__all__ = [
    "NODES_FILE", "REPO_DIR", "RUN_DIR", "TESTNET_DIR", "Net", "Node", "RPCError", "TestnetError", "WaitTimeout",
    "add_up_args", "adjacency", "bfs", "build", "daemon_args", "daemon_command", "diameter", "down",
    "init_datadir", "is_connected_without", "kill_node", "link_graph", "live_nodes_of_previous_run", "main",
    "now_ms", "pid_alive", "plan_edges", "say", "socket_in_netns", "source_state", "spawn_daemon", "start_node",
    "status", "stop_node", "stop_nodes", "tcp_rtt_ms", "up", "up_kwargs", "wait_connected", "wait_until", "warn",
]
