"""Addressed delivery (Specs/wire.md §15; delivery.send / delivery.status / delivery.inbox in
Specs/openrpc.json) with real daemons and the Python peer:

- a sealed body crosses a relay (A — R — B): B commits it to its inbox and its signed
  acknowledgement travels back to A; R stores nothing, is never counted as acknowledging, and
  forwards to recipients only;
- two recipients, one of them a key nobody runs: one acknowledgement, not delivered;
- the Python peer delivers to a node: the acknowledgement is B's signature over the spec's message,
  the body survives kill -9 (committed before the ack), a repeat is acknowledged again and stored once;
- an envelope body: a valid listing is acknowledged and stored, a bad signature is not acknowledged
  and not blamed (relays cannot check what they carry);
- acknowledgements the sender gets: a forged one bans, a valid one by a non-recipient or over
  another body is ignored, the recipient's own (through a relay) completes the delivery;
- a relay (one daemon between two Python peers): hops − 1, never back to the source, at most once
  per delivery id, hops 0 not forwarded, the ack forwarded verbatim; a bad ack bans, an ack for a
  delivery it never relayed is dropped;
- a malformed deliver or delivered to a node that advertises `deliver` bans;
- a peer without the `deliver` feature is never sent a delivery, not even as the only way on;
- a delivery that has expired or expires too far ahead is dropped without an ack and without blame.
"""

import json
import os
import time
from pathlib import Path

import nacl.signing
import pytest

import soukpeer as sp
from conftest import RPCError, connected, drain, wait_until

NET = "testnet"
DAY = 86400


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def deliveries(messages) -> list:
    return [m for m in messages if m.type == sp.DELIVER]


def acks_for(messages, delivery_id: bytes) -> list:
    return [m.ack for m in messages if m.type == sp.DELIVERED and m.ack and m.ack.delivery_id == delivery_id]


def banned(node) -> set:
    return {b["target"] for b in node.rpc("peer.bans")["bans"]}


def status(node, delivery_id) -> dict:
    if isinstance(delivery_id, bytes):
        delivery_id = delivery_id.hex()
    return node.rpc("delivery.status", {"delivery_id": delivery_id})


def inbox(node) -> dict:
    """delivery_id hex -> inbox item."""
    items = node.rpc("delivery.inbox", {"limit": 1000})["items"]
    out = {i["delivery_id"]: i for i in items}
    assert len(out) == len(items), f"{node.name}: one delivery id in the inbox twice: {items}"
    return out


def send(node, recipients, body: bytes, **kw) -> dict:
    params = {"recipients": [r if isinstance(r, str) else r.hex() for r in recipients], "body": body.hex()}
    params.update(kw)
    st = node.rpc("delivery.send", params)
    assert st["body_hash"] == sp.blake2b(body).hex()
    assert set(st["acknowledged"]) == set(params["recipients"])
    assert len(st["delivery_id"]) == 32
    return st


def peer_row(node, hex_id):
    rows = [p for p in node.ready_peers() if p["node_id"] == hex_id]
    return rows[0] if rows else None


def check_ack(ack: sp.Ack, delivery: sp.Delivery, node) -> None:
    """`ack` is `node`'s acknowledgement of `delivery`: its key's signature over
    "souk/ack/v1" || 00 || u8 len(net) || net || delivery_id || BLAKE2b-256(body)."""
    assert ack.delivery_id == delivery.delivery_id
    assert ack.body_hash == sp.blake2b(delivery.body)
    assert ack.recipient.hex() == node.node_id
    message = b"souk/ack/v1\x00" + bytes([len(NET)]) + NET.encode() + delivery.delivery_id + ack.body_hash
    nacl.signing.VerifyKey(bytes.fromhex(node.node_id)).verify(message, ack.signature)
    assert ack.verify(NET) and ack.matches(delivery)


def line(cluster):
    """A — R — B: R dials A, B dials R; A and B are not linked."""
    a = cluster.start("a")
    r = cluster.start("r", connect=(a.p2p,))
    b = cluster.start("b", connect=(r.p2p,))
    wait_until(lambda: connected(a, r) and connected(r, b), 15, what="a-r and r-b linked")
    assert b.node_id not in a.peer_ids() and a.node_id not in b.peer_ids()
    for x, y in ((a, r), (r, a), (r, b), (b, r)):
        assert "deliver" in peer_row(x, y.node_id)["features"], f"{y.name}'s hello lacks the deliver feature"
    return a, r, b


