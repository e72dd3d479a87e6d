"""Gossip and link rules of Specs/wire.md checked from the outside with the Python peer: never
echo, prune/graft, announce-then-fetch, getobjects, getaddr, link rules, quotas that are not the
peer's fault, the handshake timeout and inbound limits, and bans that survive a restart."""

import os
import socket
import struct
import time

import pytest

import soukpeer as sp
from conftest import connected, drain, wait_until


def ids_in(messages):
    """Object ids carried by objects / ihave / graft messages."""
    out = set()
    for m in messages:
        if m.type == sp.OBJECTS:
            out |= {sp.object_id(e) for e in m.envelopes}
        elif m.type in (sp.IHAVE, sp.GRAFT):
            out |= set(m.ids)
    return out


def fresh_listing(title="Python listing", **kw):
    return sp.Listing(title=title, price_minor=500, currency="EUR", category="misc", **kw)


def test_gossip_rules_never_echo_prune_graft_and_fetch(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        drain(conn, 0.3)
        # 1. Never echo: what we push is relayed to b but never sent back to us.
        x = me.listing_envelope(fresh_listing("Echo test"))
        conn.send(sp.encode_objects([x]))
        y = bytes.fromhex(a.create_listing("Made on a")["object_id"])
        seen = drain(conn, 1.0)
        assert y in ids_in(seen), "a new listing on the node must reach an eager peer"
        assert sp.object_id(x) not in ids_in(seen), "the node echoed our own object back to us"
        assert any(m.type == sp.OBJECTS and y in {sp.object_id(e) for e in m.envelopes} for m in seen), \
            "a fresh link is eager: the body should be pushed"
        wait_until(lambda: b.rpc("listing.get", {"listing_id": sp.listing_id(
            me.public, sp.Listing.decode(sp.Envelope.decode(x).payload).salt).hex()}), 10, what="x relayed to b")

        # 2. prune: the node announces instead of pushing.
        conn.send(sp.encode_prune())
        z = bytes.fromhex(a.create_listing("After prune")["object_id"])
        seen = drain(conn, 1.0)
        assert any(m.type == sp.IHAVE and z in m.ids for m in seen), "after prune, new objects come as ihave"
        assert not any(m.type == sp.OBJECTS for m in seen), "after prune, no bodies are pushed"

        # 3. graft: we get the body, and the link is eager again.
        assert [sp.object_id(e) for e in conn.fetch([z])] == [z]
        w = bytes.fromhex(a.create_listing("After graft")["object_id"])
        seen = drain(conn, 1.0)
        assert any(m.type == sp.OBJECTS and w in {sp.object_id(e) for e in m.envelopes} for m in seen)

        # 4. Announce-then-fetch: we announce an id, the node grafts it from us within the timeout.
        v_listing = fresh_listing("Announced only")
        v = me.listing_envelope(v_listing)
        conn.send(sp.encode_ihave([sp.object_id(v)]))
        g = conn.wait_for(lambda m: m.type == sp.GRAFT, 3)
        assert g.ids == [sp.object_id(v)]
        conn.send(sp.encode_objects([v]))
        vid = sp.listing_id(me.public, v_listing.salt).hex()
        for node in (a, b):
            wait_until(lambda: node.rpc("listing.get", {"listing_id": vid}), 10, what=f"{node.name} has v")
        # ... and the grafted body is not echoed back either.
        assert sp.object_id(v) not in ids_in(drain(conn, 0.5))

        # 5. An announced id we already hold is not requested.
        conn.send(sp.encode_ihave([y]))
        assert not [m for m in drain(conn, 0.6) if m.type == sp.GRAFT]
        conn.ping(3)
    finally:
        conn.close()


def test_getobjects_and_getaddr(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    created = [a.create_listing(f"Short id {i}")["object_id"] for i in range(3)]
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
    try:
        drain(conn, 0.3)
        shorts = [bytes.fromhex(c)[:16] for c in created[:2]] + [os.urandom(16)]  # one unknown
        conn.send(sp.encode_getobjects(shorts))
        m = conn.wait_for(lambda m: m.type == sp.OBJECTS, 5)
        assert {sp.object_id(e).hex() for e in m.envelopes} == set(created[:2])

        conn.send(sp.encode_getaddr())
        m = conn.wait_for(lambda m: m.type == sp.ADDR, 5)
        ports = {(h, p) for h, p, _ in m.addrs}
        assert ("127.0.0.1", b.p2p_port) in ports, f"a should share b's listening address, got {m.addrs}"
        assert all(seen <= time.time() + 5 for _, _, seen in m.addrs)
        # Addresses we send are accepted (port 0 ignored) and do not hurt the link.
        conn.send(sp.encode_addr([("127.0.0.1", 1, 0), ("192.0.2.7", 0, 1)]))
        conn.ping(8)
    finally:
        conn.close()


def test_expired_object_is_dropped_without_ban_but_field_violation_bans(cluster):
    a = cluster.start("a")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        drain(conn, 0.2)
        now = int(time.time())
        expired = fresh_listing("Expired", created_at=now - 3 * 86400, updated_at=now - 2 * 86400,
                                expires_at=now - 86400)
        future = fresh_listing("Future", created_at=now + 3600, updated_at=now + 3600, expires_at=now + 7200)
        conn.send(sp.encode_objects([me.listing_envelope(expired), me.listing_envelope(future)]))
        conn.ping(11)  # still connected: clock differences are not the peer's fault
        for l in (expired, future):
            with pytest.raises(Exception):
                a.rpc("listing.get", {"listing_id": sp.listing_id(me.public, l.salt).hex()})
        assert not a.rpc("peer.bans")["bans"]

        # A correctly signed listing that breaks a field rule (empty title) is the peer's fault.
        bad = fresh_listing("")
        conn.send(sp.encode_objects([me.listing_envelope(bad)]))
        assert conn.wait_closed(5)
        wait_until(lambda: f"node:{me.hex}" in {b["target"] for b in a.rpc("peer.bans")["bans"]}, 5,
                   what="ban after an invalid object")
    finally:
        conn.close()


@pytest.mark.parametrize("first", [sp.encode_ping(1), bytes([0x80]), sp.encode_getaddr()],
                         ids=["ping", "optional", "getaddr"])
def test_first_message_must_be_hello(cluster, first):
    a = cluster.start("a")
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, send_hello=False)
    try:
        conn.send(first)
        assert conn.wait_closed(5)
        wait_until(lambda: f"node:{conn.identity.hex}" in {b["target"] for b in a.rpc("peer.bans")["bans"]}, 5,
                   what="the peer is banned")
    finally:
        conn.close()


def test_handshake_attacks_are_cut_off(cluster):
    a = cluster.start("a")
    # A low-order (all-zero) ephemeral key.
    conn = sp.PeerConnection(sp.PeerConnection.dial("127.0.0.1", a.p2p_port), sp.Identity(), "testnet")
    conn.send_frame(b"SOUK\x01\x07testnet" + b"\x00" * 32)
    assert conn.wait_closed(5)
    conn.close()
    # An unsupported version is refused with a reason.
    conn = sp.PeerConnection(sp.PeerConnection.dial("127.0.0.1", a.p2p_port), sp.Identity(), "testnet")
    conn.send_frame(b"SOUK\x02\x07testnet" + os.urandom(32))
    reply = conn.recv_frame(5)
    assert reply[0] == 0 and b"version" in reply
    conn.close()
    # msg3 signed by a key other than the one it carries.
    conn = sp.PeerConnection(sp.PeerConnection.dial("127.0.0.1", a.p2p_port), sp.Identity(), "testnet")
    hs = sp.InitiatorHandshake(sp.Identity(), "testnet")
    conn.send_frame(hs.msg1())
    msg2 = conn.recv_frame(5)
    er = msg2[1:33]
    dh = hs.e.dh(er)
    h1 = sp.blake2b(sp.h0("testnet") + hs.e.public + er)
    k = sp.prf(dh, "souk/hs/v1/key", h1)
    sr = sp.open_(k, 0, h1, msg2[33:])[:32]
    h2 = sp.blake2b(h1 + sr)
    liar, claimed = sp.Identity(), sp.Identity()
    sig = liar.sign(b"souk/hs/v1/initiator" + h2 + claimed.public)
    conn.send_frame(sp.seal(k, 1, h2, claimed.public + sig))
    assert conn.wait_closed(5)
    conn.close()
    assert a.info()["node_id"] == a.node_id


def test_silent_and_half_open_peers_time_out_and_do_not_block_others(cluster):
    """70 connections that never finish the handshake (more than the 64 inbound slots): a good peer
    still gets in, RPC keeps working, and the silent ones are closed by the 10 s handshake timeout."""
    a = cluster.start("a")
    silent = []
    for i in range(70):
        s = socket.create_connection(("127.0.0.1", a.p2p_port), timeout=5)
        if i % 2:
            s.sendall(struct.pack(">I", 100) + b"\x00" * 10)  # a frame that never completes
        silent.append(s)
    wait_until(lambda: len(a.rpc("peer.list")["peers"]) >= 64, 10, what="the node registers the connections")
    t0 = time.monotonic()
    good = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
    try:
        good.ping(5)
        assert a.info()["node_id"] == a.node_id
        inbound = a.rpc("peer.list")["peers"]
        assert len([p for p in inbound if p["direction"] == "inbound"]) <= 64, "inbound limit exceeded"

        def all_closed():
            for s in silent:
                s.settimeout(0.05)
                try:
                    if s.recv(1) != b"":
                        return False
                except socket.timeout:
                    return False
                except OSError:
                    pass
            return True
        wait_until(all_closed, 15, interval=0.5, what="half-open connections closed")
        assert time.monotonic() - t0 < 14
        # The good peer answered pings throughout and is still connected.
        good.ping(6)
    finally:
        good.close()
        for s in silent:
            s.close()


def test_bans_persist_across_restart_and_expire(cluster):
    a = cluster.start("a")
    me = sp.Identity()
    a.rpc("peer.ban", {"target": me.hex, "seconds": 3600, "reason": "test ban"})
    a.rpc("peer.ban", {"target": "192.0.2.9", "seconds": 2})
    a.stop()
    a.start()
    bans = {b["target"]: b for b in a.rpc("peer.bans")["bans"]}
    assert bans[f"node:{me.hex}"]["reason"] == "test ban"
    with pytest.raises((sp.ConnectionClosed, TimeoutError)):
        sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, timeout=3)
    wait_until(lambda: "ip:192.0.2.9" not in {b["target"] for b in a.rpc("peer.bans")["bans"]}, 5,
               what="a short ban expires")
    assert a.rpc("peer.unban", {"target": me.hex})["removed"] is True
    sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me).close()


