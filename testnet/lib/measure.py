#!/usr/bin/env python3
"""testnet/measure: propagation time, payload and control bytes, and catch-up cost of a Souk testnet.

Starts N nodes (souknet.up), lets 3 authors on different nodes create listings at a steady rate
(with some updates and retractions), waits until every node holds every final object, then reports

  * p50 / p99 propagation time: author's creation time -> the last node storing the object
    (node.arrivals on every node; all processes share one clock);
  * per node: full-payload bytes received (node.stats bytes_in["objects"]) / unique listing bytes
    (sum of the envelope sizes of all distinct objects created);
  * per node: control bytes (every other bytes_in type) per object;
  * catch-up: one node is stopped, K listings are created elsewhere, the node is restarted; its
    bytes received until it holds them all and reports in_sync, against the bytes it lacked.

Then stops the testnet. Every wait has a deadline. Results also go to testnet/.run/measure.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

import souknet
import workload
from souknet import RUN_DIR, Net, TestnetError, say


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def stats_snapshot(net: Net) -> dict[str, dict]:
    out = {}
    for n in net.nodes:
        if n.alive():
            out[n.name] = n.rpc("node.stats")
    return out


def delta(after: dict, before: dict | None, field: str) -> dict[str, int]:
    a = after.get(field, {})
    b = (before or {}).get(field, {})
    return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b) if a.get(k, 0) - b.get(k, 0)}


def pick_authors(net: Net, adj) -> list[int]:
    """Three nodes far apart: the two ends of a longest shortest path, and the node farthest from both."""
    n = len(net.nodes)
    if n <= 3:
        return list(range(n))
    ecc = {i: souknet.bfs(adj, i) for i in range(n)}
    a = max(range(n), key=lambda i: (max(ecc[i].values()), -i))
    b = max(range(n), key=lambda j: (ecc[a].get(j, 0), -j))
    c = max((j for j in range(n) if j not in (a, b)), key=lambda j: (min(ecc[a].get(j, 0), ecc[b].get(j, 0)), -j))
    return [a, b, c]


def pick_catchup_node(net: Net, adj, authors: list[int], name: str | None) -> int:
    """A non-author whose absence leaves the rest connected, with a typical (median) number of links."""
    n = len(net.nodes)
    if name:
        i = net.nodes.index(net.node(name))
        if not souknet.is_connected_without(adj, i):
            raise TestnetError(f"stopping {name} would split the network; pick another --catchup-node")
        return i
    ok = [i for i in range(n) if i not in authors and souknet.is_connected_without(adj, i)]
    if not ok:
        raise TestnetError("no node can be stopped without splitting the network (N too small)")
    ok.sort(key=lambda i: (len(adj[i]), i))
    return ok[len(ok) // 2]


def fmt_bytes(b: float) -> str:
    return f"{b:,.0f} B" if abs(b) < 10_000 else f"{b / 1024:,.1f} KiB"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="testnet/measure", description=__doc__.split("\n\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("--listings", type=int, default=200, help="listings created in the main phase (default 200)")
    ap.add_argument("--rate", type=float, default=10.0, help="operations per second, all authors (default 10)")
    ap.add_argument("--updates", type=int, default=None, help="updates (default listings/20)")
    ap.add_argument("--retractions", type=int, default=None, help="retractions (default listings/40)")
    ap.add_argument("--catchup", type=int, default=50, metavar="K", help="listings the stopped node misses (default 50)")
    ap.add_argument("--catchup-rate", type=float, default=None, help="listings/s while the node is down (default --rate)")
    ap.add_argument("--catchup-node", default=None, metavar="NAME", help="node to stop (default: a typical one)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to keep counting after catch-up (default 5)")
    ap.add_argument("--wait", type=float, default=120.0, help="seconds to wait for propagation (default 120)")
    ap.add_argument("--debug", action="store_true", help="use the debug build (default release)")
    ap.add_argument("--keep", action="store_true", help="leave the testnet running afterwards")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    souknet.add_up_args(ap)
    args = ap.parse_args(argv)
    if args.n < 4:
        ap.error("N must be at least 4 (3 authors and a node to stop)")
    if not (1 <= args.listings <= 5000) or not (0 < args.rate <= 500) or not (0 <= args.catchup <= 2000):
        ap.error("--listings 1..5000, --rate 0..500, --catchup 0..2000")
    updates = args.updates if args.updates is not None else max(2, args.listings // 20)
    retractions = args.retractions if args.retractions is not None else max(1, args.listings // 40)
    rng = random.Random(args.seed if args.seed is not None else 7)
    kw = souknet.up_kwargs(args)
    kw["release"] = not args.debug
    try:
        net = souknet.up(args.n, **kw)
        try:
            result = measure(net, args, updates, retractions, rng)
        finally:
            if not args.keep:
                say("==> stopping the testnet")
                souknet.down()
    except TestnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if not result["complete"]:
        return 1
    if args.strict and not all(g["met"] for g in result["goals"].values()):
        return 1
    return 0


def measure(net: Net, args, updates: int, retractions: int, rng: random.Random) -> dict:
    n = len(net.nodes)
    adj = souknet.wait_connected(net, 30, quiet=True)
    diam = souknet.diameter(adj)
    authors = pick_authors(net, adj)
    author_nodes = [net.nodes[i] for i in authors]
    ecc = {i: max(souknet.bfs(adj, i).values()) for i in authors}
    delay = net.delay_ms
    p99_goal = 4 * delay + 50
    result: dict = {
        "command": "testnet/measure " + " ".join(sys.argv[1:]), "n": n, "mode": net.data["mode"],
        "build": net.data["build"], "delay_ms": delay, "loss_pct": net.data.get("loss_pct", 0),
        "links": sum(len(a) for a in adj) // 2, "diameter": diam, "seed": net.data["seed"],
        "authors": [net.nodes[i].name for i in authors], "complete": False,
        "source": net.data.get("source"), "cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0],
    }
    say(f"==> measuring: {n} nodes, {result['links']} links, diameter {diam}; authors "
        f"{', '.join(f'{net.nodes[i].name} (eccentricity {ecc[i]})' for i in authors)}")
    time.sleep(1.0)  # let the connect-time reconciliations finish before the baseline
    base = stats_snapshot(net)

    # ---- main phase ---------------------------------------------------------------------
    total_ops = args.listings + updates + retractions
    say(f"==> {args.listings} listings + {updates} updates + {retractions} retractions at {args.rate:g}/s "
        f"(~{total_ops / args.rate:.0f} s)")
    t_start = time.time()
    ops = workload.run_schedule(
        author_nodes, args.listings, updates, retractions, args.rate, rng,
        progress=lambda done, tot: say(f"    {done}/{tot} operations sent"))
    t_sent = time.time()
    final, active, retracted = workload.final_objects(ops)
    final_ids = [o.object_id for o in final.values()]
    all_ids = [o.object_id for o in ops]
    unique_bytes = sum(o.size for o in ops)
    say(f"    sent {len(ops)} operations in {t_sent - t_start:.1f} s "
        f"({len(all_ids)} objects, {fmt_bytes(unique_bytes)} of envelopes, mean {unique_bytes / len(ops):.0f} B); "
        f"waiting until all {n} nodes hold the {len(final_ids)} final objects")
    have = workload.wait_for_objects(
        net.nodes, final_ids, args.wait,
        progress=lambda pending, h: say(f"    still waiting for {len(pending)} nodes: " + "; ".join(
            f"{p.name} {len(set(final_ids) - set(h[p.name]))} missing" for p in pending[:6])))
    t_all = time.time()
    missing = workload.missing_report(net.nodes, final_ids, have)
    after = stats_snapshot(net)
    if missing:
        say("!!  propagation INCOMPLETE after {:.0f} s:".format(args.wait))
        for line in missing:
            say("    " + line)
    else:
        say(f"    every node holds every final object {t_all - t_sent:.2f} s after the last operation")
    counts_ok = True
    for node in net.nodes:
        info = node.rpc("node.info")
        got = (info["listings"]["active"], info["listings"]["retracted"])
        if got != (active, retracted):
            counts_ok = False
            say(f"!!  {node.name}: node.info says {got[0]} active / {got[1]} retracted, expected {active} / {retracted}")
    result["complete"] = not missing and counts_ok

    # Propagation: per object, author creation -> last node.
    arrivals = {node.name: node.arrivals(all_ids) for node in net.nodes}
    prop, per_pair, per_hop, superseded = [], [], [], 0
    for o in ops:
        created = arrivals[o.author.name].get(o.object_id)
        if created is None:
            created = o.t_done * 1000
        times = [arrivals[node.name].get(o.object_id) for node in net.nodes]
        if any(t is None for t in times):
            # A version overtaken by its successor before reaching some node is never stored there.
            superseded += 1
            continue
        last = max(times) - created
        prop.append(last)
        per_pair += [t - created for t in times if t is not None and t != created]
        e = ecc[net.nodes.index(o.author)]
        per_hop.append(last / e if e else 0.0)
    # Latency by hop distance from the author: separates link delay, per-hop processing and the tail.
    by_hops: dict[int, list[float]] = {}
    dist_from = {i: souknet.bfs(adj, i) for i in authors}
    for o in ops:
        ai = net.nodes.index(o.author)
        created = arrivals[o.author.name].get(o.object_id, o.t_done * 1000)
        for j, node in enumerate(net.nodes):
            t = arrivals[node.name].get(o.object_id)
            if t is not None and j != ai:
                by_hops.setdefault(dist_from[ai][j], []).append(t - created)
    prop_hops = {str(h): {"pairs": len(v), "p50_ms": pct(v, 50), "p90_ms": pct(v, 90), "p99_ms": pct(v, 99)}
                 for h, v in sorted(by_hops.items())}
    prop_res = {
        "objects": len(prop), "not_everywhere_excluded": superseded,
        "p50_ms": pct(prop, 50), "p90_ms": pct(prop, 90), "p99_ms": pct(prop, 99), "max_ms": max(prop, default=0),
        "per_node_p50_ms": pct(per_pair, 50), "per_node_p99_ms": pct(per_pair, 99),
        "per_hop_p50_ms": pct(per_hop, 50), "max_hops": max(ecc.values()),
        "rpc_create_p50_ms": pct([(o.t_done - o.t_sent) * 1000 for o in ops], 50),
        "by_hops": prop_hops,
    }
    result["propagation"] = prop_res

    # Bytes per node.
    per_node = []
    for node in net.nodes:
        din = delta(after[node.name], base.get(node.name), "bytes_in")
        payload = din.get("objects", 0)
        control = sum(v for k, v in din.items() if k != "objects")
        objs_a = after[node.name]["objects"]
        objs_b = base.get(node.name, {}).get("objects", {})
        per_node.append({
            "name": node.name, "author": node.name in result["authors"], "links": len(adj[net.nodes.index(node)]),
            "payload_bytes": payload, "payload_ratio": payload / unique_bytes if unique_bytes else 0,
            "control_bytes": control, "control_per_object": control / len(ops),
            "control_by_type": {k: v for k, v in din.items() if k != "objects"},
            "objects_received": objs_a.get("received", 0) - objs_b.get("received", 0),
            "objects_duplicate": objs_a.get("duplicate", 0) - objs_b.get("duplicate", 0),
        })
    ratios = [p["payload_ratio"] for p in per_node]
    ctl = [p["control_per_object"] for p in per_node]
    by_type: dict[str, float] = {}
    for p in per_node:
        for k, v in p["control_by_type"].items():
            by_type[k] = by_type.get(k, 0) + v / len(ops) / n
    result["bytes"] = {
        "unique_listing_bytes": unique_bytes, "objects": len(ops), "mean_envelope_bytes": unique_bytes / len(ops),
        "payload_ratio_min": min(ratios), "payload_ratio_median": statistics.median(ratios),
        "payload_ratio_max": max(ratios),
        "control_per_object_median": statistics.median(ctl), "control_per_object_max": max(ctl),
        "control_per_object_by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
        "duplicates_per_node_median": statistics.median(p["objects_duplicate"] for p in per_node),
        "per_node": per_node, "wall_seconds": t_all - t_start,
    }

    # ---- catch-up phase -----------------------------------------------------------------
    catch = None
    if args.catchup > 0:
        x = pick_catchup_node(net, adj, authors, args.catchup_node)
        xnode = net.nodes[x]
        others = [nd for nd in net.nodes if nd is not xnode]
        say(f"==> catch-up: stopping {xnode.name} ({len(adj[x])} links), creating {args.catchup} listings elsewhere")
        souknet.stop_node(xnode)
        # Without the stopped node the graph must stay connected (picked so); also wait for links to drop.
        time.sleep(0.5)
        t_c0 = time.time()
        t_down = time.time()
        cops = workload.run_schedule(author_nodes, args.catchup, 0, 0, args.catchup_rate or args.rate, rng,
                                     start_index=100_000)
        cids = [o.object_id for o in cops]
        missing_bytes = sum(o.size for o in cops)
        have_c = workload.wait_for_objects(others, cids, args.wait)
        lack = workload.missing_report(others, cids, have_c)
        if lack:
            say("!!  the new listings did not reach every running node: " + "; ".join(lack))
            result["complete"] = False
        say(f"    {len(cids)} listings ({fmt_bytes(missing_bytes)}) on all {len(others)} running nodes after "
            f"{time.time() - t_c0:.1f} s; restarting {xnode.name}")
        t_r = time.time()
        down_seconds = t_r - t_down
        souknet.start_node(net, xnode)
        t_ready = time.time()
        deadline = time.time() + args.wait
        got: dict[str, int] = {}
        in_sync = False
        info = {}
        while time.time() < deadline:
            try:
                got.update(xnode.arrivals([i for i in cids if i not in got]))
                info = xnode.rpc("node.info")
                in_sync = bool((info.get("sync") or {}).get("in_sync"))
            except (souknet.RPCError, OSError):
                pass
            if len(got) == len(cids) and in_sync:
                break
            time.sleep(0.1)
        t_sync = time.time()
        s1 = xnode.rpc("node.stats")
        peers1 = xnode.rpc("peer.list")["peers"]
        time.sleep(args.settle)
        s2 = xnode.rpc("node.stats")
        peers2 = xnode.rpc("peer.list")["peers"]
        caught_up = len(got) == len(cids) and in_sync
        if not caught_up:
            say(f"!!  {xnode.name} did not catch up within {args.wait:.0f} s: holds {len(got)}/{len(cids)}, "
                f"in_sync={in_sync}")
            result["complete"] = False
        b1 = sum(s1["bytes_in"].values())
        b2 = sum(s2["bytes_in"].values())
        goal = 2048 + 40 * len(cids)
        catch = {
            "node": xnode.name, "links": len(adj[x]), "missing_listings": len(cids), "missing_bytes": missing_bytes,
            "caught_up": caught_up, "seconds_to_sync": t_sync - t_r, "seconds_down": down_seconds, "seconds_after_ready_line": t_sync - t_ready,
            "bytes_in_at_sync": b1, "bytes_in_by_type_at_sync": s1["bytes_in"],
            "objects_at_sync": s1["objects"],
            "overhead_at_sync": b1 - missing_bytes,
            "bytes_in_after_settle": b2, "bytes_in_by_type_after_settle": s2["bytes_in"],
            "objects_after_settle": s2["objects"],
            "overhead_after_settle": b2 - missing_bytes, "settle_seconds": args.settle,
            "link_bytes_in_at_sync": sum(p.get("bytes_in", 0) for p in peers1),
            "link_bytes_in_after_settle": sum(p.get("bytes_in", 0) for p in peers2),
            "peers_at_sync": len([p for p in peers1 if p.get("ready")]),
            "peers_after_settle": len([p for p in peers2 if p.get("ready")]),
            "sync": info.get("sync"), "goal_overhead_bytes": goal,
        }
    result["catchup"] = catch

    # ---- goals ---------------------------------------------------------------------------
    goals = {
        "p99_propagation": {"value": prop_res["p99_ms"], "limit": p99_goal,
                            "met": bool(prop) and prop_res["p99_ms"] <= p99_goal and not missing},
        "payload_ratio": {"value": result["bytes"]["payload_ratio_max"], "limit": 1.25,
                          "met": result["bytes"]["payload_ratio_max"] <= 1.25},
    }
    if catch:
        goals["catchup_overhead"] = {"value": catch["overhead_at_sync"], "limit": catch["goal_overhead_bytes"],
                                     "met": catch["caught_up"] and catch["overhead_at_sync"] <= catch["goal_overhead_bytes"]}
    result["goals"] = goals
    result["load_average_at_end"] = os.getloadavg()[0]
    result["link_emulation"] = net.data.get("link_emulation", "none")
    result["tcp_rtt_ms"] = net.data.get("tcp_rtt_ms")
    wire = net.data.get("wire")
    if wire:
        time.sleep(2.5)  # the wire writes its statistics every 2 s
        try:
            ws = json.loads(open(wire["stats"]).read())
            hist = {int(k): v for k, v in ws.get("lateness_ms_hist", {}).items()}
            flat = sorted(hist.items())
            total = sum(hist.values())

            def q(p):
                acc = 0
                for k, v in flat:
                    acc += v
                    if acc >= p / 100 * total:
                        return k
                return flat[-1][0] if flat else 0
            result["wire"] = {"packets": ws.get("forwarded_packets"), "dropped_loss": ws.get("dropped_loss"),
                              "lateness_p50_ms": q(50), "lateness_p99_ms": q(99),
                              "lateness_max_ms": flat[-1][0] if flat else 0}
        except (OSError, ValueError):
            pass
    report(result)
    raw = {"ops": [o.as_dict() for o in ops], "arrivals": arrivals,
           "adjacency": {net.nodes[i].name: sorted(net.nodes[j].name for j in adj[i]) for i in range(n)}}
    (RUN_DIR / "measure-raw.json").write_text(json.dumps(raw) + "\n")
    out = RUN_DIR / "measure.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"    (all figures: {out})")
    return result


def report(r: dict) -> None:
    p, b, c, g = r["propagation"], r["bytes"], r["catchup"], r["goals"]

    def verdict(key):
        return "MET" if g[key]["met"] else "NOT MET"

    say("")
    link = f", {r['delay_ms']:g} ms links" if r["delay_ms"] else ""
    loss = f", {r['loss_pct']:g}% loss" if r["loss_pct"] else ""
    say(f"=== Souk network measurement: N={r['n']} {r['mode']}{link}{loss}, {r['build']} build, "
        f"{r['links']} links, diameter {r['diameter']} ===")
    src = r.get("source") or {}
    say(f"source: commit {src.get('commit')}"
        + (f" + uncommitted changes in {src['dirty_files']} files (diff sha256 {src['diff_sha256']})"
           if src.get("dirty_files") else "")
        + (" (binary from $SOUK_BIN: built earlier, maybe from another state)" if src.get("binary_from") else ""))
    say(f"machine: {r['cpus']} CPUs, 1-min load average {r['load_average_at_start']:.1f} at start, "
        f"{r['load_average_at_end']:.1f} at end (other builds share these cores)")
    if r.get("tcp_rtt_ms"):
        say(f"links: {r['link_emulation']}; measured TCP round trip between namespaces {r['tcp_rtt_ms']['min']:.1f} ms "
            f"(2 x {r['delay_ms']:g} ms expected)")
    if r.get("wire"):
        w = r["wire"]
        say(f"userspace wire: {w['packets']:,} packets forwarded, {w['dropped_loss']} dropped by --loss; each packet left "
            f"the wire late by p50 {w['lateness_p50_ms']} ms, p99 {w['lateness_p99_ms']} ms, max {w['lateness_max_ms']} ms "
            f"beyond its {r['delay_ms']:g} ms delay (scheduling on this busy machine)")
    say(f"objects: {b['objects']} ({b['unique_listing_bytes']:,} B unique envelope bytes, mean {b['mean_envelope_bytes']:.0f} B); "
        f"authors {', '.join(r['authors'])}; all propagated: {'yes' if r['complete'] else 'NO'}")
    say("")
    say(f"propagation (creation -> last node stored it), {p['objects']} objects "
        f"({p['not_everywhere_excluded']} superseded before reaching every node excluded):")
    say(f"  p50 {p['p50_ms']:.1f} ms   p90 {p['p90_ms']:.1f} ms   p99 {p['p99_ms']:.1f} ms   max {p['max_ms']:.1f} ms")
    say(f"  per node-object pair: p50 {p['per_node_p50_ms']:.1f} ms, p99 {p['per_node_p99_ms']:.1f} ms; "
        f"author eccentricity up to {p['max_hops']} hops; p50 per hop {p['per_hop_p50_ms']:.1f} ms")
    say("  by hops from the author (node-object pairs): " + "; ".join(
        f"{h} hop{'s' if h != '1' else ''}: p50 {v['p50_ms']:.0f} / p90 {v['p90_ms']:.0f} / p99 {v['p99_ms']:.0f} ms"
        for h, v in p["by_hops"].items()))
    say(f"  goal p99 <= 4 x {r['delay_ms']:g} ms + 50 ms = {g['p99_propagation']['limit']:.0f} ms: "
        f"{verdict('p99_propagation')}")
    say("")
    say("full-payload bytes received / unique listing bytes, per node:")
    say(f"  min {b['payload_ratio_min']:.3f}   median {b['payload_ratio_median']:.3f}   max {b['payload_ratio_max']:.3f}"
        f"   (duplicate bodies per node, median {b['duplicates_per_node_median']:.0f})")
    say(f"  goal <= 1.25: {verdict('payload_ratio')}")
    say(f"control bytes received per object per node: median {b['control_per_object_median']:.0f} B, "
        f"max {b['control_per_object_max']:.0f} B; by type (mean): " +
        ", ".join(f"{k} {v:.0f}" for k, v in b["control_per_object_by_type"].items()))
    say("")
    say(f"{'node':<5} {'links':>5} {'payload':>10} {'ratio':>6} {'control/obj':>11} {'dups':>5}")
    for pn in b["per_node"]:
        say(f"{pn['name']:<5} {pn['links']:>5} {pn['payload_bytes']:>10,} {pn['payload_ratio']:>6.3f} "
            f"{pn['control_per_object']:>11.0f} {pn['objects_duplicate']:>5}{'  author' if pn['author'] else ''}")
    if c:
        say("")
        say(f"catch-up: {c['node']} ({c['links']} links) missed {c['missing_listings']} listings "
            f"({c['missing_bytes']:,} B) while down for {c.get('seconds_down', 0):.1f} s; restarted, in sync after "
            f"{c['seconds_to_sync']:.2f} s: "
            f"{'yes' if c['caught_up'] else 'NO'}")
        say(f"  bytes received until in sync: {c['bytes_in_at_sync']:,} B "
            f"(by type: {', '.join(f'{k} {v:,}' for k, v in sorted(c['bytes_in_by_type_at_sync'].items()))}); "
            f"objects {c['objects_at_sync']}")
        dup = c["objects_at_sync"].get("duplicate", 0)
        if dup:
            say(f"  of which {dup} duplicate object bodies (~{dup * c['missing_bytes'] / max(1, c['missing_listings']):,.0f} B): "
                f"the same missing object fetched over more than one link")
        say(f"  overhead = {c['bytes_in_at_sync']:,} - {c['missing_bytes']:,} = {c['overhead_at_sync']:,} B; "
            f"goal <= 2048 + 40 x {c['missing_listings']} = {c['goal_overhead_bytes']:,} B: {verdict('catchup_overhead')}")
        say(f"  {c['settle_seconds']:g} s later ({c['peers_after_settle']} peers): {c['bytes_in_after_settle']:,} B "
            f"(overhead {c['overhead_after_settle']:,} B; by type: "
            f"{', '.join(f'{k} {v:,}' for k, v in sorted(c['bytes_in_by_type_after_settle'].items()))}); "
            f"link bytes incl. handshakes: {c['link_bytes_in_at_sync']:,} at sync, "
            f"{c['link_bytes_in_after_settle']:,} after")
    say("")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