def fresh_listing(title="Delivered listing"):
    return sp.Listing(title=title, price_minor=1250, currency="EUR", category="misc")


# ------------------------------------------------------------------------------------------------
# a. A sealed body over a relay
# ------------------------------------------------------------------------------------------------


def test_sealed_delivery_crosses_a_relay_and_only_the_recipient_acknowledges(cluster):
    a, r, b = line(cluster)
    # A Python peer on the relay that supports delivery but is not a recipient: R forwards to
    # recipients only, so it must see nothing of it.
    watcher = sp.PeerConnection.connect("127.0.0.1", r.p2p_port, deliver=True)
    try:
        assert "deliver" in watcher.peer_features
        wait_until(lambda: peer_row(r, watcher.identity.hex), 5, what="r lists the watcher")
        drain(watcher, 0.2)

        body = os.urandom(300)
        now = int(time.time())
        st = send(a, [b.node_id], body, type="sealed")
        assert st["handed_to"] == [r.node_id], "A's only peer is R"
        assert abs(st["expires_at"] - (now + 7 * DAY)) <= 5, "default ttl is 7 days"

        got = wait_until(lambda: inbox(b).get(st["delivery_id"]), 5, what="b's inbox holds the body")
        assert got["body"] == body.hex() and got["body_hash"] == st["body_hash"] == sp.blake2b(body).hex()
        assert got["expires_at"] == st["expires_at"]
        assert abs(got["received_at"] - time.time()) <= 5

        done = wait_until(lambda: (s := status(a, st["delivery_id"]))["delivered"] and s, 5,
                          what="a sees b's acknowledgement")
        assert set(done["acknowledged"]) == {b.node_id}, "only recipients are listed"
        assert isinstance(done["acknowledged"][b.node_id], int)
        assert abs(done["acknowledged"][b.node_id] - time.time()) <= 5
        assert r.node_id not in done["acknowledged"]
        assert (done["body_hash"], done["expires_at"], done["handed_to"]) == (
            st["body_hash"], st["expires_at"], [r.node_id])

        # The relay and the sender store nothing; the body is no object anywhere.
        assert inbox(r) == {} and inbox(a) == {}
        assert list(inbox(b)) == [st["delivery_id"]]
        for n in (a, r, b):
            assert n.counts() == (0, 0), f"{n.name}: {n.counts()}"

        # A second one with an explicit ttl: acknowledged the same way.
        body2 = b"\x00second"
        st2 = send(a, [b.node_id], body2, ttl_seconds=3600)
        assert abs(st2["expires_at"] - (int(time.time()) + 3600)) <= 5
        wait_until(lambda: status(a, st2["delivery_id"])["delivered"], 5, what="second delivery acknowledged")
        assert inbox(b)[st2["delivery_id"]]["body"] == body2.hex()
        assert inbox(r) == {}

        drain(watcher, 0.5)
        watcher.ping(1)
        assert [m.name for m in watcher.received if m.type in (sp.DELIVER, sp.DELIVERED)] == []
        assert not banned(a) and not banned(r) and not banned(b)
    finally:
        watcher.close()


# ------------------------------------------------------------------------------------------------
# b. Two recipients, one unreachable
# ------------------------------------------------------------------------------------------------


def test_delivered_needs_every_recipient(cluster):
    a, r, b = line(cluster)
    nobody = sp.Identity()  # a key no node runs
    st = send(a, [b.node_id, nobody.hex], b"for two")
    wait_until(lambda: status(a, st["delivery_id"])["acknowledged"][b.node_id] is not None, 5,
               what="b acknowledges")
    wait_until(lambda: st["delivery_id"] in inbox(b), 2, what="b's inbox")
    time.sleep(0.5)  # nothing else can come: nobody runs the other key
    s = status(a, st["delivery_id"])
    assert set(s["acknowledged"]) == {b.node_id, nobody.hex}
    assert isinstance(s["acknowledged"][b.node_id], int)
    assert s["acknowledged"][nobody.hex] is None
    assert s["delivered"] is False
    assert inbox(r) == {}