def test_one_link_per_node_id(cluster):
    a = cluster.start("a")
    me = sp.Identity()
    first = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        try:
            second = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, timeout=3)
            assert second.wait_closed(5), "a second link from the same node id must be closed"
            second.close()
        except sp.ConnectionClosed:
            pass
        first.ping(4)  # the older link survives
        assert [p["node_id"] for p in a.ready_peers()] == [me.hex]
        assert not a.rpc("peer.bans")["bans"], "a duplicate link is not misbehaviour"
    finally:
        first.close()


def test_short_lived_listing_expires_on_every_node(cluster):
    """Expiry is the same rule everywhere: a listing that expires in a few seconds drops out of the
    counts, search and reconciliation of every node, and reconciling does not bring it back."""
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    me = sp.Identity()
    now = int(time.time())
    short = fresh_listing("Flash sale", created_at=now, updated_at=now, expires_at=now + 4)
    lid = sp.listing_id(me.public, short.salt).hex()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        conn.send(sp.encode_objects([me.listing_envelope(short)]))
        for n in (a, b):
            wait_until(lambda: n.rpc("listing.get", {"listing_id": lid}), 3, what=f"{n.name} has the listing")
        for n in (a, b):
            wait_until(lambda: n.counts() == (0, 0), 8, what=f"{n.name} forgets the expired listing")
            assert lid not in n.all_listings()
            with pytest.raises(Exception, match="expired|not found"):
                n.rpc("listing.get", {"listing_id": lid})
        # Sending it again now is refused (expired), without a ban.
        conn.send(sp.encode_objects([me.listing_envelope(short)]))
        conn.ping(2)
        a.rpc("peer.reconcile")
        b.rpc("peer.reconcile")
        time.sleep(0.5)
        assert a.counts() == (0, 0) and b.counts() == (0, 0)
        assert not a.rpc("peer.bans")["bans"]
    finally:
        conn.close()


