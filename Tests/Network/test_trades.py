"""Trades between real `souk daemon` processes (`Specs/trade.md`), on one testnet of five nodes
where the arbiter sits on a node neither party is linked to when a trade starts: the happy path,
a dispute settled by a split, the default refund (seller never fulfils) and release (buyer
silent), buyer and seller settling without an offline arbiter, a party killed with -9 mid-trade,
the buyer offline when the seller fulfils (through its mailbox), a step lost at the buyer repaired
by resync, and a seller whose clock runs 5 minutes ahead. Each ends with buyer, seller and arbiter
agreeing on the phase and the resolution. Deadlines are seconds long (testnet allows that)."""

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
    """r is a hub offering mailbox service; buyer b, seller s and x link to r; the arbiter a links
    only to x. The buyer's profile names r as its mailbox."""
    r = cluster.start("r", extra=("--mailbox",))
    b = cluster.start("b", connect=(r.p2p,))
    s = cluster.start("s", connect=(r.p2p,))
    x = cluster.start("x", connect=(r.p2p,))
    a = cluster.start("a", connect=(x.p2p,), extra=("--arbiter",))
    a.rpc("arbiter.register", {"display_name": "Fair Arbiter", "fee_bps": 200,
                               "currencies": [{"currency": "EUR", "min_fee": "1.00"}]})
    a.rpc("profile.set", {"display_name": "Arbiter node", "addresses": [a.p2p]})
    s.rpc("profile.set", {"display_name": "Seller", "addresses": [s.p2p], "arbiters": [a.node_id]})
    b.rpc("profile.set", {"display_name": "Buyer", "addresses": [b.p2p], "mailboxes": [r.node_id]})
    listing = s.create_listing("Vintage road bicycle", price="120.00", currency="EUR", category="bikes")
    wait_until(lambda: b.rpc("arbiter.list")["items"] and _has_listing(b, listing["listing_id"])
               and _has_profile(b, s.node_id) and _has_profile(s, b.node_id), 30,
               what="the buyer knows the listing, the seller and the arbiter; the seller knows the buyer")
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


def settlement_everywhere(nodes, tid, timeout=30):
    """Waits until every node sees the trade settled, and returns the one resolution they agree on."""
    wait_phase(nodes, tid, "settled", timeout)
    res = [trade_of(n, tid)["settlement"] for n in nodes]
    assert all(r == res[0] for r in res), res
    return res[0]


def order_and_ack(market, deadlines=None, quantity=1):
    b, s, a = market["b"], market["s"], market["a"]
    tid = b.rpc("trade.order", {"listing_id": market["listing"]["listing_id"], "rail": "bank transfer",
                                "quantity": quantity, "deadlines": deadlines or SHORT})["trade_id"]
    wait_until(lambda: phase(s, tid) == "ordered", 20, what="the seller has the order")
    s.rpc("trade.accept", {"trade_id": tid})
    wait_phase([b, s, a], tid, "arbiter_acknowledged")
    return tid


def test_dispute_is_settled_by_a_split(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market)
    b.rpc("trade.pay", {"trade_id": tid, "reference": "IBAN transfer 42"})
    s.rpc("trade.fulfil", {"trade_id": tid, "details": "DHL 00340434"})
    wait_phase([b, s, a], tid, "fulfilled")
    b.rpc("trade.dispute", {"trade_id": tid, "evidence": "the frame is cracked"})
    wait_phase([b, s, a], tid, "disputed")
    ruling = a.rpc("trade.propose", {"trade_id": tid, "outcome": "split", "buyer_amount": "60.00"})
    assert ruling["proposals"][0]["signed_by"] == ["arbiter"]
    wait_until(lambda: trade_of(b, tid)["proposals"], 20, what="the buyer has the ruling")
    b.rpc("trade.sign", {"trade_id": tid})
    res = settlement_everywhere([b, s, a], tid)
    # In a dispute the arbiter's 2 % (of 120.00) is owed: 60.00 to the buyer, the rest to the seller.
    assert (res["outcome"], res["buyer_amount"], res["seller_amount"], res["arbiter_fee"]) == \
        ("split", "60.00", "57.60", "2.40"), res
    assert sorted(res["signed_by"]) == ["arbiter", "buyer"]
    # The arbiter publishes its record in its log (counts only: no trade ids, no amounts), and it spreads.
    wait_until(lambda: any(e["type"] == "rulings" for e in market["r"].rpc("log.get", {"author": a.node_id})["entries"]),
               30, what="the arbiter's rulings summary reached another node")
    # The seller, who did not sign, can never sign another resolution of it into a second settlement.
    with pytest.raises(Exception):
        s.rpc("trade.propose", {"trade_id": tid, "outcome": "release"})