# ------------------------------------------------------------------------------------------------
# c. The Python peer delivers to a node: signed ack, durable, idempotent
# ------------------------------------------------------------------------------------------------


def test_python_delivery_is_committed_before_the_ack_and_idempotent(cluster):
    b = cluster.start("b")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, identity=me, deliver=True)
    body = os.urandom(1000)
    d = sp.Delivery([bytes.fromhex(b.node_id)], body, sp.BODY_SEALED, expires=int(time.time()) + 3600)
    try:
        assert "deliver" in conn.peer_features and conn.peer_id == b.node_id
        row = wait_until(lambda: peer_row(b, me.hex), 5, what="b lists the peer")
        assert "deliver" in row["features"]
        conn.send_delivery(d)
        ack = conn.wait_ack(d.delivery_id, 5)
        # Verified with the key B proved in the handshake.
        assert ack.recipient == conn.peer_key
        check_ack(ack, d, b)
    finally:
        conn.close()

    # kill -9 at once: the body was committed before the acknowledgement was sent.
    b.kill()
    assert not b.running
    b.start()
    item = inbox(b).get(d.delivery_id.hex())
    assert item, "the acknowledged body is gone after kill -9"
    assert (item["body"], item["body_hash"], item["expires_at"]) == (body.hex(), d.body_hash.hex(), d.expires)

    # The same delivery again: acknowledged again (the same bytes: Ed25519 is deterministic), kept once.
    conn = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, identity=me, deliver=True)
    try:
        conn.send_delivery(d)
        again = conn.wait_ack(d.delivery_id, 5)
        check_ack(again, d, b)
        assert again == ack
        conn.send_delivery(d)
        check_ack(conn.wait_ack(d.delivery_id, 5), d, b)
        conn.ping(1)
    finally:
        conn.close()
    assert list(inbox(b)) == [d.delivery_id.hex()]
    assert not banned(b)


# ------------------------------------------------------------------------------------------------
# d. Envelope bodies
# ------------------------------------------------------------------------------------------------


def test_envelope_delivery_stores_valid_listing_and_ignores_invalid_one(cluster):
    b = cluster.start("b")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, identity=me, deliver=True)
    key = bytes.fromhex(b.node_id)
    try:
        drain(conn, 0.2)
        listing = fresh_listing()
        env = me.listing_envelope(listing)
        assert sp.check_object(env) is None
        d = sp.Delivery([key], env, sp.BODY_ENVELOPE)
        conn.send_delivery(d)
        check_ack(conn.wait_ack(d.delivery_id, 5), d, b)
        lid = sp.listing_id(me.public, listing.salt).hex()
        got = b.rpc("listing.get", {"listing_id": lid})
        assert got["object_id"] == sp.object_id(env).hex() and got["title"] == listing.title
        assert inbox(b) == {}, "an envelope is stored as an object, not in the sealed inbox"

        # A bad signature: not committed, not acknowledged, and the link is not blamed.
        other = fresh_listing("Badly signed")
        bad = bytearray(me.listing_envelope(other))
        bad[-1] ^= 0x01
        bad = bytes(bad)
        assert sp.check_object(bad) == "bad_signature"
        d_bad = sp.Delivery([key], bad, sp.BODY_ENVELOPE)
        conn.send_delivery(d_bad)
        drain(conn, 2.0)
        conn.ping(2)  # the link stays up
        assert acks_for(conn.received, d_bad.delivery_id) == [], "an invalid envelope was acknowledged"
        assert me.hex in b.peer_ids()
        assert b.rpc("peer.bans")["bans"] == []
        with pytest.raises(RPCError):
            b.rpc("listing.get", {"listing_id": sp.listing_id(me.public, other.salt).hex()})
        assert b.counts() == (1, 0)
        # A garbage envelope body (does not decode) is not blamed either.
        d_junk = sp.Delivery([key], b"\x01\x01junk", sp.BODY_ENVELOPE)
        conn.send_delivery(d_junk)
        drain(conn, 1.0)
        conn.ping(3)
        assert acks_for(conn.received, d_junk.delivery_id) == []
        assert b.rpc("peer.bans")["bans"] == []
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# e. Acknowledgements that reach the sender
# ------------------------------------------------------------------------------------------------