def test_announced_stale_body_is_not_grafted_again(cluster):
    a = cluster.start("a")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        drain(conn, 0.2)
        l1 = fresh_listing("Version one")
        v1 = me.listing_envelope(l1)
        l1.version, l1.title = 2, "Version two"
        v2 = me.listing_envelope(l1)
        conn.send(sp.encode_objects([v2]))  # the node holds version 2
        conn.ping(1)
        conn.send(sp.encode_ihave([sp.object_id(v1)]))  # we announce the older version 1
        g = conn.wait_for(lambda m: m.type == sp.GRAFT, 3)
        assert sp.object_id(v1) in g.ids
        conn.send(sp.encode_objects([v1]))  # it is stale: no change to the store
        regrafts = [m for m in drain(conn, 1.5) if m.type == sp.GRAFT and sp.object_id(v1) in m.ids]
        assert not regrafts, f"the node grafted the stale id {len(regrafts)} more times"
    finally:
        conn.close()


def test_reconcile_reply_stays_within_256_ranges(cluster):
    a = cluster.start("a")
    me = sp.Identity()
    now = int(time.time())
    # 864 listings on the node (pushed by us; one author, within the 1 000 quota).
    listings = [fresh_listing(f"Bulk {i}", created_at=now - 1000 + i, updated_at=now - 1000 + i) for i in range(864)]
    envs = [me.listing_envelope(l) for l in listings]
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        for i in range(0, len(envs), 200):
            conn.send(sp.encode_objects(envs[i:i + 200]))
        conn.ping(1, timeout=10)
        wait_until(lambda: a.counts()[0] == 864, 10, what="the node stores 864 listings")
        conn.close()
        # A fresh identity (so the node's pushes to the old one do not interleave) sends 18 fingerprint
        # ranges of 48 items each that all differ, as in a later round of a large reconciliation with
        # scattered differences; the node splits each into 16 and answers with 288 ranges.
        items = sorted((l.updated_at, sp.object_id(e)) for l, e in zip(listings, envs))
        ranges = []
        for j in range(1, 18):
            ranges.append(sp.Range(sp.Bound(items[j * 48][0], b""), "fp", fingerprint=os.urandom(16)))
        ranges.append(sp.Range(sp.INFINITY, "fp", fingerprint=os.urandom(16)))
        conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
        drain(conn, 0.3)
        conn.send(sp.encode_reconcile(ranges))
        body = None
        deadline = time.monotonic() + 5
        while body is None:
            frame = conn.recv_frame(max(0.01, deadline - time.monotonic()))
            pt = conn.session.open(frame)
            if pt[0] == sp.RECONCILE:
                body = pt
        n_ranges = sp.Reader(body[1:]).varint()
        assert n_ranges <= 256, f"the node's reconcile reply holds {n_ranges} ranges"
    finally:
        conn.close()


def test_unsolicited_done_message_does_not_claim_sync(cluster):
    a = cluster.start("a")
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
    try:
        drain(conn, 0.2)
        assert a.info()["sync"]["in_sync"] is False
        conn.send(sp.encode_reconcile([sp.Range(sp.INFINITY, "skip")]))  # "done", but nothing was started
        conn.ping(1)
        sync = a.info()["sync"]
        assert sync["in_sync"] is False and sync["peers_reconciled"] == 0, f"sync after a bare done: {sync}"
    finally:
        conn.close()
