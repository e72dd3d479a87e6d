"""Trades between real `souk daemon` processes (`Specs/trade.md`): an order, the arbiter's
acknowledgement, payment, fulfilment and settlement, with the arbiter on a node neither party is
linked to when the trade starts. Each scenario ends with buyer, seller and arbiter agreeing on
the phase and the resolution."""

from __future__ import annotations

import time

import pytest

from conftest import wait_until

SHORT = {"accept": 60, "arbiter_ack": 60, "payment": 60, "confirmation": 60, "fulfilment": 60, "inspection": 60,
         "ruling": 60}


def trade_of(node, trade_id):
    try:
        return node.rpc("trade.get", {"trade_id": trade_id})
    except Exception:
        return None


def phase(node, trade_id):
    t = trade_of(node, trade_id)
    return t and t["phase"]


def wait_phase(nodes, trade_id, want, timeout=30):
    wait_until(lambda: all(phase(n, trade_id) == want for n in nodes), timeout,
               what=f"{[n.name for n in nodes]} see trade in phase {want}: "
                    f"{[phase(n, trade_id) for n in nodes]}")


@pytest.fixture
def market(cluster):
    """r is a hub; buyer b, seller s and x link to r; the arbiter a links only to x."""
    r = cluster.start("r")
    b = cluster.start("b", connect=(r.p2p,))
    s = cluster.start("s", connect=(r.p2p,))
    x = cluster.start("x", connect=(r.p2p,))
    a = cluster.start("a", connect=(x.p2p,), extra=("--arbiter",))
    a.rpc("arbiter.register", {"display_name": "Fair Arbiter", "fee_bps": 200,
                               "currencies": [{"currency": "EUR", "min_fee": "1.00"}]})
    a.rpc("profile.set", {"display_name": "Arbiter node", "addresses": [a.p2p]})
    s.rpc("profile.set", {"display_name": "Seller", "addresses": [s.p2p], "arbiters": [a.node_id]})
    b.rpc("profile.set", {"display_name": "Buyer", "addresses": [b.p2p]})
    listing = s.create_listing("Vintage road bicycle", price="120.00", currency="EUR", category="bikes")
    wait_until(lambda: b.rpc("arbiter.list")["items"] and _has_listing(b, listing["listing_id"])
               and _has_profile(b, s.node_id), 30, what="the buyer knows the listing, the seller and the arbiter")
    return {"r": r, "b": b, "s": s, "x": x, "a": a, "listing": listing}


def _has_listing(node, lid):
    try:
        node.rpc("listing.get", {"listing_id": lid})
        return True
    except Exception:
        return False


def _has_profile(node, nid):
    try:
        node.rpc("profile.get", {"node_id": nid})
        return True
    except Exception:
        return False


def test_happy_path_settles_at_all_three(market):
    b, s, a = market["b"], market["s"], market["a"]
    order = b.rpc("trade.order", {"listing_id": market["listing"]["listing_id"], "rail": "cash on pickup",
                                  "private_text": "Musterstrasse 1, Berlin", "deadlines": SHORT})
    tid = order["trade_id"]
    assert order["phase"] == "ordered" and order["role"] == "buyer"
    wait_until(lambda: phase(s, tid) == "ordered", 20, what="the seller has the order")
    assert trade_of(s, tid)["private_text"] == "Musterstrasse 1, Berlin"
    s.rpc("trade.accept", {"trade_id": tid})
    wait_phase([b, s, a], tid, "arbiter_acknowledged")
    b.rpc("trade.pay", {"trade_id": tid, "reference": "cash at handover"})
    wait_phase([b, s, a], tid, "payment_claimed")
    s.rpc("trade.confirm_payment", {"trade_id": tid})
    s.rpc("trade.fulfil", {"trade_id": tid, "details": "handed over"})
    wait_phase([b, s, a], tid, "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    wait_phase([b, s, a], tid, "settled")
    res = {n.name: trade_of(n, tid)["settlement"] for n in (b, s, a)}
    assert res["b"] == res["s"] == res["a"], res
    assert res["b"]["outcome"] == "release" and sorted(res["b"]["signed_by"]) == ["buyer", "seller"]
    # No dispute: the arbiter did no work and takes no fee (its 2 % is owed only in a dispute).
    assert res["b"]["seller_amount"] == "120.00" and res["b"]["arbiter_fee"] == "0.00"
    proof = s.rpc("trade.proof", {"trade_id": tid})
    checked = market["r"].rpc("trade.verify_proof", {"proof": proof})
    assert checked["valid"] and checked["trade_id"] == tid