def test_forged_ack_bans_and_non_recipient_ack_is_ignored(cluster):
    a = cluster.start("a")
    third = sp.Identity()  # the recipient; no node runs it, but the test holds its key

    # The Python peer is A's only peer, so A hands it every delivery for a node it is not linked to.
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, deliver=True)
    try:
        wait_until(lambda: peer_row(a, me.hex), 5, what="a lists the peer")
        drain(conn, 0.2)
        body = os.urandom(64)
        st = send(a, [third.hex], body)
        assert st["handed_to"] == [me.hex]
        d = conn.wait_delivery(5, lambda d: d.delivery_id.hex() == st["delivery_id"])
        assert d.recipients == [third.public] and d.body == body and d.body_type == sp.BODY_SEALED
        assert d.hops == 1, "the reference sends with hops = 1"
        assert d.expires == st["expires_at"] and d.carried()
        # Forged: signed with our key but naming the recipient.
        forged = me.ack(NET, d.delivery_id, d.body_hash, recipient=third.public)
        assert not forged.verify(NET)
        conn.send_ack(forged)
        assert conn.wait_closed(5), "a link that sent a forged acknowledgement stays open"
        wait_until(lambda: f"node:{me.hex}" in banned(a), 5, what="ban after a forged acknowledgement")
        s = status(a, st["delivery_id"])
        assert s["delivered"] is False and s["acknowledged"] == {third.hex: None}
    finally:
        conn.close()

    # A correctly signed acknowledgement by a key that is not a recipient: ignored, no ban.
    me2 = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me2, deliver=True)
    try:
        wait_until(lambda: peer_row(a, me2.hex), 5, what="a lists the second peer")
        drain(conn, 0.2)
        st = send(a, [third.hex], b"second")
        assert st["handed_to"] == [me2.hex]
        d = conn.wait_delivery(5, lambda d: d.delivery_id.hex() == st["delivery_id"])
        own = me2.ack(NET, d.delivery_id, d.body_hash)
        assert own.verify(NET) and not own.matches(d)
        conn.send_ack(own)
        # The recipient's own signature over another body: ignored too.
        other_body = third.ack(NET, d.delivery_id, sp.blake2b(b"another body"))
        assert other_body.verify(NET) and not other_body.matches(d)
        conn.send_ack(other_body)
        conn.ping(1)
        time.sleep(0.3)
        s = status(a, st["delivery_id"])
        assert s["delivered"] is False and s["acknowledged"] == {third.hex: None}
        assert me2.hex not in s["acknowledged"]
        assert f"node:{me2.hex}" not in banned(a)

        # Control: the recipient's acknowledgement, passed back by us as its relay, completes it.
        conn.send_ack(third.acknowledge(NET, d))
        done = wait_until(lambda: (x := status(a, st["delivery_id"]))["delivered"] and x, 5,
                          what="the recipient's acknowledgement counts")
        assert isinstance(done["acknowledged"][third.hex], int)
        conn.ping(2)
        assert f"node:{me2.hex}" not in banned(a)
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# Relay rules, observed from both sides of one daemon
# ------------------------------------------------------------------------------------------------


