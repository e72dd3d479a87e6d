"""Object kinds across releases (Specs/wire.md §5, §8.1, §10, §11; Specs/objects.md §6, §9a, §10.2),
checked with the Python peer against real nodes:

- a peer whose hello has no extension (an older release: kinds 1 and 2) gets listings but never a
  node-profile (kind 3): not pushed, not announced, not answered to graft or getobjects, and not in
  reconciliation, whichever side starts it;
- a peer that advertises kinds 1, 2 and 3 gets the node's profile, by gossip and by reconciliation;
- the hello extension: kinds and features the node does not know and bytes after the extension are
  accepted, a broken extension is malformed (ban);
- an object of a kind the node does not know is dropped without a ban, and nothing is stored;
- a profile signed in Python reaches a second node (profile.get); one that breaks a §9a rule bans
  the sender; replacements beyond the per-(kind, signer) quota are dropped without a ban.
"""

import dataclasses
import socket
import threading
import time

import pytest

import soukpeer as sp
from conftest import RPCError, connected, drain, wait_until

PROFILE_KEYS = {"node_id", "display_name", "version", "addresses", "mailboxes", "arbiters", "languages",
                "object_id", "updated_at", "expires_at"}


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


def kinds_received(messages) -> set:
    """Kind bytes of every envelope in the objects messages."""
    return {e[1] for m in messages if m.type == sp.OBJECTS for e in m.envelopes}


def ids_offered(messages) -> set:
    """Object ids pushed or announced, and short ids offered in reconcile id lists."""
    out = set()
    for m in messages:
        if m.type == sp.OBJECTS:
            out |= {sp.object_id(e) for e in m.envelopes}
            out |= {sp.object_id(e)[:16] for e in m.envelopes}
        elif m.type == sp.IHAVE:
            out |= set(m.ids) | {i[:16] for i in m.ids}
        elif m.type == sp.RECONCILE:
            out |= {i for r in m.ranges if r.mode == "ids" for i in r.ids}
    return out


def peer_row(node, hex_id):
    rows = [p for p in node.ready_peers() if p["node_id"] == hex_id]
    return rows[0] if rows else None


def banned(node) -> set:
    return {b["target"] for b in node.rpc("peer.bans")["bans"]}


def my_listing_ids(node) -> set:
    """Object ids of the node's own listings (listing.mine), checked against listing.search."""
    mine = {bytes.fromhex(l["object_id"]) for l in node.rpc("listing.mine")["listings"]}
    assert mine == {bytes.fromhex(oid) for _, oid in node.all_listings().values()}
    return mine


def reconcile_answer(conn, ranges, timeout=5.0):
    """Sends one reconcile message; returns (the node's reconcile reply, objects it pushed meanwhile)."""
    conn.send(sp.encode_reconcile(ranges))
    pushed = []
    while True:
        m = conn.wait_for(lambda m: m.type in (sp.RECONCILE, sp.OBJECTS), timeout)
        if m.type == sp.OBJECTS:
            pushed += m.envelopes
        else:
            return m, pushed


def fresh_listing(title="Python listing", **kw):
    return sp.Listing(title=title, price_minor=500, currency="EUR", category="misc", **kw)


def check_profile_json(j: dict, env: bytes, profile: sp.NodeProfile, signer_hex: str) -> None:
    """An RPC profile object against the envelope and fields it must describe."""
    assert PROFILE_KEYS <= set(j), f"profile JSON lacks {PROFILE_KEYS - set(j)}"
    assert j["node_id"] == signer_hex
    assert j["object_id"] == sp.object_id(env).hex()
    assert (j["display_name"], j["version"], j["updated_at"], j["expires_at"]) == (
        profile.display_name, profile.version, profile.updated_at, profile.expires_at)
    assert j["addresses"] == profile.addresses and j["languages"] == profile.languages
    assert j["mailboxes"] == [m.hex() for m in profile.mailboxes]
    assert j["arbiters"] == [a.hex() for a in profile.arbiters]
    if "envelope" in j:
        assert j["envelope"] == env.hex(), "the node must keep the signed bytes verbatim"


