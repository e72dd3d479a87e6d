"""The independent Python peer (soukpeer.py) against real nodes: handshake both ways, hello,
keep-alive, gossip in both directions, reconciliation, and the network-name refusal."""

import socket
import threading
import time

import pytest

import soukpeer as sp
from conftest import connected, wait_until


def listing_hexes(envelopes):
    """{object id hex: decoded Listing} for listing envelopes (signatures checked)."""
    out = {}
    for e in envelopes:
        env = sp.Envelope.decode(e)
        assert env.verify(), "the node sent an envelope whose signature does not verify"
        if env.kind == sp.KIND_LISTING:
            out[sp.object_id(e).hex()] = (env, sp.Listing.decode(env.payload))
    return out


def wait_for_object(conn, oid: bytes, timeout=5.0) -> bytes:
    """Waits until the node pushes (objects) or announces (ihave) `oid`; returns its envelope."""
    deadline = time.monotonic() + timeout
    while True:
        m = conn.wait_for(lambda m: m.type in (sp.OBJECTS, sp.IHAVE), max(0.01, deadline - time.monotonic()))
        if m.type == sp.OBJECTS:
            for e in m.envelopes:
                if sp.object_id(e) == oid:
                    return e
        elif oid in m.ids:
            return conn.fetch([oid], timeout=max(0.5, deadline - time.monotonic()))[0]


def test_handshake_hello_gossip_and_injection(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")

    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, network="testnet")
    try:
        # The responder proved the node id that `souk init` printed.
        assert conn.peer_id == a.node_id
        port, agent, t = conn.peer_hello
        assert port == a.p2p_port
        assert agent.startswith("souk/")
        assert abs(t - time.time()) < 60
        conn.ping(12345)
        wait_until(lambda: me.hex in a.peer_ids(), 5, what="the node lists the Python peer")
        row = next(p for p in a.ready_peers() if p["node_id"] == me.hex)
        assert row["direction"] == "inbound" and row["user_agent"] == "soukpeer.py/0.1"

        # Gossip from the node: a listing created by RPC reaches us as objects (or ihave).
        created = a.create_listing("Blue bicycle", price="120.00", category="bikes", tags=["bike", "blue"])
        env_bytes = wait_for_object(conn, bytes.fromhex(created["object_id"]))
        env = sp.Envelope.decode(env_bytes)
        assert env.verify() and env.signer.hex() == a.node_id
        listing = sp.Listing.decode(env.payload)
        assert (listing.title, listing.price_minor, listing.currency, listing.tags) == (
            "Blue bicycle", 12000, "EUR", ["bike", "blue"])
        assert sp.listing_id(env.signer, listing.salt).hex() == created["listing_id"]
        assert env_bytes.hex() == created["envelope"]

        # Injection: a listing signed by our own key is stored by a and relayed to b.
        mine = sp.Listing(title="Python-made lamp", price_minor=2500, currency="EUR", category="home",
                          description="Signed in Python.\nTwo lines.", country="DE", condition=1, tags=["lamp"])
        envelope = me.listing_envelope(mine)
        lid = sp.listing_id(me.public, mine.salt).hex()
        conn.send(sp.encode_objects([envelope]))
        for node in (a, b):
            got = wait_until(lambda: node.rpc("listing.get", {"listing_id": lid}), 10,
                             what=f"{node.name} stores the injected listing")
            assert got["object_id"] == sp.object_id(envelope).hex()
            assert got["envelope"] == envelope.hex(), "the node must keep the signed bytes verbatim"
            assert got["seller"] == me.hex and got["price"] == "25.00" and got["condition"] == "like-new"

        # An update (version 2) and a retraction from the Python peer propagate too.
        mine.version, mine.updated_at, mine.title = 2, mine.updated_at + 1, "Python-made lamp, cheaper"
        conn.send(sp.encode_objects([me.listing_envelope(mine)]))
        wait_until(lambda: b.rpc("listing.get", {"listing_id": lid})["version"] == 2, 10, what="update on b")
        conn.send(sp.encode_objects([me.retraction_envelope(mine.salt)]))

        def retracted_on_b():
            try:
                b.rpc("listing.get", {"listing_id": lid})
                return False
            except Exception as e:  # RPCError: listing retracted
                return "retracted" in str(e)
        wait_until(retracted_on_b, 10, what="retraction on b")
        # The link stays up: valid traffic is not punished.
        conn.ping(99)
        assert me.hex not in {x["target"].split(":", 1)[1] for x in a.rpc("peer.bans")["bans"]}
    finally:
        conn.close()