def test_relay_forwards_once_with_one_hop_less_and_routes_the_ack_back(cluster):
    r = cluster.start("r")
    src_id, dst_id = sp.Identity(), sp.Identity()
    src = sp.PeerConnection.connect("127.0.0.1", r.p2p_port, identity=src_id, deliver=True)
    dst = sp.PeerConnection.connect("127.0.0.1", r.p2p_port, identity=dst_id, deliver=True)
    try:
        wait_until(lambda: {src_id.hex, dst_id.hex} <= r.peer_ids(), 5, what="both peers on r")
        drain(src, 0.2)
        drain(dst, 0.2)

        # Addressed to dst and to src itself: forwarded to dst with hops - 1, never back to src.
        d = sp.Delivery([dst_id.public, src_id.public], b"relay me", sp.BODY_SEALED, hops=2,
                        expires=int(time.time()) + 600)
        src.send_delivery(d)
        got = dst.wait_delivery(5, lambda x: x.delivery_id == d.delivery_id)
        assert got == d.forwarded() and got.hops == 1
        assert inbox(r) == {}
        # The recipient's ack goes back on the link the delivery came from, verbatim.
        ack = dst_id.acknowledge(NET, got)
        dst.send_ack(ack)
        assert src.wait_ack(d.delivery_id, 5) == ack
        drain(src, 0.5)
        assert deliveries(src.received) == [], "the relay sent the delivery back to its source"

        # The same delivery id again (even with hops left): not forwarded a second time.
        src.send_delivery(d)
        d1 = sp.Delivery([dst_id.public], b"once", hops=1, expires=d.expires)
        src.send_delivery(d1)
        got1 = dst.wait_delivery(5, lambda x: x.delivery_id == d1.delivery_id)
        assert got1.hops == 0 and got1.body == b"once"
        # hops 0: a relay does not forward it.
        d0 = sp.Delivery([dst_id.public], b"no hops", hops=0, expires=d.expires)
        src.send_delivery(d0)
        src.ping(1)
        drain(dst, 0.8)
        forwarded = [m.delivery.delivery_id for m in deliveries(dst.received)]
        assert forwarded.count(d.delivery_id) == 1, "a relay forwarded one delivery id twice"
        assert d0.delivery_id not in forwarded, "a relay forwarded a delivery with hops 0"
        assert forwarded == [d.delivery_id, d1.delivery_id]

        # An ack with a valid signature for a delivery r never relayed: dropped, nobody blamed.
        stray = sp.Delivery([dst_id.public], b"never sent", expires=d.expires)
        dst.send_ack(dst_id.acknowledge(NET, stray))
        dst.ping(2)
        drain(src, 0.5)
        assert acks_for(src.received, stray.delivery_id) == []
        assert not banned(r)

        # A bad signature on an ack the relay would route: ban.
        forged = dst_id.ack(NET, d1.delivery_id, d1.body_hash, recipient=src_id.public)
        dst.send_ack(forged)
        assert dst.wait_closed(5), "a relay kept a link that sent a forged acknowledgement"
        wait_until(lambda: f"node:{dst_id.hex}" in banned(r), 5, what="ban after a forged ack at a relay")
        src.ping(3)
        drain(src, 0.3)
        assert acks_for(src.received, d1.delivery_id) == [], "a relay forwarded a forged acknowledgement"
        assert f"node:{src_id.hex}" not in banned(r)
    finally:
        src.close()
        dst.close()


# ------------------------------------------------------------------------------------------------
# f. Malformed delivery messages
# ------------------------------------------------------------------------------------------------


def test_malformed_delivery_messages_ban(cluster):
    wire = json.loads((Path(__file__).resolve().parents[2] / "Specs" / "vectors" / "wire.json").read_text())
    vec = {m["name"]: bytes.fromhex(m["hex"]) for m in wire["invalid_messages"]}
    a = cluster.start("a")
    good_ack = sp.Identity().ack(NET, bytes(16), bytes(32))
    cases = [
        ("4 recipients", vec["deliver-four-recipients"]),
        ("empty body", vec["deliver-empty-body"]),
        ("hops 3", sp.Delivery([bytes(32)], b"x", hops=3).encode()),
        ("duplicate recipients", sp.Delivery([bytes(32), bytes(32)], b"x").encode()),
        ("body type 3", sp.Delivery([bytes(32)], b"x", body_type=3).encode()),
        ("trailing byte", sp.Delivery([bytes(32)], b"x").encode() + b"\x00"),
        ("short delivered", good_ack.encode()[:-1]),
    ]
    for name, raw in cases:
        with pytest.raises(sp.DecodeError):
            sp.decode_message(raw)
        me = sp.Identity()
        conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, deliver=True)
        try:
            assert "deliver" in conn.peer_features, "the node's hello lacks the deliver feature"
            wait_until(lambda: peer_row(a, me.hex), 5, what="a lists the peer")
            conn.send(raw)
            assert conn.wait_closed(5), f"malformed {name}: link not closed"
            wait_until(lambda: f"node:{me.hex}" in banned(a), 5, what=f"ban after a malformed {name}")
        finally:
            conn.close()
    # The node still serves well-behaved peers, and a well-formed ack nobody asked for costs nothing.
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, deliver=True)
    try:
        conn.send_ack(good_ack)
        conn.ping(1)
        assert f"node:{conn.identity.hex}" not in banned(a)
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# g. Peers without the feature
# ------------------------------------------------------------------------------------------------