# ------------------------------------------------------------------------------------------------
# a. A peer of an older release (hello without the extension) never gets kind 3
# ------------------------------------------------------------------------------------------------


def test_legacy_hello_gets_listings_but_never_profiles(cluster):
    a = cluster.start("a")
    early = [bytes.fromhex(a.create_listing(f"Made before the link {i}")["object_id"]) for i in range(2)]
    first_profile = a.rpc("profile.set", {"display_name": "Alice"})
    assert PROFILE_KEYS <= set(first_profile) and first_profile["display_name"] == "Alice"
    profile_ids = {bytes.fromhex(first_profile["object_id"])}

    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, legacy_hello=True)
    try:
        # The node's own hello carries the extension: this release supports kinds 1, 2, 3.
        assert conn.peer_hello_msg.kinds is not None, "the node's hello has no kinds/features extension"
        assert {1, 2, 3} <= set(conn.peer_kinds) and "prune-trees" in conn.peer_features
        assert conn.common_kinds == [1, 2]
        # ... and it understood ours as "kinds 1 and 2, no features".
        row = wait_until(lambda: peer_row(a, me.hex), 5, what="the node lists the legacy peer")
        assert row["kinds"] == ["listing", "listing-retraction"] and row["features"] == []

        # Gossip still works: a new listing reaches us (pushed or announced).
        drain(conn, 0.3)
        l1 = bytes.fromhex(a.create_listing("After the link")["object_id"])
        env = wait_for_object(conn, l1)
        assert sp.Envelope.decode(env).kind == sp.KIND_LISTING

        # A profile update after the link came up is neither pushed nor announced to us; a listing
        # created after it arrives (gossip keeps order per link, so the profile would have come first).
        second = a.rpc("profile.set", {"display_name": "Alice", "languages": ["en"]})
        assert second["version"] == 2 and second["languages"] == ["en"]
        profile_ids.add(bytes.fromhex(second["object_id"]))
        marker = bytes.fromhex(a.create_listing("Marker after the profile")["object_id"])
        wait_for_object(conn, marker)
        drain(conn, 1.0)

        listings = my_listing_ids(a)
        assert listings == set(early) | {l1, marker}

        # graft and getobjects do not serve kind 3 to this peer either: only the listings come back.
        conn.send(sp.encode_getobjects([p[:16] for p in profile_ids] + [early[0][:16]]))
        m = conn.wait_for(lambda m: m.type == sp.OBJECTS, 5)
        assert {sp.object_id(e) for e in m.envelopes} == {early[0]}
        conn.send(sp.encode_graft(sorted(profile_ids) + [early[1]]))
        m = conn.wait_for(lambda m: m.type == sp.OBJECTS, 5)
        assert {sp.object_id(e) for e in m.envelopes} == {early[1]}

        # Reconciliation from an empty set: the node sends exactly its listings.
        got = conn.reconcile_all([], timeout=10)
        assert {sp.object_id(e) for e in got} == listings
        assert {e[1] for e in got} == {sp.KIND_LISTING}
        # Its set for this link is the listings alone: one fingerprint of them is equal (done at once;
        # with the profile in the set it would differ and the node would answer with an id list).
        reply, pushed = reconcile_answer(conn, [sp.Range(sp.INFINITY, "fp", fingerprint=sp.fingerprint(listings))])
        assert all(r.mode == "skip" for r in reply.ranges), f"the node's set differs: {reply.ranges}"
        assert not pushed
        # An id list of the listings: nothing needed, nothing pushed.
        reply, pushed = reconcile_answer(conn, [sp.Range(sp.INFINITY, "ids", ids=[i[:16] for i in sorted(listings)])])
        assert all(r.mode == "skip" for r in reply.ranges) and not pushed

        drain(conn, 0.5)
        conn.ping(5)
        assert sp.KIND_PROFILE not in kinds_received(conn.received), "a kind-3 body reached a legacy peer"
        offered = ids_offered(conn.received)
        assert not (profile_ids | {p[:16] for p in profile_ids}) & offered, "a profile id was offered to a legacy peer"
        assert not banned(a)
    finally:
        conn.close()


