#!/usr/bin/env python3
"""Trade figures on real `souk daemon`s (`Specs/trade.md`), printed, never asserted.

    python3 Benchmarks/trades.py [--delay 20] [--steps 40] [--open 1000] [--release]

1. Step latency on delayed links (`testnet/up --netns --delay MS`, root; without root the links
   are loopback and --delay is ignored): a testnet of 5 nodes, buyer and seller not linked to
   each other nor to the arbiter. For `--steps` steps, the time from the signing RPC returning to
   (a) the other party holding the step and (b) the signer holding that party's signed
   acknowledgement, in ms and in link delays (p50, p99).
2. An offline party: the buyer stops, the seller fulfils, the buyer restarts; the time from the
   buyer's ready line until it holds the fulfilment.
3. Bytes on the wire per trade: `node.stats` deliver + delivered bytes over all nodes for one full
   trade (order to settlement), against the bytes of the signed objects.
4. With `--open` open trades on one seller: `trade.list` (100 rows) and `trade.get` latency, and
   the seller's idle CPU per second with that many open trades (deadline upkeep).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "testnet" / "lib"))
import souknet  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SHORT = {k: 3600 for k in ("accept", "arbiter_ack", "payment", "confirmation", "fulfilment", "inspection", "ruling")}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait(pred, timeout=30.0, interval=0.002, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            v = pred()
            if v:
                return v
        except souknet.RPCError:
            pass
        time.sleep(interval)
    raise SystemExit(f"timed out: {what}")


def phase(n, tid):
    return n.rpc("trade.get", {"trade_id": tid})["phase"]


def acked(n, tid, step_id, by):
    for s in n.rpc("trade.get", {"trade_id": tid})["steps"]:
        if s["object_id"] == step_id:
            return (s.get("delivered_to") or {}).get(by) is not None
    return False


def setup(net):
    adj = souknet.wait_connected(net, 60, quiet=True)
    nodes = net.nodes
    # Buyer and seller not linked to each other; the arbiter linked to neither.
    for bi in range(len(nodes)):
        for si in range(len(nodes)):
            if bi == si or si in adj[bi]:
                continue
            for ai in range(len(nodes)):
                if ai in (bi, si) or ai in adj[bi] or ai in adj[si]:
                    continue
                return nodes[bi], nodes[si], nodes[ai]
    b, s, a = nodes[0], nodes[-1], nodes[len(nodes) // 2]
    return b, s, a


def addr(n):
    return f"{n.p2p_host}:{n.p2p_port}"


def prepare(net, b, s, a):
    souknet.stop_node(a)
    with open(f"{a.datadir}/souk.conf", "a") as f:
        f.write("arbiter = true\n")
    souknet.start_node(net, a)
    a.rpc("arbiter.register", {"display_name": "Bench arbiter", "currencies": [{"currency": "EUR"}]})
    a.rpc("profile.set", {"display_name": "arbiter", "addresses": [addr(a)]})
    s.rpc("profile.set", {"display_name": "seller", "addresses": [addr(s)], "arbiters": [a.node_id]})
    b.rpc("profile.set", {"display_name": "buyer", "addresses": [addr(b)]})
    listing = s.rpc("listing.create", {"title": "Bench lamp", "price": "10.00", "currency": "EUR",
                                       "category": "home", "quantity": 100000})
    wait(lambda: b.rpc("arbiter.list")["items"] and a.node_id in
         b.rpc("profile.get", {"node_id": s.node_id})["arbiters"]
         and b.rpc("listing.get", {"listing_id": listing["listing_id"]}), 60, 0.05, "buyer knows seller and arbiter")
    return listing


def latency(b, s, a, listing, steps, delay):
    delivered, acks = [], []
    done = 0
    while done < steps:
        tid = b.rpc("trade.order", {"listing_id": listing["listing_id"], "rail": "cash", "deadlines": SHORT})["trade_id"]
        wait(lambda: phase(s, tid) == "ordered", what="order at the seller")
        for actor, other, method, want in [(s, b, "trade.accept", "arbiter_acknowledged"),
                                           (b, s, "trade.pay", "payment_claimed"),
                                           (s, b, "trade.fulfil", "fulfilled")]:
            if want == "arbiter_acknowledged":
                t0 = time.monotonic()
                r = actor.rpc(method, {"trade_id": tid})
                sid = [x for x in r["steps"] if x["type"] == "accept"][0]["object_id"]
                wait(lambda: any(x["object_id"] == sid for x in other.rpc("trade.get", {"trade_id": tid})["steps"]))
                delivered.append(time.monotonic() - t0)
                wait(lambda: acked(actor, tid, sid, other.node_id))
                acks.append(time.monotonic() - t0)
                wait(lambda: phase(other, tid) == want and phase(actor, tid) == want, what=want)
            else:
                typ = "payment_claim" if method == "trade.pay" else "fulfil"
                t0 = time.monotonic()
                r = actor.rpc(method, {"trade_id": tid})
                sid = [x for x in r["steps"] if x["type"] == typ][0]["object_id"]
                wait(lambda: phase(other, tid) == want)
                delivered.append(time.monotonic() - t0)
                wait(lambda: acked(actor, tid, sid, other.node_id))
                acks.append(time.monotonic() - t0)
            done += 1
        b.rpc("trade.release", {"trade_id": tid})
        wait(lambda: phase(s, tid) == "settled" and phase(b, tid) == "settled", what="settled")
    d = delay / 1000 if delay else None

    def line(name, xs):
        p50, p99 = pct(xs, 50) * 1000, pct(xs, 99) * 1000
        unit = f" = {p50 / delay:.1f} / {p99 / delay:.1f} link delays" if d else ""
        print(f"  {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {len(xs)} steps{unit}")

    print("1. step latency (buyer and seller not linked; the arbiter linked to neither):")
    line("signed -> held by the other party", delivered)
    line("signed -> its signed acknowledgement back at the signer", acks)


def offline(net, b, s, a, listing):
    tid = b.rpc("trade.order", {"listing_id": listing["listing_id"], "rail": "cash", "deadlines": SHORT})["trade_id"]
    wait(lambda: phase(s, tid) == "ordered")
    s.rpc("trade.accept", {"trade_id": tid})
    wait(lambda: phase(b, tid) == "arbiter_acknowledged")
    b.rpc("trade.pay", {"trade_id": tid})
    wait(lambda: phase(s, tid) == "payment_claimed")
    souknet.stop_node(b)
    s.rpc("trade.fulfil", {"trade_id": tid, "details": "while you were away"})
    time.sleep(2)
    t0 = time.monotonic()
    souknet.start_node(net, b)
    ready = time.monotonic()
    wait(lambda: phase(b, tid) == "fulfilled", 120, 0.01, "the returning buyer gets the fulfilment")
    print(f"2. offline buyer: holds the fulfilment {(time.monotonic() - ready) * 1000:.0f} ms after its daemon was "
          f"ready ({(time.monotonic() - t0):.1f} s after the restart began)")
    b.rpc("trade.release", {"trade_id": tid})
    wait(lambda: phase(s, tid) == "settled")


def wire_bytes(nodes):
    total = 0
    for n in nodes:
        out = n.rpc("node.stats")["bytes_out"]
        total += out.get("deliver", 0) + out.get("delivered", 0)
    return total


def per_trade(net, b, s, a, listing):
    before = wire_bytes(net.nodes)
    tid = b.rpc("trade.order", {"listing_id": listing["listing_id"], "rail": "cash", "deadlines": SHORT})["trade_id"]
    wait(lambda: phase(s, tid) == "ordered")
    s.rpc("trade.accept", {"trade_id": tid})
    wait(lambda: phase(b, tid) == "arbiter_acknowledged")
    b.rpc("trade.pay", {"trade_id": tid})
    wait(lambda: phase(s, tid) == "payment_claimed")
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait(lambda: phase(b, tid) == "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    wait(lambda: all(phase(n, tid) == "settled" for n in (b, s, a)))
    # Let every acknowledgement land.
    t = b.rpc("trade.get", {"trade_id": tid})
    me = {b.node_id: b, s.node_id: s, a.node_id: a}
    wait(lambda: all(all(v is not None for v in (x.get("delivered_to") or {}).values())
                     for n in me.values() for x in n.rpc("trade.get", {"trade_id": tid})["steps"]), 60, 0.05,
         "every step acknowledged")
    time.sleep(1)
    used = wire_bytes(net.nodes) - before
    proof = s.rpc("trade.proof", {"trade_id": tid})
    signed = len(proof["order"]) // 2 + sum(len(x) // 2 for x in proof["signatures"])
    print(f"3. one trade (order .. settlement, {len(t['steps'])} steps + 2 resolution signatures, each to 2 parties): "
          f"{used:,} bytes of deliver/delivered frames on all links; the order and the two signatures alone are "
          f"{signed:,} bytes")


def open_trades(net, b, s, listing, n_open):
    t0 = time.monotonic()
    for _ in range(n_open):
        b.rpc("trade.order", {"listing_id": listing["listing_id"], "rail": "cash", "deadlines": SHORT})
    made = time.monotonic() - t0
    wait(lambda: s.rpc("trade.list", {"open_only": True, "limit": 1})["open"] >= n_open, 300, 0.2,
         "the seller holds every order")
    held = time.monotonic() - t0
    lat_list, lat_get = [], []
    tids = [x["trade_id"] for x in s.rpc("trade.list", {"open_only": True, "limit": 100})["items"]]
    for i in range(50):
        a = time.monotonic()
        s.rpc("trade.list", {"open_only": True, "limit": 100})
        lat_list.append(time.monotonic() - a)
        a = time.monotonic()
        s.rpc("trade.get", {"trade_id": tids[i % len(tids)]})
        lat_get.append(time.monotonic() - a)
    time.sleep(3)
    c0, w0 = cpu_seconds(s.pid), time.monotonic()
    time.sleep(10)
    cpu = (cpu_seconds(s.pid) - c0) / (time.monotonic() - w0)
    print(f"4. {n_open} open trades on the seller (ordered in {made:.1f} s, all held {held:.1f} s after the first):")
    print(f"  trade.list (100 rows, each folded): p50 {pct(lat_list, 50) * 1000:.1f} ms, p99 {pct(lat_list, 99) * 1000:.1f} ms")
    print(f"  trade.get: p50 {pct(lat_get, 50) * 1000:.1f} ms, p99 {pct(lat_get, 99) * 1000:.1f} ms")
    print(f"  seller CPU while idle with them open: {cpu * 1000:.1f} ms per second")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--open", type=int, default=1000)
    ap.add_argument("--release", action="store_true")
    args = ap.parse_args()
    netns = os.geteuid() == 0 and args.delay > 0
    net = souknet.up(5, netns=netns, delay_ms=args.delay if netns else 0.0, release=args.release, degree=2, seed=7)
    try:
        b, s, a = setup(net)
        print(f"testnet: 5 nodes, {'netns, ' + str(args.delay) + ' ms per link' if netns else 'loopback'}; "
              f"buyer {b.name}, seller {s.name}, arbiter {a.name}")
        listing = prepare(net, b, s, a)
        latency(b, s, a, listing, args.steps, args.delay if netns else 0)
        offline(net, b, s, a, listing)
        per_trade(net, b, s, a, listing)
        open_trades(net, b, s, listing, args.open)
    finally:
        souknet.down()


if __name__ == "__main__":
    main()