def test_peer_without_deliver_feature_is_never_sent_a_delivery(cluster):
    a = cluster.start("a")
    plain_id = sp.Identity()
    plain = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=plain_id)  # features: prune-trees
    try:
        assert "deliver" not in plain.features
        row = wait_until(lambda: peer_row(a, plain_id.hex), 5, what="a lists the plain peer")
        assert row["features"] == ["prune-trees"]
        drain(plain, 0.2)
        # It is A's only link: to itself as recipient, and to a key only it could pass on to.
        nobody = sp.Identity()
        st1 = send(a, [plain_id.hex], b"to the plain peer")
        st2 = send(a, [nobody.hex], b"to someone behind it")
        assert st1["handed_to"] == [] and st2["handed_to"] == []
        drain(plain, 1.0)
        plain.ping(1)
        assert deliveries(plain.received) == []
        for st in (st1, st2):
            s = status(a, st["delivery_id"])
            assert s["handed_to"] == [] and s["delivered"] is False

        # Control: a peer with the feature is handed the next one; the plain peer still gets nothing.
        capable = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, deliver=True)
        try:
            wait_until(lambda: peer_row(a, capable.identity.hex), 5, what="a lists the capable peer")
            st3 = send(a, [nobody.hex], b"third")
            assert st3["handed_to"] == [capable.identity.hex]
            capable.wait_delivery(5, lambda d: d.delivery_id.hex() == st3["delivery_id"])
            st4 = send(a, [plain_id.hex], b"fourth")
            assert plain_id.hex not in st4["handed_to"]
            drain(plain, 0.5)
            assert deliveries(plain.received) == []
        finally:
            capable.close()
    finally:
        plain.close()

    # Behind a relay: A — R — plain. R has the feature and relays, but never to the plain peer.
    r = cluster.start("r", connect=(a.p2p,))
    wait_until(lambda: connected(a, r), 15, what="a and r linked")
    plain_id2 = sp.Identity()
    plain = sp.PeerConnection.connect("127.0.0.1", r.p2p_port, identity=plain_id2)
    try:
        wait_until(lambda: peer_row(r, plain_id2.hex), 5, what="r lists the plain peer")
        drain(plain, 0.2)
        st = send(a, [plain_id2.hex], b"via the relay")
        assert st["handed_to"] == [r.node_id]
        drain(plain, 1.0)
        plain.ping(2)
        assert deliveries(plain.received) == []
        assert status(a, st["delivery_id"])["delivered"] is False
    finally:
        plain.close()


# ------------------------------------------------------------------------------------------------
# Expiry window (§15.2 rule 1)
# ------------------------------------------------------------------------------------------------


def test_expired_or_too_distant_delivery_is_dropped_without_blame(cluster):
    b = cluster.start("b")
    conn = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, deliver=True)
    key = bytes.fromhex(b.node_id)
    try:
        drain(conn, 0.2)
        now = int(time.time())
        past = sp.Delivery([key], b"too late", expires=now - 60)
        far = sp.Delivery([key], b"too early", expires=now + 30 * DAY + 600 + 300)
        for d in (past, far):
            conn.send_delivery(d)
        conn.ping(1)
        drain(conn, 1.0)
        assert acks_for(conn.received, past.delivery_id) == [] and acks_for(conn.received, far.delivery_id) == []
        assert inbox(b) == {}
        # 30 days ahead is fine.
        ok = sp.Delivery([key], b"in time", expires=int(time.time()) + 30 * DAY)
        conn.send_delivery(ok)
        check_ack(conn.wait_ack(ok.delivery_id, 5), ok, b)
        assert list(inbox(b)) == [ok.delivery_id.hex()]
        assert not banned(b)
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# RPC parameters (Specs/openrpc.json)
# ------------------------------------------------------------------------------------------------