def test_node_reconciling_with_legacy_responder_leaves_profiles_out(cluster):
    """The node dials a legacy Python peer; as the outbound side it starts reconciliation, and its
    initial id list holds its listings but not its profile."""
    a = cluster.start("a")
    listings = {bytes.fromhex(a.create_listing(f"Thing {i}", category="things")["object_id"]) for i in range(3)}
    profile = bytes.fromhex(a.rpc("profile.set", {"display_name": "Alice"})["object_id"])

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
            conn.send_hello(port, kinds=None)  # no extension: kinds 1 and 2
            conn.expect_hello(10)
            rec = sp.Reconciler([])
            first = conn.wait_for(lambda m: m.type == sp.RECONCILE, 10)
            result["initial"] = first.ranges
            m = first
            got = set()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if m.type == sp.OBJECTS:
                    got |= {sp.object_id(e) for e in m.envelopes}
                elif m.type == sp.RECONCILE and not all(r.mode == "skip" for r in m.ranges):
                    reply, need, _ = rec.process(m.ranges)
                    if need:
                        conn.send(sp.encode_getobjects(need))
                    conn.send(sp.encode_reconcile(reply or [sp.Range(sp.INFINITY, "skip")]))
                if len(got) >= len(listings):
                    break
                m = conn.wait_for(lambda m: m.type in (sp.OBJECTS, sp.RECONCILE), max(0.01, deadline - time.monotonic()))
            result["got"] = got
            drain(conn, 0.5)
        except Exception as e:  # reported by the main thread
            result["error"] = e

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        a.rpc("peer.connect", {"address": f"127.0.0.1:{port}"})
        t.join(25)
        assert not t.is_alive(), "responder thread did not finish"
        assert "error" not in result, repr(result.get("error"))
        conn = result["conn"]
        assert {1, 2, 3} <= set(conn.peer_kinds)
        initial = result["initial"]
        assert len(initial) == 1 and initial[0].mode == "ids", f"expected one id list, got {initial}"
        assert set(initial[0].ids) == {i[:16] for i in listings}, "the node's set for a legacy peer is its listings"
        assert result["got"] == listings
        assert sp.KIND_PROFILE not in kinds_received(conn.received)
        assert profile not in ids_offered(conn.received) and profile[:16] not in ids_offered(conn.received)
        row = wait_until(lambda: peer_row(a, me.hex), 5, what="peer listed")
        assert row["direction"] == "outbound" and row["kinds"] == ["listing", "listing-retraction"]
    finally:
        srv.close()
        if "conn" in result:
            result["conn"].close()


# ------------------------------------------------------------------------------------------------
# b. A peer that supports kind 3 gets profiles
# ------------------------------------------------------------------------------------------------


