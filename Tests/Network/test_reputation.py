"""Reviews and reputation logs between real `souk daemon` processes (`Specs/reputation.md`):
after a settled trade buyer and seller review each other and the reviews reach every node; a
third node's `reputation.get` shows no score without a trust path and explains the score once it
vouches for the buyer; a review removed from the seller's own node still reaches a new node from
the others; a log forked with a copied key is detected, and the fork proof reaches every node."""

from __future__ import annotations

import shutil
import sqlite3
import time

import pytest

from conftest import RPCError, wait_until
from test_trades import market, order_and_ack, settlement_everywhere, wait_phase  # noqa: F401 (fixture)


def review(node, tid, rating, text="", **extra):
    """review.create, retried while the node is still learning its own log from its peers."""
    deadline = time.monotonic() + 40
    while True:
        try:
            return node.rpc("review.create", dict(trade_id=tid, rating=rating, text=text, **extra))
        except RPCError as e:
            if "still learning" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def reviews_of(node, subject):
    return node.rpc("review.list", {"subject": subject})["items"]


def settle(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market)
    b.rpc("trade.pay", {"trade_id": tid})
    wait_phase([s], tid, "payment_claimed")
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait_phase([b], tid, "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    settlement_everywhere([b, s, a], tid)
    return tid


def test_reviews_spread_explain_and_survive_removal(market, cluster):
    b, s, a, r, x = market["b"], market["s"], market["a"], market["r"], market["x"]
    tid = settle(market)
    mine = review(b, tid, 5, "Exactly as described, friendly handover")
    assert mine["seq"] == 1 and mine["type"] == "review"
    review(s, tid, 4, "Paid on time")
    # One review per reviewer and trade.
    with pytest.raises(RPCError) as e:
        b.rpc("review.create", {"trade_id": tid, "rating": 1})
    assert e.value.code == -32012
    # Reviewing the arbiter needs a dispute; an unsettled or unknown trade cannot be reviewed.
    with pytest.raises(RPCError):
        b.rpc("review.create", {"trade_id": tid, "rating": 3, "arbiter": True})
    with pytest.raises(RPCError) as e:
        b.rpc("review.create", {"trade_id": "00" * 32, "rating": 3})
    assert e.value.code == -32010
    for n in (b, s, a, r, x):
        wait_until(lambda n=n: len(reviews_of(n, s.node_id)) == 1 and len(reviews_of(n, b.node_id)) == 1, 30,
                   what=f"{n.name} holds both reviews")
    got = reviews_of(x, s.node_id)[0]
    assert got["author"] == b.node_id and got["rating"] == 5 and got["trade_id"] == tid

    # A third node without a trust path sees the count and no score; after vouching for the buyer
    # it sees the buyer's review counted, with the path and a number it can recompute.
    rep = r.rpc("reputation.get", {"subject": s.node_id, "explain": True})
    assert rep["score"] is None and rep["confidence"] == 0 and rep["reviews"] == 1
    assert rep["label"] == "no trust path from you"
    r.rpc("vouch.create", {"node_id": b.node_id, "note": "I know Ben"})
    rep = r.rpc("reputation.get", {"subject": s.node_id, "explain": True})
    assert rep["score"] == 5 and 0 < rep["confidence"] < 1, rep
    counted = rep["explain"]["counted"]
    assert [c["author"] for c in counted] == [b.node_id] and counted[0]["path"] == [r.node_id, b.node_id]
    recomputed = sum(c["trust"] * c["rating"] for c in counted) / sum(c["trust"] for c in counted)
    assert abs(recomputed - rep["score"]) < 1e-9
    assert r.rpc("log.verify", {})["ok"]
    # Search carries the seller's score as this node sees it, and --min-rating filters on it.
    hits = r.rpc("listing.search", {"query": "bicycle", "min_rating": 4})["results"]
    assert [h["seller"] for h in hits] == [s.node_id] and hits[0]["seller_rating"] == 5
    with pytest.raises(RPCError) as e:
        r.rpc("listing.search", {"query": "bicycle", "min_rating": 6})
    assert e.value.code == -32602
    plain = x.rpc("listing.search", {"query": "bicycle"})["results"]
    assert plain and plain[0]["seller_rating"] is None and plain[0]["seller_reviews"] == 1
    assert x.rpc("listing.search", {"query": "bicycle", "min_rating": 1})["results"] == [], "no trust path: no score"

    # The buyer's review is removed from the seller's own node: a new node still gets it from the others.
    review_id = reviews_of(s, s.node_id)[0]["review_id"]
    s.stop()
    db = sqlite3.connect(f"{s.datadir}/souk.sqlite", timeout=5)
    with db:
        for sql in ("DELETE FROM reviews WHERE entry_id = ?", "DELETE FROM log_entries WHERE object_id = ?",
                    "DELETE FROM objects WHERE id = ?"):
            db.execute(sql, (bytes.fromhex(review_id),))
    db.close()
    s.start(connect=(r.p2p,))
    n = cluster.start("n", connect=(s.p2p, x.p2p))
    wait_until(lambda: len(reviews_of(n, s.node_id)) == 1, 30, what="the new node has the review about the seller")


def test_a_forked_log_is_detected_everywhere(market, cluster):
    """A copy of the buyer's key signs another entry 1 on a second node: every node ends with the
    fork proof, and the buyer's log is frozen there."""
    b, s, a, r, x = market["b"], market["s"], market["a"], market["r"], market["x"]
    tid = settle(market)
    review(b, tid, 5, "fine")
    for n in (s, r, x):
        wait_until(lambda n=n: len(reviews_of(n, s.node_id)) == 1, 30, what=f"{n.name} holds the review")
    # A second data dir with a copy of the buyer's key, offline: it writes its own entry 1.
    twin = cluster.node("twin")
    shutil.copyfile(f"{b.datadir}/identity.key", f"{twin.datadir}/identity.key")
    twin.node_id = b.node_id
    twin.start(extra=("--no-p2p",))
    twin.rpc("vouch.create", {"node_id": a.node_id, "note": "signed by a copy of the key"})
    twin.stop()
    twin.start(connect=(x.p2p,))
    for n in (b, s, a, r, x):
        wait_until(lambda n=n: any(f["author"] == b.node_id for f in n.rpc("log.verify", {})["forks"]), 40,
                   what=f"{n.name} holds the fork proof of the buyer's log")
    assert x.rpc("log.get", {"author": b.node_id})["forked_at"] == 1
    rep = x.rpc("reputation.get", {"subject": b.node_id})
    assert rep["forked"] is True
    # The forked author appends nothing more anywhere.
    with pytest.raises(RPCError) as e:
        b.rpc("vouch.create", {"node_id": s.node_id})
    assert e.value.code == -32012 and "forked" in str(e.value)


def test_trade_export_csv(market):
    """`souk trade export --csv`: one row per trade with its outcome and the ratings given and
    received; without --csv the command is refused (exit 4)."""
    import csv
    import io
    import subprocess
    b, s = market["b"], market["s"]
    tid = settle(market)
    review(b, tid, 5, "great")
    wait_until(lambda: reviews_of(s, s.node_id), 30, what="the seller holds the review")
    out = subprocess.run([s.binary, "--datadir", s.datadir, "trade", "export", "--csv"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    row = [r for r in rows if r["trade_id"] == tid][0]
    assert row["role"] == "seller" and row["phase"] == "settled" and row["outcome"] == "release"
    assert row["rating_received"] == "5" and row["counterparty"] == b.node_id and row["amount"] == "120.00"
    bad = subprocess.run([s.binary, "--datadir", s.datadir, "trade", "export"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 4 and "--csv" in bad.stderr
