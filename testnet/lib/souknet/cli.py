"""The command line behind testnet/up, down and status (`python3 -m souknet up|down|status|...`),
and the `up` options that testnet/measure shares (add_up_args, up_kwargs)."""

from __future__ import annotations

import argparse
import json
import sys

from .commands import down, status, up
from .common import NODES_FILE, TestnetError, say
from .model import Net
from .process import start_node, stop_node
from .rpc import RPCError


def add_up_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--netns", action="store_true", help="one network namespace per node (needs root)")
    p.add_argument("--delay", type=float, default=0.0, metavar="MS", help="one-way link delay (with --netns)")
    p.add_argument("--loss", type=float, default=0.0, metavar="PCT", help="packet loss (with --netns)")
    p.add_argument("--release", action="store_true", help="build and run the release configuration")
    p.add_argument("--degree", type=int, default=2, help="links each node dials to earlier nodes (default 2)")
    p.add_argument("--seed", type=int, default=None, help="topology seed (default random, printed)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait for the links")
    p.add_argument("--link-emulation", choices=["auto", "netem", "wire"], default="auto",
                   help="with --netns and --delay/--loss: tc netem on veth pairs, or the userspace wire over "
                        "tun devices (auto: netem when the kernel has it)")


def up_kwargs(args) -> dict:
    """The keyword arguments of commands.up() from options added by add_up_args."""
    if args.netns and args.delay < 0:
        raise TestnetError("--delay must be >= 0")
    return {"netns": args.netns, "delay_ms": args.delay, "loss_pct": args.loss, "release": args.release,
            "degree": args.degree, "seed": args.seed, "log_level": args.log_level, "timeout": args.timeout,
            "emulation": args.link_emulation}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="souknet")
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start N nodes")
    u.add_argument("n", type=int)
    add_up_args(u)
    sub.add_parser("down")
    sub.add_parser("status")
    s = sub.add_parser("stop-node")
    s.add_argument("name")
    s = sub.add_parser("start-node")
    s.add_argument("name")
    s = sub.add_parser("rpc", help="call one method on one node: rpc NAME METHOD [JSON-PARAMS]")
    s.add_argument("name")
    s.add_argument("method")
    s.add_argument("params", nargs="?", default="{}")
    return ap


def _dispatch(args) -> int:
    if args.cmd == "up":
        up(args.n, **up_kwargs(args))
        say(f"==> testnet up: {NODES_FILE}")
        return 0
    if args.cmd == "down":
        return down()
    if args.cmd == "status":
        return status()
    net = Net.load()
    if args.cmd == "stop-node":
        stop_node(net.node(args.name))
        return 0
    if args.cmd == "start-node":
        start_node(net, net.node(args.name))
        return 0
    if args.cmd == "rpc":
        print(json.dumps(net.node(args.name).rpc(args.method, json.loads(args.params)), indent=2))
        return 0
    return 2


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (TestnetError, RPCError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