def test_peer_with_kind_3_receives_the_profile(cluster):
    a = cluster.start("a")
    listing = bytes.fromhex(a.create_listing("A listing")["object_id"])
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)  # kinds 1, 2, 3; prune-trees
    try:
        assert conn.common_kinds == [1, 2, 3]
        row = wait_until(lambda: peer_row(a, me.hex), 5, what="the node lists the peer")
        assert row["kinds"] == ["listing", "listing-retraction", "node-profile"]
        assert row["features"] == ["prune-trees"]
        drain(conn, 0.3)

        result = a.rpc("profile.set", {"display_name": "Alice"})
        oid = bytes.fromhex(result["object_id"])
        env_bytes = wait_for_object(conn, oid)
        env = sp.Envelope.decode(env_bytes)
        assert env.kind == sp.KIND_PROFILE and env.verify() and env.signer.hex() == a.node_id
        assert sp.check_object(env_bytes) is None
        profile = env.decoded()
        assert profile.display_name == "Alice" and profile.version == result["version"] == 1
        check_profile_json(result, env_bytes, profile, a.node_id)
        check_profile_json(a.rpc("profile.get", {"node_id": a.node_id}), env_bytes, profile, a.node_id)

        # An update arrives too.
        result2 = a.rpc("profile.set", {"languages": ["en", "de-CH"]})
        env2 = wait_for_object(conn, bytes.fromhex(result2["object_id"]))
        p2 = sp.Envelope.decode(env2).decoded()
        assert (p2.version, p2.display_name, p2.languages) == (2, "Alice", ["en", "de-CH"])
        check_profile_json(result2, env2, p2, a.node_id)
        conn.ping(3)
    finally:
        conn.close()

    # Reconciliation with a kind-3 peer covers the profile: a fresh peer with an empty set gets the
    # listing and the current profile, and a fingerprint of the listing alone differs.
    fresh = sp.PeerConnection.connect("127.0.0.1", a.p2p_port)
    try:
        got = fresh.reconcile_all([], timeout=10)
        assert {sp.object_id(e) for e in got} == {listing, sp.object_id(env2)}
        reply, _ = reconcile_answer(fresh, [sp.Range(sp.INFINITY, "fp", fingerprint=sp.fingerprint([listing]))])
        assert any(r.mode == "ids" and sp.object_id(env2)[:16] in r.ids for r in reply.ranges), reply.ranges
    finally:
        fresh.close()


def test_hello_extension_variants(cluster):
    """Unknown kinds and features in a hello, and bytes after the extension, are fine; a broken
    extension is malformed: the link closes and the peer is banned."""
    a = cluster.start("a")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, send_hello=False)
    try:
        conn.send_hello(kinds=[1, 2, 3, 0x7F], features=["prune-trees", "x-future-feature"],
                        extra=b"\x05fields of a later release")
        conn.expect_hello()
        conn.ping(1)
        row = wait_until(lambda: peer_row(a, me.hex), 5, what="the node lists the peer")
        assert {"listing", "listing-retraction", "node-profile"} <= set(row["kinds"])
        assert "prune-trees" in row["features"]
        # Common kinds are 1, 2, 3: the node's profile reaches this peer.
        drain(conn, 0.2)
        oid = bytes.fromhex(a.rpc("profile.set", {"display_name": "Alice"})["object_id"])
        assert sp.Envelope.decode(wait_for_object(conn, oid)).kind == sp.KIND_PROFILE
    finally:
        conn.close()

    # A peer that supports only listings gets no retraction... and no profile: kinds [1].
    only = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=only, kinds=[1], features=[])
    try:
        row = wait_until(lambda: peer_row(a, only.hex), 5, what="the node lists the kinds-[1] peer")
        assert row["kinds"] == ["listing"] and row["features"] == []
        drain(conn, 0.2)
        created = a.create_listing("Listing for a kinds-1 peer")
        wait_for_object(conn, bytes.fromhex(created["object_id"]))
        a.rpc("listing.retract", {"listing_id": created["listing_id"]})
        a.rpc("profile.set", {"display_name": "Alice again"})
        marker = bytes.fromhex(a.create_listing("Marker")["object_id"])
        wait_for_object(conn, marker)
        drain(conn, 0.5)
        assert kinds_received(conn.received) == {sp.KIND_LISTING}
        got = conn.reconcile_all([], timeout=10)
        assert {e[1] for e in got} == {sp.KIND_LISTING}
        assert {sp.object_id(e) for e in got} == my_listing_ids(a)
    finally:
        conn.close()

    for name, tail in [("truncated kinds", b"\x05\x01\x02"), ("256 kinds", b"\x80\x02" + bytes(256) + b"\x00"),
                       ("33-byte feature", b"\x00\x01\x21" + b"f" * 33)]:
        bad = sp.Identity()
        conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=bad, send_hello=False)
        try:
            conn.send(sp.encode_hello(0, "soukpeer.py/0.1", kinds=None) + tail)
            assert conn.wait_closed(5), f"hello with a {name} extension: link not closed"
            wait_until(lambda: f"node:{bad.hex}" in banned(a), 5, what=f"ban after a hello with a {name} extension")
        finally:
            conn.close()
    assert f"node:{me.hex}" not in banned(a) and f"node:{only.hex}" not in banned(a)


