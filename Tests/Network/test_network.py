"""Multi-node behaviour with real processes on loopback: convergence with updates and retractions,
catch-up of a late node, a healed network split, and network-name separation."""

import random
import time

from conftest import connected, wait_until


def converged(nodes, expected: dict, retracted: int) -> bool:
    """Every node holds exactly `expected` (listing id -> version) and `retracted` tombstones."""
    for n in nodes:
        active, tombs = n.counts()
        if active != len(expected) or tombs != retracted:
            return False
    for n in nodes:
        got = {lid: v for lid, (v, _) in n.all_listings().items()}
        if got != expected:
            return False
    return True


def describe(nodes) -> str:
    return ", ".join(f"{n.name}: {n.counts()}" for n in nodes)


def apply_changes(author, listings: dict, rng, n_updates: int, n_retract: int, tag: str) -> set:
    """Updates some of `listings` (id -> version, mutated) and retracts others; returns retracted ids."""
    ids = list(listings)
    rng.shuffle(ids)
    for lid in ids[:n_updates]:
        r = author.rpc("listing.update", {"listing_id": lid, "price": f"{rng.randint(1, 999)}.50",
                                          "currency": "EUR", "title": f"{tag} updated {lid[:6]}"})
        listings[lid] = r["version"]
    for lid in ids[: n_updates // 3]:  # a second update for some
        r = author.rpc("listing.update", {"listing_id": lid, "quantity": 2})
        listings[lid] = r["version"]
    gone = set(ids[n_updates: n_updates + n_retract]) | set(ids[:2])  # includes updated ones
    for lid in gone:
        author.rpc("listing.retract", {"listing_id": lid})
        del listings[lid]
    return gone


def test_five_nodes_converge_on_200_listings(cluster):
    nodes = [cluster.start("n0")]
    for i in range(1, 5):
        # A ring plus one chord: n1->n0, n2->n1, n3->n2, n4->n3, n4->n0 (and n2->n0).
        connect = (nodes[i - 1].p2p,) + ((nodes[0].p2p,) if i in (2, 4) else ())
        nodes.append(cluster.start(f"n{i}", connect=connect))
    wait_until(lambda: all(len(n.ready_peers()) >= 2 for n in nodes), 20, what="every node has 2 peers")

    rng = random.Random(7)
    authors = [nodes[0], nodes[2], nodes[4]]
    expected = {}
    per_author = {a.name: {} for a in authors}
    for i in range(200):
        a = authors[i % 3]
        r = a.create_listing(f"Listing {i} by {a.name}", price=f"{i}.{i % 100:02d}", category=f"cat-{i % 7}",
                             description="word " * (i % 20), tags=[f"t{i % 5}"])
        per_author[a.name][r["listing_id"]] = 1
    retracted = 0
    for a in authors:
        retracted += len(apply_changes(a, per_author[a.name], rng, n_updates=12, n_retract=5, tag=a.name))
        expected.update(per_author[a.name])
    assert len(expected) == 200 - retracted

    t0 = time.monotonic()
    wait_until(lambda: converged(nodes, expected, retracted), 45, interval=0.5,
               what=f"5 nodes converge on {len(expected)} listings and {retracted} retractions")
    elapsed = time.monotonic() - t0
    # Spot-check bytes: the same object (version) everywhere, verbatim.
    sample = random.Random(1).sample(sorted(expected), 5)
    for lid in sample:
        envs = {n.rpc("listing.get", {"listing_id": lid})["envelope"] for n in nodes}
        assert len(envs) == 1, f"{lid} differs between nodes"
    assert elapsed < 45


def test_late_node_catches_up(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    rng = random.Random(3)
    mine_a = {a.create_listing(f"Early {i}", category="early")["listing_id"]: 1 for i in range(40)}
    mine_b = {b.create_listing(f"Early b {i}", category="early")["listing_id"]: 1 for i in range(20)}
    gone = apply_changes(a, mine_a, rng, n_updates=6, n_retract=4, tag="a")
    expected = {**mine_a, **mine_b}
    wait_until(lambda: converged([a, b], expected, len(gone)), 20, what="a and b agree")

    late = cluster.start("late", connect=(b.p2p,))
    wait_until(lambda: late.info()["sync"]["in_sync"], 20, what="the late node reports in_sync")
    wait_until(lambda: converged([a, b, late], expected, len(gone)), 20, interval=0.3,
               what="the late node has the same listing set")
    sync = late.info()["sync"]
    assert sync["peers_reconciled"] >= 1 and sync["connected_peers"] >= 1
    # Catch-up by reconciliation, not gossip: the late node received the bodies it lacked about once.
    stats = late.rpc("node.stats")
    assert stats["objects"]["new"] == len(expected) + len(gone)
    assert stats["objects"]["invalid"] == 0


def test_network_split_heals(cluster):
    a1 = cluster.start("a1")
    a2 = cluster.start("a2", connect=(a1.p2p,))
    b1 = cluster.start("b1", connect=(a1.p2p,))
    b2 = cluster.start("b2", connect=(b1.p2p, a2.p2p))
    side_a, side_b = [a1, a2], [b1, b2]
    everyone = side_a + side_b
    wait_until(lambda: connected(a1, a2) and connected(b1, b2) and connected(a1, b1) and connected(a2, b2), 20,
               what="the four links up")
    base = {a1.create_listing(f"Before split {i}")["listing_id"]: 1 for i in range(5)}
    wait_until(lambda: converged(everyone, base, 0), 15, what="agreement before the split")

    # Split: every node bans the other half (which also drops the links); nobody discovers others.
    for x in side_a:
        for y in side_b:
            x.rpc("peer.ban", {"target": y.node_id, "seconds": 600})
            y.rpc("peer.ban", {"target": x.node_id, "seconds": 600})
    wait_until(lambda: all({p["node_id"] for p in n.ready_peers()} <= {m.node_id for m in side}
                           for side in (side_a, side_b) for n in side), 10, what="the halves apart")

    expected_a, expected_b = dict(base), dict(base)
    for i in range(15):
        expected_a[a2.create_listing(f"Side A {i}")["listing_id"]] = 1
        expected_b[b1.create_listing(f"Side B {i}")["listing_id"]] = 1
    lid = next(iter(base))
    a1.rpc("listing.update", {"listing_id": lid, "title": "Updated during the split"})
    expected_a[lid] = 2
    gone = sorted(base)[-1] if sorted(base)[-1] != lid else sorted(base)[0]
    a1.rpc("listing.retract", {"listing_id": gone})
    del expected_a[gone]
    wait_until(lambda: converged(side_a, expected_a, 1), 15, what="side A agrees internally")
    wait_until(lambda: converged(side_b, expected_b, 0), 15, what="side B agrees internally")
    time.sleep(1)
    assert converged(side_b, expected_b, 0), "side B saw side A's listings during the split"
    assert converged(side_a, expected_a, 1), "side A saw side B's listings during the split"

    # Heal: lift the bans and dial across.
    for x in side_a:
        for y in side_b:
            x.rpc("peer.unban", {"target": y.node_id})
            y.rpc("peer.unban", {"target": x.node_id})
    assert not any(n.rpc("peer.bans")["bans"] for n in everyone)
    b1.rpc("peer.connect", {"address": a1.p2p})
    b2.rpc("peer.connect", {"address": a2.p2p})
    wait_until(lambda: connected(a1, b1) and connected(a2, b2), 15, what="links across the halves again")
    expected = {**expected_b, **expected_a}
    expected.pop(gone, None)
    wait_until(lambda: converged(everyone, expected, 1), 30, interval=0.3, what="the halves converge after healing")


def test_main_and_testnet_nodes_refuse_each_other(cluster):
    t = cluster.start("testnet-node", network="testnet")
    m = cluster.start("main-node", network="main", connect=(t.p2p,))

    def refusal_logged():
        return ("refused" in t.stderr_text() and '"main"' in t.stderr_text()
                and "network mismatch" in m.stderr_text())
    wait_until(refusal_logged, 15, what="both nodes log the network refusal")
    lines_t = [l for l in t.stderr_text().splitlines() if "network" in l and "refused" in l]
    lines_m = [l for l in m.stderr_text().splitlines() if "network mismatch" in l]
    assert lines_t and lines_m
    assert "testnet" in lines_t[0] and "testnet" in lines_m[0]
    assert not t.ready_peers() and not m.ready_peers()
    # A refusal over the network name is not misbehaviour: nobody is banned.
    assert not t.rpc("peer.bans")["bans"] and not m.rpc("peer.bans")["bans"]
    assert t.info()["network"] == "testnet" and m.info()["network"] == "main"