def test_reconciliation_with_fingerprints(cluster):
    """The Python peer holds 36 of a node's 40 listings and reconciles: the node's fingerprint
    splits and our id lists must lead it to send exactly the 4 we lack."""
    a = cluster.start("a")
    created = [a.create_listing(f"Item number {i}", price=f"{i}.00", category="stuff") for i in range(40)]
    envelopes = [bytes.fromhex(c["envelope"]) for c in created]
    decoded = listing_hexes(envelopes)
    items = [(l.updated_at, bytes.fromhex(oid)) for oid, (_, l) in decoded.items()]
    items.sort()
    lacking = {items[3][1], items[17][1], items[30][1], items[39][1]}
    held = [i for i in items if i[1] not in lacking]

    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
    try:
        got = conn.reconcile_all(held, timeout=10)
        assert {sp.object_id(e) for e in got} == lacking
        assert any(r.mode == "fp" for m in conn.received if m.type == sp.RECONCILE for r in m.ranges), \
            "expected the node to answer our fingerprint with split fingerprints"
        # An empty store gets everything.
        got_all = conn.reconcile_all([], timeout=10)
        assert {sp.object_id(e) for e in got_all} == {i[1] for i in items}
    finally:
        conn.close()


def test_node_dials_python_responder(cluster):
    """The node dials us (peer.connect): we answer the handshake as responder, and the node, as
    the outbound side, starts reconciliation; we fetch its listings by getobjects."""
    a = cluster.start("a")
    created = {a.create_listing(f"Thing {i}", category="things")["object_id"] for i in range(5)}

    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(10)
    port = srv.getsockname()[1]
    me = sp.Identity()
    result = {}

    def serve():
        try:
            sock, _ = srv.accept()
            conn = sp.PeerConnection(sock, me, "testnet")
            result["conn"] = conn
            conn.handshake_responder(10)
            conn.send(sp.encode_hello(port, "soukpeer.py/0.1"))
            result["hello"] = conn.expect_hello(10)
            rec = sp.Reconciler([])
            m = conn.wait_for(lambda m: m.type == sp.RECONCILE, 10)
            reply, need, have = rec.process(m.ranges)
            if need:
                conn.send(sp.encode_getobjects(need))
            conn.send(sp.encode_reconcile(reply or [sp.Range(sp.INFINITY, "skip")]))
            got = set()
            deadline = time.monotonic() + 10
            while len(got) < 5 and time.monotonic() < deadline:
                m = conn.wait_for(lambda m: m.type in (sp.OBJECTS, sp.RECONCILE), deadline - time.monotonic())
                if m.type == sp.OBJECTS:
                    got |= {sp.object_id(e).hex() for e in m.envelopes}
                elif not all(r.mode == "skip" for r in m.ranges):
                    reply, need, _ = rec.process(m.ranges)
                    if need:
                        conn.send(sp.encode_getobjects(need))
                    conn.send(sp.encode_reconcile(reply or [sp.Range(sp.INFINITY, "skip")]))
            result["got"] = got
        except Exception as e:  # reported by the main thread
            result["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        a.rpc("peer.connect", {"address": f"127.0.0.1:{port}"})
        t.join(25)
        assert not t.is_alive(), "responder thread did not finish"
        assert "error" not in result, repr(result.get("error"))
        assert result["conn"].peer_id == a.node_id
        assert result["hello"][0] == a.p2p_port
        assert result["got"] == created
        row = wait_until(lambda: [p for p in a.ready_peers() if p["node_id"] == me.hex], 5, what="peer listed")
        assert row[0]["direction"] == "outbound"
        wait_until(lambda: a.info()["sync"]["in_sync"], 10, what="node reconciled with the Python peer")
    finally:
        srv.close()
        if "conn" in result:
            result["conn"].close()


def test_python_peer_on_wrong_network_is_refused(cluster):
    a = cluster.start("a")
    with pytest.raises(sp.HandshakeRefused) as exc:
        sp.PeerConnection.connect("127.0.0.1", a.p2p_port, network="main")
    assert "network" in exc.value.reason and "testnet" in exc.value.reason
    wait_until(lambda: "network" in a.stderr_text() and "\"main\"" in a.stderr_text(), 5,
               what="the node logs the network mismatch")
    assert a.info()["network"] == "testnet"
