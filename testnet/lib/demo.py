#!/usr/bin/env python3
"""testnet/demo: a few Souk nodes gossip listings, an update and a retraction, and a node that was
offline catches up; then a buyer and the seller trade through an arbiter on a third node (order,
payment, fulfilment, release, a checked settlement proof) and a second trade goes to a dispute
settled by a split; buyer and seller review each other, and a node that never traded sees the
seller's score only once it trusts someone who did. Prints what happens in plain words; exits non-zero if anything fails."""

from __future__ import annotations

import argparse
import random
import sys
import time

import souknet
import workload
from souknet import Net, RPCError, TestnetError, say

WAIT = 30.0  # seconds any one thing may take to spread


class DemoFailure(Exception):
    pass


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread(net: Net, nodes, object_ids: list[str], what: str, created_ms: dict[str, float]) -> None:
    """Waits until every node in `nodes` stores every id and says how long it took."""
    have = workload.wait_for_objects(nodes, object_ids, WAIT)
    lacking = workload.missing_report(nodes, object_ids, have)
    if lacking:
        raise DemoFailure(f"{what} did not reach every node within {WAIT:.0f} s: " + "; ".join(lacking))
    for oid in object_ids:
        last = max(have[n.name][oid] for n in nodes)
        slowest = max(nodes, key=lambda n: have[n.name][oid]).name
        say(f"    {what} {oid[:12]}… stored by all {len(nodes)} nodes {last - created_ms[oid]:.0f} ms after it was "
            f"created (last: {slowest})")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="testnet/demo", description=__doc__)
    ap.add_argument("--nodes", type=int, default=5, help="how many nodes (4-8, default 5)")
    ap.add_argument("--release", action="store_true", help="use the release build (default debug: builds faster)")
    ap.add_argument("--keep", action="store_true", help="leave the testnet running at the end")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args(argv)
    if not 4 <= args.nodes <= 8:
        ap.error("--nodes must be 4..8")
    t_demo = time.time()
    try:
        net = souknet.up(args.nodes, release=args.release, degree=2, seed=args.seed)
    except TestnetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    ok = False
    try:
        run_demo(net)
        ok = True
    except (DemoFailure, TestnetError, RPCError, OSError) as e:
        print(f"\nDEMO FAILED: {e}", file=sys.stderr)
        print(f"(logs: {souknet.RUN_DIR}/*/daemon.log)", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
    finally:
        if not args.keep:
            say("\n==> stopping the testnet")
            souknet.down()
    if ok:
        say(f"\nDemo finished in {time.time() - t_demo:.0f} s: every listing, the update, the retraction and the "
            f"catch-up reached every node; one trade settled by release, one dispute by a split, and the reviews "
            f"reached every node.")
        return 0
    return 1


def run_demo(net: Net) -> None:
    rng = random.Random(11)
    adj = souknet.wait_connected(net, 30, quiet=True)
    nodes = net.nodes
    seller = nodes[0] if len(adj[0]) < len(adj[1]) else nodes[1]
    si = nodes.index(seller)
    dist = souknet.bfs(adj, si)
    far = nodes[max(dist, key=lambda i: (dist[i], i))]
    say("")
    say(f"Network: {len(nodes)} nodes, each linked to a few others (not to all):")
    for i, n in enumerate(nodes):
        say(f"    {n.name} {n.short_id}…  linked to {', '.join(nodes[j].name for j in sorted(adj[i]))}")
    say(f"The seller uses {seller.name}; the farthest node, {far.name}, is {dist[nodes.index(far)]} hops away.")

    # 1. New listings spread to everyone.
    say("")
    say(f"1. The seller lists three things on {seller.name}.")
    items = [
        {"title": "Blue city bicycle", "price": "120.00", "currency": "EUR", "category": "bikes",
         "description": "Seven gears, new tyres, a basket.", "location": "Ghent", "tags": ["bicycle", "city"]},
        {"title": "Vintage record player", "price": "85.00", "currency": "EUR", "category": "music",
         "description": "Belt drive, plays 33 and 45.", "location": "Ghent", "tags": ["vinyl"]},
        {"title": "Road atlas of Europe", "price": "6.50", "currency": "EUR", "category": "books",
         "description": "2019 edition, a few pencil marks.", "location": "Ghent", "tags": ["maps"]},
    ]
    created = []
    for it in items:
        res = seller.rpc("listing.create", it)
        created.append(res)
        say(f"    listed \"{it['title']}\" for {it['price']} EUR — listing {res['listing_id'][:12]}…, "
            f"{len(res['envelope']) // 2} signed bytes")
    created_ms = {c["object_id"]: seller.arrivals([c["object_id"]]).get(c["object_id"], time.time() * 1000)
                  for c in created}
    spread(net, nodes, [c["object_id"] for c in created], "listing", created_ms)
    hits = far.rpc("listing.search", {"query": "bicycle"})["results"]
    if not any(h["listing_id"] == created[0]["listing_id"] for h in hits):
        raise DemoFailure(f"{far.name} stores the bicycle listing but a search for \"bicycle\" does not find it")
    say(f"    On {far.name}, a search for \"bicycle\" finds \"{hits[0]['title']}\" at {hits[0]['price']} "
        f"{hits[0]['currency']}.")
    road = far.rpc("listing.search", {"query": "city bikes"})["results"]
    if road:
        say(f"    Searching \"city bikes\" finds \"{road[0]['title']}\" too (stemming and the synonym bike/bicycle).")

    # 1b. The seller's node profile: how a buyer finds the seller's node from the listing's key.
    seller.rpc("profile.set", {"display_name": "Ana's second-hand corner", "languages": ["en", "de"],
                               "addresses": [f"127.0.0.1:{seller.p2p_port}"]})
    deadline = time.time() + 10
    profile = None
    while time.time() < deadline and profile is None:
        try:
            profile = far.rpc("profile.get", {"node_id": hits[0]["seller"]})
        except souknet.RPCError:
            time.sleep(0.05)
    if profile is None:
        raise DemoFailure(f"the seller's profile did not reach {far.name}")
    say(f"    The seller signs a node profile; on {far.name} the listing's seller key leads to it: "
        f"\"{profile['display_name']}\", reachable at {', '.join(profile['addresses'])}, "
        f"speaks {', '.join(profile['languages'])}.")

    # 2. An update.
    say("")
    bike = created[0]
    say(f"2. The seller lowers the bicycle's price to 99.00 EUR on {seller.name}.")
    upd = seller.rpc("listing.update", {"listing_id": bike["listing_id"], "price": "99.00", "currency": "EUR"})
    created_ms[upd["object_id"]] = seller.arrivals([upd["object_id"]]).get(upd["object_id"], time.time() * 1000)
    spread(net, nodes, [upd["object_id"]], "update", created_ms)
    for n in nodes:
        got = n.rpc("listing.get", {"listing_id": bike["listing_id"]})
        if got["price"] != "99.00" or got["version"] != upd["version"]:
            raise DemoFailure(f"{n.name} shows the bicycle at {got['price']} (version {got['version']}), "
                              f"expected 99.00 (version {upd['version']})")
    say(f"    Every node now shows the bicycle at 99.00 EUR (version {upd['version']}).")

    # 3. A retraction.
    say("")
    player = created[1]
    say(f"3. The record player is sold elsewhere; the seller retracts it on {seller.name}.")
    ret = seller.rpc("listing.retract", {"listing_id": player["listing_id"]})
    created_ms[ret["object_id"]] = seller.arrivals([ret["object_id"]]).get(ret["object_id"], time.time() * 1000)
    spread(net, nodes, [ret["object_id"]], "retraction", created_ms)
    for n in nodes:
        try:
            n.rpc("listing.get", {"listing_id": player["listing_id"]})
            raise DemoFailure(f"{n.name} still shows the retracted record player")
        except RPCError as e:
            if "retract" not in e.message.lower():
                raise DemoFailure(f"{n.name}: unexpected answer for the retracted listing: {e.message}") from e
    say("    Every node now answers that the record player listing was retracted.")

    # 4. Catch-up after being offline.
    say("")
    candidates = [i for i in range(len(nodes)) if i != si and souknet.is_connected_without(adj, i)]
    if not candidates:
        raise DemoFailure("no node can go offline without splitting this small network")
    x = max(candidates, key=lambda i: (i != nodes.index(far), len(adj[i]), i))
    xnode = nodes[x]
    others = [n for n in nodes if n is not xnode]
    say(f"4. {xnode.name} goes offline; meanwhile the seller lists three more things.")
    souknet.stop_node(xnode)
    say(f"    {xnode.name} stopped.")
    more = []
    for k in range(3):
        res = seller.rpc("listing.create", workload.listing_fields(rng, k, seller.name))
        more.append(res)
        created_ms[res["object_id"]] = seller.arrivals([res["object_id"]]).get(res["object_id"], time.time() * 1000)
        say(f"    listed \"{res['title']}\"")
    spread(net, others, [m["object_id"] for m in more], "listing", created_ms)
    missing_bytes = sum(len(m["envelope"]) // 2 for m in more)
    say(f"    {xnode.name} comes back and reconciles its set with its peers.")
    t0 = time.time()
    souknet.start_node(net, xnode)
    want = [m["object_id"] for m in more]
    got: dict[str, int] = {}
    info: dict = {}
    deadline = time.time() + WAIT
    while time.time() < deadline:
        got.update(xnode.arrivals([i for i in want if i not in got]))
        info = xnode.rpc("node.info")
        if len(got) == len(want) and (info.get("sync") or {}).get("in_sync"):
            break
        time.sleep(0.1)
    else:
        raise DemoFailure(f"{xnode.name} did not catch up within {WAIT:.0f} s: holds {len(got)}/{len(want)} of the "
                          f"listings it missed, sync = {info.get('sync')}")
    took = time.time() - t0
    stats = xnode.rpc("node.stats")
    received = sum(stats["bytes_in"].values())
    sync = info["sync"]
    say(f"    {xnode.name} caught up {took:.2f} s after restarting (node.info: in_sync={sync['in_sync']}, "
        f"reconciled with {sync['peers_reconciled']} peer(s)).")
    dup = stats["objects"]["duplicate"]
    say(f"    It received {received:,} bytes in total for the {missing_bytes:,} bytes of listings it lacked: "
        f"{stats['objects']['new']} new objects (the {len(more)} it missed; nothing it already had)"
        + (f", plus {dup} duplicate cop{'y' if dup == 1 else 'ies'} of them fetched over a second link." if dup else "."))

    # Final check: every node holds the same set.
    say("")
    counts = {}
    for n in nodes:
        li = n.rpc("node.info")["listings"]
        counts[n.name] = (li["active"], li["retracted"])
    expected = (len(created) - 1 + len(more), 1)
    wrong = {k: v for k, v in counts.items() if v != expected}
    if wrong:
        raise DemoFailure(f"listing counts differ: expected {expected[0]} active / {expected[1]} retracted, got "
                          + ", ".join(f"{k} {v[0]}/{v[1]}" for k, v in wrong.items()))
    say(f"All {len(nodes)} nodes agree: {expected[0]} active listings, {expected[1]} retracted.")

    run_trades(net, adj, seller, bike, created[2])
    souknet.status()


def wait_for(what: str, predicate, timeout: float = WAIT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except RPCError:
            pass
        time.sleep(0.05)
    raise DemoFailure(f"{what} within {timeout:.0f} s")


def phase(node, tid: str) -> str | None:
    try:
        return node.rpc("trade.get", {"trade_id": tid})["phase"]
    except RPCError:
        return None


def run_trades(net: Net, adj, seller, bike: dict, atlas: dict) -> None:
    """5. A trade through an arbiter, settled by release. 6. A dispute settled by a split."""
    nodes = net.nodes
    si = nodes.index(seller)
    # The arbiter is a node the seller is not linked to; the buyer another one.
    arbiter = next(n for i, n in enumerate(nodes) if i != si and i not in adj[si])
    buyer = next(n for n in nodes if n not in (seller, arbiter))
    say("")
    say(f"5. A trade. {buyer.name} buys the bicycle; {arbiter.name} arbitrates (the seller is not linked to it).")
    souknet.stop_node(arbiter)
    with open(f"{arbiter.datadir}/souk.conf", "a") as conf:
        conf.write("arbiter = true\n")
    souknet.start_node(net, arbiter)
    arbiter.rpc("arbiter.register", {"display_name": "Fair Arbiter", "fee_bps": 200, "response_hours": 24,
                                     "currencies": [{"currency": "EUR", "min_fee": "0.50"}],
                                     "terms": "I rule within 3 days, on the evidence both sides send."})
    arbiter.rpc("profile.set", {"display_name": "Arbiter node", "addresses": [f"127.0.0.1:{arbiter.p2p_port}"]})
    seller.rpc("profile.set", {"arbiters": [arbiter.node_id]})
    buyer.rpc("profile.set", {"display_name": "Ben", "addresses": [f"127.0.0.1:{buyer.p2p_port}"]})
    say(f"    {arbiter.name} publishes its terms (2 %, at least 0.50 EUR, answers within 24 h) and serves as arbiter;")
    say(f"    the seller's profile now names it as an arbiter it accepts.")
    wait_for(f"{buyer.name} did not learn of the arbiter and the seller's accepted arbiters",
             lambda: buyer.rpc("arbiter.list")["items"]
             and arbiter.node_id in buyer.rpc("profile.get", {"node_id": seller.node_id})["arbiters"])
    deadlines = {"accept": 600, "arbiter_ack": 600, "payment": 600, "confirmation": 600, "fulfilment": 600,
                 "inspection": 600, "ruling": 600}
    t0 = time.time()
    order = buyer.rpc("trade.order", {"listing_id": bike["listing_id"], "rail": "bank transfer",
                                      "private_text": "Ben Baker, Veldstraat 12, Ghent", "deadlines": deadlines})
    tid = order["trade_id"]
    say(f"    {buyer.name} orders it: trade {tid[:12]}…, {order['amount']} {order['currency']} by bank transfer; "
        f"the delivery address travels sealed to the seller and the arbiter only.")
    wait_for("the seller did not receive the order", lambda: phase(seller, tid) == "ordered")
    got = seller.rpc("trade.get", {"trade_id": tid})
    say(f"    The seller has the order {(time.time() - t0) * 1000:.0f} ms later, with the address "
        f"\"{got.get('private_text')}\" (no other node holds it).")
    seller.rpc("trade.accept", {"trade_id": tid})
    wait_for("the arbiter did not acknowledge", lambda: all(phase(n, tid) == "arbiter_acknowledged"
                                                             for n in (buyer, seller, arbiter)))
    say(f"    The seller accepts; {arbiter.name} acknowledges by itself (no payment before that).")
    buyer.rpc("trade.pay", {"trade_id": tid, "reference": "transfer ref. SOUK-4711"})
    wait_for("the seller did not see the payment claim", lambda: phase(seller, tid) == "payment_claimed")
    seller.rpc("trade.confirm_payment", {"trade_id": tid})
    seller.rpc("trade.fulfil", {"trade_id": tid, "details": "handed over at the door"})
    say("    The buyer claims payment (a signed claim, not money); the seller confirms it arrived and hands the bike over.")
    wait_for("the buyer did not see the fulfilment", lambda: phase(buyer, tid) == "fulfilled")
    buyer.rpc("trade.release", {"trade_id": tid})
    wait_for("the trade did not settle at all three", lambda: all(phase(n, tid) == "settled"
                                                                  for n in (buyer, seller, arbiter)))
    res = seller.rpc("trade.get", {"trade_id": tid})["settlement"]
    say(f"    The buyer releases; the seller's node countersigns: settled at all three, "
        f"{(time.time() - t0):.1f} s after the order — {res['outcome']}, {res['seller_amount']} EUR to the seller "
        f"(no dispute, so no arbiter fee), signed by {' and '.join(res['signed_by'])}.")
    proof = seller.rpc("trade.proof", {"trade_id": tid})
    other = next(n for n in nodes if n not in (seller, buyer, arbiter))
    check = other.rpc("trade.verify_proof", {"proof": proof})
    say(f"    The settlement proof ({len(str(proof))} bytes of JSON) checks on {other.name}, which never saw the trade: "
        f"valid={check['valid']}, no address in it.")

    say("")
    say(f"6. A dispute. {buyer.name} buys the road atlas; it arrives torn.")
    t1 = time.time()
    tid2 = buyer.rpc("trade.order", {"listing_id": atlas["listing_id"], "rail": "cash on pickup",
                                     "deadlines": deadlines})["trade_id"]
    wait_for("the seller did not receive the second order", lambda: phase(seller, tid2) == "ordered")
    seller.rpc("trade.accept", {"trade_id": tid2})
    wait_for("the arbiter did not acknowledge the second trade",
             lambda: phase(buyer, tid2) == "arbiter_acknowledged")
    buyer.rpc("trade.pay", {"trade_id": tid2, "reference": "paid in cash"})
    wait_for("the seller did not see the claim", lambda: phase(seller, tid2) == "payment_claimed")
    seller.rpc("trade.fulfil", {"trade_id": tid2, "details": "picked up"})
    wait_for("the buyer did not see the fulfilment", lambda: phase(buyer, tid2) == "fulfilled")
    buyer.rpc("trade.dispute", {"trade_id": tid2, "evidence": "pages 40-60 are torn out"})
    wait_for("the arbiter did not see the dispute", lambda: phase(arbiter, tid2) == "disputed")
    say("    After pickup the buyer opens a dispute with evidence, sealed to the seller and the arbiter.")
    arbiter.rpc("trade.propose", {"trade_id": tid2, "outcome": "split", "buyer_amount": "3.00"})
    say(f"    {arbiter.name} rules: a split, 3.00 EUR back to the buyer.")
    wait_for("the buyer did not receive the ruling",
             lambda: buyer.rpc("trade.get", {"trade_id": tid2})["proposals"])
    buyer.rpc("trade.sign", {"trade_id": tid2})
    wait_for("the dispute did not settle at all three", lambda: all(phase(n, tid2) == "settled"
                                                                    for n in (buyer, seller, arbiter)))
    res2 = buyer.rpc("trade.get", {"trade_id": tid2})["settlement"]
    say(f"    The buyer signs the ruling: settled {(time.time() - t1):.1f} s after the order — buyer "
        f"{res2['buyer_amount']}, seller {res2['seller_amount']}, arbiter fee {res2['arbiter_fee']} EUR "
        f"(signed by {' and '.join(res2['signed_by'])}). The seller's signature was not needed: 2 of 3.")

    say("")
    say("7. Reviews and reputation.")
    review = None
    deadline = time.time() + 40
    while review is None:
        try:
            review = buyer.rpc("review.create", {"trade_id": tid, "rating": 5,
                                                 "text": "Exactly as described, friendly handover"})
        except RPCError as e:
            if "still learning" not in e.message or time.time() > deadline:
                raise
            time.sleep(0.5)
    seller.rpc("review.create", {"trade_id": tid, "rating": 5, "text": "Paid on time"})
    say(f"    {buyer.name} reviews the seller 5/5 (entry {review['seq']} of its hash-chained log, carrying the "
        f"settlement proof); the seller reviews the buyer.")
    wait_for("the reviews did not reach every node",
             lambda: all(n.rpc("review.list", {"subject": seller.node_id})["items"] for n in nodes))
    viewer = other
    rep = viewer.rpc("reputation.get", {"subject": seller.node_id})
    say(f"    On {viewer.name}, which never traded: the seller has {rep['reviews']} trade-backed review — "
        f"\"{rep['label']}\", no number: a ring of fakes could not show it five stars either.")
    viewer.rpc("vouch.create", {"node_id": buyer.node_id, "note": "I know Ben"})
    rep = viewer.rpc("reputation.get", {"subject": seller.node_id, "explain": True})
    c = rep["explain"]["counted"][0]
    say(f"    {viewer.name} vouches for {buyer.name}, whom it knows: now the seller scores {rep['score']:.1f} "
        f"(confidence {rep['confidence']:.2f}) — the buyer's review, trust {c['trust']:.3f}, via "
        f"{' → '.join(p[:8] for p in c['path'])}.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