def test_seller_never_fulfils_default_refund(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market, dict(SHORT, fulfilment=3))
    b.rpc("trade.pay", {"trade_id": tid, "reference": "paid"})
    # Nobody acts: once the fulfilment deadline passes the arbiter signs the refund, the buyer's
    # node countersigns it (it pays the buyer in full).
    res = settlement_everywhere([b, s, a], tid, timeout=40)
    assert res["outcome"] == "refund" and res["buyer_amount"] == "120.00" and res["seller_amount"] == "0.00"
    assert sorted(res["signed_by"]) == ["arbiter", "buyer"]


def test_buyer_silent_default_release(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market, dict(SHORT, inspection=3))
    b.rpc("trade.pay", {"trade_id": tid, "reference": "paid"})
    wait_phase([s], tid, "payment_claimed")
    s.rpc("trade.confirm_payment", {"trade_id": tid})
    s.rpc("trade.fulfil", {"trade_id": tid, "details": "handed over"})
    res = settlement_everywhere([b, s, a], tid, timeout=40)
    assert res["outcome"] == "release" and res["seller_amount"] == "120.00"
    assert sorted(res["signed_by"]) == ["arbiter", "seller"]


def test_arbiter_offline_buyer_and_seller_settle_alone(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market)
    a.stop()
    b.rpc("trade.pay", {"trade_id": tid, "reference": "paid"})
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait_phase([b, s], tid, "fulfilled")
    b.rpc("trade.propose", {"trade_id": tid, "outcome": "split", "buyer_amount": "20.00"})
    wait_until(lambda: trade_of(s, tid)["proposals"], 20, what="the seller has the proposal")
    s.rpc("trade.sign", {"trade_id": tid})
    res = settlement_everywhere([b, s], tid)
    assert res["outcome"] == "split" and res["buyer_amount"] == "20.00" and res["seller_amount"] == "100.00"
    # The arbiter comes back and learns the outcome (its resync reaches both parties).
    a.start(connect=(market["x"].p2p,), extra=("--arbiter",))
    a.rpc("trade.resync", {"trade_id": tid})
    assert settlement_everywhere([b, s, a], tid, timeout=40) == res