def test_delivery_rpc_parameters(cluster):
    a = cluster.start("a")
    ids = [sp.Identity().hex for _ in range(4)]
    bad = [
        {"recipients": [], "body": "00"},
        {"recipients": ids, "body": "00"},  # 4
        {"recipients": [ids[0], ids[0]], "body": "00"},  # not distinct
        {"recipients": ["zz" * 32], "body": "00"},
        {"recipients": [ids[0][:62]], "body": "00"},
        {"recipients": [ids[0]], "body": ""},
        {"recipients": [ids[0]], "body": "0"},
        {"recipients": [ids[0]], "body": "00" * 65_537},
        {"recipients": [ids[0]], "body": "00", "type": "listing"},
        {"recipients": [ids[0]], "body": "00", "ttl_seconds": 59},
        {"recipients": [ids[0]], "body": "00", "ttl_seconds": 30 * DAY + 1},
    ]
    for params in bad:
        with pytest.raises(RPCError) as exc:
            a.rpc("delivery.send", params)
        assert exc.value.code == -32602, (params if len(str(params)) < 300 else "65537-byte body", exc.value)
    st = send(a, ids[:3], b"\x00" * 65_536, type="envelope", ttl_seconds=30 * DAY)
    assert st["handed_to"] == [] and st["delivered"] is False
    assert status(a, st["delivery_id"]) == st
    with pytest.raises(RPCError) as exc:
        status(a, "00" * 16)
    assert exc.value.code == -32009 and exc.value.data["delivery_id"] == "00" * 16
    for wrong in ("00" * 15, "xy" * 16):
        with pytest.raises(RPCError) as exc:
            status(a, wrong)
        assert exc.value.code == -32602
    for limit in (0, 1001):
        with pytest.raises(RPCError) as exc:
            a.rpc("delivery.inbox", {"limit": limit})
        assert exc.value.code == -32602
    assert a.rpc("delivery.inbox") == {"items": []}


# ------------------------------------------------------------------------------------------------
# An acknowledgement names the exact body committed (§15.1, §15.2 rule 2)
# ------------------------------------------------------------------------------------------------


def test_ack_always_names_the_body_the_inbox_holds(cluster):
    """Another body under a delivery id already held is never acknowledged (wire.md §15.2 rule 2)."""
    b = cluster.start("b")
    key = bytes.fromhex(b.node_id)
    conn = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, deliver=True)
    try:
        first = sp.Delivery([key], b"body one")
        conn.send_delivery(first)
        check_ack(conn.wait_ack(first.delivery_id, 5), first, b)
        # The same delivery id with another body (a relay cannot tell them apart).
        second = sp.Delivery([key], b"body two", delivery_id=first.delivery_id, expires=first.expires)
        conn.send_delivery(second)
        conn.ping(1)
        drain(conn, 1.0)
        acks = acks_for(conn.received, first.delivery_id)  # the first one's and any later
        held = inbox(b)[first.delivery_id.hex()]
        assert len(inbox(b)) == 1
        assert acks, "the first delivery was acknowledged"
        for ack in acks:
            assert ack.body_hash.hex() == held["body_hash"], (
                f"acknowledged body {ack.body_hash.hex()} but committed {held['body_hash']}")
        assert held["body"] == b"body one".hex()
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# A recipient forwards to its co-recipients (§15.2 rule 3)
# ------------------------------------------------------------------------------------------------


def test_recipient_forwards_to_co_recipients(cluster):
    """A — R — B with recipients [R, B]: R commits and acknowledges, then hands it on to B."""
    a, r, b = line(cluster)
    body = b"for both of you"
    st = send(a, [r.node_id, b.node_id], body)
    assert st["handed_to"] == [r.node_id], "B is not connected to A: only R gets it"

    def both():
        acks = a.rpc("delivery.status", {"delivery_id": st["delivery_id"]})["acknowledged"]
        return all(acks.values())

    wait_until(both, 10, what="R and B both acknowledged")
    status = a.rpc("delivery.status", {"delivery_id": st["delivery_id"]})
    assert status["delivered"] is True
    for node in (r, b):
        held = inbox(node)[st["delivery_id"]]
        assert held["body"] == body.hex()
    assert inbox(a) == {}