# ------------------------------------------------------------------------------------------------
# c. An object of an unknown kind is dropped, not punished
# ------------------------------------------------------------------------------------------------


def test_unknown_kind_is_dropped_without_ban(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    watcher = sp.PeerConnection.connect("127.0.0.1", b.p2p_port, kinds=[1, 2, 3, 0x7F])
    try:
        drain(conn, 0.2)
        drain(watcher, 0.2)
        # A well-formed, correctly signed envelope of kind 0x7f under its own domain tag.
        future = me.envelope(0x7F, fresh_listing("From the future").payload(), kind_name="x-future")
        assert sp.check_object(future) == "unknown_kind"
        conn.send(sp.encode_objects([future]))
        conn.ping(1)  # the link stays up
        assert not banned(a)

        # Between two valid listings in one objects message: both are stored and relayed.
        l1, l2 = fresh_listing("Before the unknown kind"), fresh_listing("After the unknown kind")
        other_future = me.envelope(0x7F, b"\x01opaque payload of kind 0x7f", kind_name="x-future")
        conn.send(sp.encode_objects([me.listing_envelope(l1), other_future, me.listing_envelope(l2)]))
        conn.ping(2)
        for node in (a, b):
            for l in (l1, l2):
                lid = sp.listing_id(me.public, l.salt).hex()
                wait_until(lambda: node.rpc("listing.get", {"listing_id": lid}), 10,
                           what=f"{node.name} stores {l.title!r}")
        # Announced: an id does not tell its kind, so the node may graft it; the body is then dropped
        # again, without a ban.
        conn.send(sp.encode_ihave([sp.object_id(future)]))
        for m in drain(conn, 0.6):
            if m.type == sp.GRAFT and sp.object_id(future) in m.ids:
                conn.send(sp.encode_objects([future]))
        conn.ping(3)

        # Nothing of kind 0x7f is stored or relayed: counts, reconciliation sets and the watcher.
        for node in (a, b):
            assert node.counts() == (2, 0), f"{node.name}: {node.counts()}"
            with pytest.raises(RPCError):
                node.rpc("profile.get", {"node_id": me.hex})
        for node in (a, b):
            peer = sp.PeerConnection.connect("127.0.0.1", node.p2p_port, kinds=[1, 2, 3, 0x7F])
            try:
                got = peer.reconcile_all([], timeout=10)
            finally:
                peer.close()
            assert {e[1] for e in got} == {sp.KIND_LISTING}, f"{node.name} reconciled other kinds"
            assert {sp.object_id(e) for e in got} == {sp.object_id(me.listing_envelope(l)) for l in (l1, l2)}
        drain(watcher, 0.5)
        assert 0x7F not in kinds_received(watcher.received)
        assert {sp.object_id(future), sp.object_id(other_future)}.isdisjoint(ids_offered(watcher.received))
        watcher.ping(4)
        conn.ping(5)
        assert not banned(a) and not banned(b)
        assert me.hex in a.peer_ids()
    finally:
        conn.close()
        watcher.close()


# ------------------------------------------------------------------------------------------------
# d. Profiles signed in Python: relayed, replaced, refused with a ban when invalid, rate-limited
# ------------------------------------------------------------------------------------------------


def test_python_profile_reaches_second_node_and_invalid_profile_bans(cluster):
    a = cluster.start("a")
    b = cluster.start("b", connect=(a.p2p,))
    wait_until(lambda: connected(a, b), 15, what="a and b connected")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        drain(conn, 0.2)
        now = int(time.time())
        p1 = sp.NodeProfile(
            display_name="Python Peer", updated_at=now - 10, addresses=["127.0.0.1:17999", "[2001:db8::7]:7421"],
            mailboxes=[bytes.fromhex(b.node_id)], arbiters=[bytes.fromhex(a.node_id)], languages=["en", "de-CH"],
            avatar_hash=sp.blake2b(b"avatar"))
        env1 = me.profile_envelope(p1)
        assert sp.check_object(env1) is None
        conn.send(sp.encode_objects([env1]))
        conn.ping(1)
        for node in (a, b):
            got = wait_until(lambda: node.rpc("profile.get", {"node_id": me.hex}), 10,
                             what=f"{node.name} holds the Python peer's profile")
            check_profile_json(got, env1, p1, me.hex)
            assert got["display_name"] == "Python Peer"

        # Version 2 replaces it everywhere.
        p2 = dataclasses.replace(p1, version=2, updated_at=now - 5, display_name="Python Peer, renamed")
        env2 = me.profile_envelope(p2)
        conn.send(sp.encode_objects([env2]))
        for node in (a, b):
            got = wait_until(lambda: node.rpc("profile.get", {"node_id": me.hex})["version"] == 2 and
                             node.rpc("profile.get", {"node_id": me.hex}), 10, what=f"{node.name} has version 2")
            check_profile_json(got, env2, p2, me.hex)
        # The old version again is stale: no change, no ban.
        conn.send(sp.encode_objects([env1]))
        conn.ping(2)
        assert a.rpc("profile.get", {"node_id": me.hex})["version"] == 2
        assert not banned(a)

        # Version 3 with the language "x" breaks §9a: invalid_profile, the sender is banned.
        bad = dataclasses.replace(p2, version=3, updated_at=now, languages=["x"])
        bad_env = me.profile_envelope(bad)
        assert sp.check_object(bad_env) == "invalid_profile"
        conn.send(sp.encode_objects([bad_env]))
        assert conn.wait_closed(5), "a link that sent an invalid profile stays open"
        wait_until(lambda: f"node:{me.hex}" in banned(a), 5, what="ban after an invalid profile")
        for node in (a, b):
            assert node.rpc("profile.get", {"node_id": me.hex})["version"] == 2, f"{node.name} took the invalid profile"
        assert f"node:{me.hex}" not in banned(b)
        # The ban holds: the same identity cannot come back.
        with pytest.raises((sp.ConnectionClosed, TimeoutError, sp.HandshakeFailed)):
            again = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me, timeout=3)
            try:
                again.ping(9, timeout=3)
            finally:
                again.close()
    finally:
        conn.close()