def test_party_killed_mid_trade_and_restarted(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = b.rpc("trade.order", {"listing_id": market["listing"]["listing_id"], "rail": "cash",
                                "deadlines": SHORT})["trade_id"]
    wait_until(lambda: phase(s, tid) == "ordered", 20, what="the seller has the order")
    s.kill()
    s.start(connect=(market["r"].p2p,))
    assert phase(s, tid) == "ordered", "the order survived kill -9"
    s.rpc("trade.accept", {"trade_id": tid})
    wait_phase([b, s, a], tid, "arbiter_acknowledged")
    b.kill()
    b.start(connect=(market["r"].p2p,))
    b.rpc("trade.pay", {"trade_id": tid})
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait_phase([b, s, a], tid, "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    assert settlement_everywhere([b, s, a], tid)["outcome"] == "release"


def test_offline_buyer_gets_the_fulfilment_through_its_mailbox(market):
    b, s, a, r = market["b"], market["s"], market["a"], market["r"]
    tid = order_and_ack(market)
    b.rpc("trade.pay", {"trade_id": tid})
    wait_phase([s], tid, "payment_claimed")
    b.stop()
    fulfil = s.rpc("trade.fulfil", {"trade_id": tid, "details": "left with the neighbour"})
    step = [x for x in fulfil["steps"] if x["type"] == "fulfil"][0]
    # The mailbox holds it for the buyer (the seller is not linked to the buyer now).
    wait_until(lambda: r.rpc("node.info") and _mail_held(r), 20, what="the mailbox holds mail for the buyer")
    assert step["delivered_to"][b.node_id] is None, "not delivered while the buyer is away"
    b.start(connect=(r.p2p,))
    wait_phase([b, s, a], tid, "fulfilled", timeout=40)
    wait_until(lambda: [x for x in trade_of(s, tid)["steps"] if x["object_id"] == step["object_id"]][0]
               ["delivered_to"][b.node_id] is not None, 60, what="the buyer acknowledged the fulfilment")
    b.rpc("trade.release", {"trade_id": tid})
    settlement_everywhere([b, s, a], tid)


def _mail_held(node):
    import sqlite3
    db = sqlite3.connect(f"file:{node.datadir}/souk.sqlite?mode=ro", uri=True, timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM mailbox").fetchone()[0] > 0
    finally:
        db.close()


def test_a_step_lost_at_the_buyer_is_repaired_by_resync(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market)
    b.rpc("trade.pay", {"trade_id": tid})
    s.rpc("trade.fulfil", {"trade_id": tid, "details": "sent"})
    wait_phase([b, s, a], tid, "fulfilled")
    fulfil_id = [x for x in trade_of(b, tid)["steps"] if x["type"] == "fulfil"][0]["object_id"]
    # Lose the step at the buyer: its node stops and the rows go (the seller saw it acknowledged).
    b.stop()
    import sqlite3
    db = sqlite3.connect(f"{b.datadir}/souk.sqlite", timeout=5)
    with db:
        db.execute("DELETE FROM trade_steps WHERE object_id = ?", (bytes.fromhex(fulfil_id),))
        db.execute("DELETE FROM objects WHERE id = ?", (bytes.fromhex(fulfil_id),))
    db.close()
    b.start(connect=(market["r"].p2p,))
    assert phase(b, tid) == "payment_claimed", "the buyer lost the fulfilment"
    # A resync sends digests over the links there are: wait for one (one asked with no link at
    # all is lost; the next link to a party of the trade resyncs it by itself).
    wait_until(lambda: b.ready_peers(), 20, what="the buyer is linked again")
    b.rpc("trade.resync", {"trade_id": tid})
    wait_phase([b, s, a], tid, "fulfilled", timeout=40)
    b.rpc("trade.release", {"trade_id": tid})
    settlement_everywhere([b, s, a], tid)


def test_clocks_five_minutes_apart(cluster):
    """The seller's clock runs 5 minutes ahead: its steps are accepted (within the 10-minute skew)
    and the buyer's next steps are dated after them, so nothing is refused."""
    r = cluster.start("r")
    a = cluster.start("a", connect=(r.p2p,), extra=("--arbiter",))
    s = cluster.start("s", connect=(r.p2p,), extra=("--clock-offset", "300"))
    b = cluster.start("b", connect=(r.p2p,))
    a.rpc("arbiter.register", {"display_name": "Arb", "currencies": [{"currency": "EUR"}]})
    s.rpc("profile.set", {"display_name": "Seller", "arbiters": [a.node_id], "addresses": [s.p2p]})
    listing = s.create_listing("Lamp", price="10.00")
    wait_until(lambda: b.rpc("arbiter.list")["items"] and _has_listing(b, listing["listing_id"])
               and _has_profile(b, s.node_id), 30, what="the buyer knows the listing and the arbiter")
    tid = b.rpc("trade.order", {"listing_id": listing["listing_id"], "rail": "cash", "deadlines": SHORT})["trade_id"]
    wait_until(lambda: phase(s, tid) == "ordered", 20, what="the seller has the order")
    s.rpc("trade.accept", {"trade_id": tid})
    wait_phase([b, s, a], tid, "arbiter_acknowledged")
    b.rpc("trade.pay", {"trade_id": tid})
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait_phase([b, s, a], tid, "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    assert settlement_everywhere([b, s, a], tid)["outcome"] == "release"


def test_refusals_change_nothing(market):
    b, s, a = market["b"], market["s"], market["a"]
    tid = order_and_ack(market)
    for node, method, params, code in [
        (s, "trade.pay", {"trade_id": tid}, -32012),            # only the buyer pays
        (b, "trade.accept", {"trade_id": tid}, -32012),         # only the seller accepts
        (b, "trade.fulfil", {"trade_id": tid}, -32012),
        (s, "trade.release", {"trade_id": tid}, -32012),        # only the buyer releases
        (b, "trade.confirm_payment", {"trade_id": tid}, -32012),
        (b, "trade.expire", {"trade_id": tid}, -32012),         # the deadline has not passed
        (b, "trade.get", {"trade_id": "00" * 32}, -32010),
        (b, "trade.get", {"trade_id": "xyz"}, -32602),
        (b, "trade.propose", {"trade_id": tid, "outcome": "split"}, -32602),
        (b, "trade.propose", {"trade_id": tid, "outcome": "split", "buyer_amount": "500.00"}, -32602),
        (b, "trade.propose", {"trade_id": tid, "outcome": "steal"}, -32602),
        (market["r"], "trade.accept", {"trade_id": tid}, -32010),  # not a party: it does not hold the trade
        (b, "trade.verify_proof", {"proof": {"format": "souk-settlement-proof/1", "order": "00", "accept": "00",
                                              "signatures": []}}, -32602),
    ]:
        before = phase(node, tid) if method != "trade.get" else None
        with pytest.raises(Exception) as e:
            node.rpc(method, params)
        assert getattr(e.value, "code", None) == code, (method, e.value)
        if before:
            assert phase(node, tid) == before
    # A release after a propose of refund by the same buyer is refused: it never signs two.
    b.rpc("trade.propose", {"trade_id": tid, "outcome": "refund"})
    with pytest.raises(Exception) as e:
        b.rpc("trade.release", {"trade_id": tid})
    assert getattr(e.value, "code", None) == -32013


def test_chat_about_a_listing_and_a_trade(market):
    """Messages before an order and within a trade arrive in order; contact details draw a warning
    (and are still sent); a blocked sender's messages are dropped unread."""
    b, s = market["b"], market["s"]
    lid = market["listing"]["listing_id"]
    sent = b.rpc("msg.send", {"listing_id": lid, "text": "Is it still available?"})
    assert sent["warnings"] == []
    wait_until(lambda: s.rpc("msg.list", {"listing_id": lid, "to": b.node_id})["items"], 20,
               what="the seller has the buyer's question")
    reply = s.rpc("msg.send", {"listing_id": lid, "to": b.node_id, "text": "Yes! Call me on +49 170 1234567"})
    assert reply["warnings"] and "phone" in reply["warnings"][0]
    wait_until(lambda: len(b.rpc("msg.list", {"listing_id": lid})["items"]) == 2, 20, what="the buyer has the reply")
    texts = [m["text"] for m in b.rpc("msg.list", {"listing_id": lid})["items"]]
    assert texts == ["Is it still available?", "Yes! Call me on +49 170 1234567"]
    # In a trade's conversation; then the buyer blocks the seller, whose next message is dropped.
    tid = order_and_ack(market)
    s.rpc("msg.send", {"trade_id": tid, "text": "I can hand it over on Tuesday"})
    wait_until(lambda: b.rpc("msg.list", {"trade_id": tid})["items"], 20, what="trade message arrives")
    b.rpc("msg.block", {"node_id": s.node_id})
    s.rpc("msg.send", {"trade_id": tid, "text": "spam spam spam"})
    time.sleep(3)
    assert [m["text"] for m in b.rpc("msg.list", {"trade_id": tid})["items"]] == ["I can hand it over on Tuesday"]
    with pytest.raises(Exception):
        b.rpc("msg.send", {"text": "no target"})


def test_seller_refuses_an_order_naming_an_arbiter_it_does_not_accept(market):
    b, s, a = market["b"], market["s"], market["a"]
    x = market["x"]
    # The seller's profile drops its arbiter: an order placed against the old list cannot be accepted.
    tid = b.rpc("trade.order", {"listing_id": market["listing"]["listing_id"], "rail": "cash",
                                "deadlines": SHORT})["trade_id"]
    wait_until(lambda: phase(s, tid) == "ordered", 20, what="the seller has the order")
    s.rpc("profile.set", {"arbiters": [x.node_id]})
    with pytest.raises(Exception) as e:
        s.rpc("trade.accept", {"trade_id": tid})
    assert getattr(e.value, "code", None) == -32012 and "does not accept" in str(e.value)
    s.rpc("trade.decline", {"trade_id": tid, "reason": "I changed arbiters"})
    wait_phase([b, s, a], tid, "declined")


def test_cli_shows_what_to_do_and_checks_proofs_offline(market, tmp_path):
    """`souk trade show` prints the timeline and what you can do now; `souk trade verify-proof`
    checks a proof file without a daemon and refuses a tampered one."""
    import json
    import subprocess
    b, s = market["b"], market["s"]
    tid = order_and_ack(market)

    def souk(node, *args):
        return subprocess.run([node.binary, "--datadir", node.datadir, *args], capture_output=True, text=True,
                              timeout=30)

    shown = souk(b, "trade", "show", tid)
    assert shown.returncode == 0, shown.stderr
    assert "you are the buyer; phase: arbiter_acknowledged" in shown.stdout
    assert "what you can do now:" in shown.stdout and "souk trade pay ID" in shown.stdout
    listed = souk(s, "trade", "list")
    assert listed.returncode == 0 and tid[:16] in listed.stdout
    b.rpc("trade.pay", {"trade_id": tid})
    wait_phase([s], tid, "payment_claimed")
    s.rpc("trade.fulfil", {"trade_id": tid})
    wait_phase([b], tid, "fulfilled")
    b.rpc("trade.release", {"trade_id": tid})
    wait_phase([b, s], tid, "settled")
    proof = souk(s, "trade", "proof", tid)
    assert proof.returncode == 0, proof.stderr
    path = tmp_path / "proof.json"
    path.write_text(proof.stdout)
    ok = subprocess.run([b.binary, "trade", "verify-proof", str(path)], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "valid proof" in ok.stdout and "signed by:   buyer and seller" in ok.stdout, ok
    doc = json.loads(proof.stdout)
    sig = doc["signatures"][1]
    doc["signatures"][1] = sig[:-2] + ("00" if sig[-2:] != "00" else "01")
    path.write_text(json.dumps(doc))
    bad = subprocess.run([b.binary, "trade", "verify-proof", str(path)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 4 and "bad signature" in bad.stderr, bad
    path.write_text("{not json")
    bad = subprocess.run([b.binary, "trade", "verify-proof", str(path)], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 4 and "not valid JSON" in bad.stderr, bad