def test_profile_replacements_are_rate_limited_per_kind_without_ban(cluster):
    """node-profile quota (wire.md §11): one held per signer, at most 12 replacements (versions
    above 1) per hour from the network; the rest are dropped without a ban, and the quota is per
    (kind, signer): the same signer's listing updates are not affected."""
    a = cluster.start("a")
    me = sp.Identity()
    conn = sp.PeerConnection.connect("127.0.0.1", a.p2p_port, identity=me)
    try:
        drain(conn, 0.2)
        now = int(time.time())
        envs = [me.profile_envelope(sp.NodeProfile(display_name=f"Version {v}", version=v, updated_at=now - 100 + v))
                for v in range(1, 16)]
        for e in envs:  # one message each, in order: v1, then 14 replacements
            conn.send(sp.encode_objects([e]))
        conn.ping(1)
        got = wait_until(lambda: a.rpc("profile.get", {"node_id": me.hex}), 5, what="the profile is stored")
        time.sleep(0.5)
        got = a.rpc("profile.get", {"node_id": me.hex})
        assert got["version"] == 13, f"expected v1 + 12 replacements (version 13), the node holds {got['version']}"
        assert got["object_id"] == sp.object_id(envs[12]).hex()
        # Listing updates of the same signer have their own quota.
        l = fresh_listing("Listing of a throttled profile author")
        conn.send(sp.encode_objects([me.listing_envelope(l)]))
        l.version, l.title = 2, "Updated listing"
        conn.send(sp.encode_objects([me.listing_envelope(l)]))
        lid = sp.listing_id(me.public, l.salt).hex()
        wait_until(lambda: a.rpc("listing.get", {"listing_id": lid})["version"] == 2, 5, what="listing update stored")
        conn.ping(2)
        assert not banned(a)
    finally:
        conn.close()
