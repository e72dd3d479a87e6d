"""Socket-free checks of soukpeer.py itself: the object encoding against Specs/vectors/objects.json,
and the handshake, frames and reconciliation between two Python ends. They run without a node."""

import json
from pathlib import Path

import pytest

import soukpeer as sp

VECTORS = Path(__file__).resolve().parents[2] / "Specs" / "vectors" / "objects.json"
WIRE_VECTORS = Path(__file__).resolve().parents[2] / "Specs" / "vectors" / "wire.json"


@pytest.fixture(scope="module")
def vectors():
    if not VECTORS.exists():
        pytest.skip("Specs/vectors/objects.json not present")
    return json.loads(VECTORS.read_text())


def test_varints(vectors):
    for v in vectors["varints"]:
        assert sp.varint(int(v["value"])).hex() == v["hex"]
        assert sp.Reader(bytes.fromhex(v["hex"])).varint() == int(v["value"])
    for v in vectors["invalid_varints"]:
        with pytest.raises(sp.DecodeError):
            sp.Reader(bytes.fromhex(v["hex"])).varint()


def profile_from_vector(f: dict) -> sp.NodeProfile:
    return sp.NodeProfile(
        display_name=f["display_name"], version=f["version"], updated_at=f["updated_at"],
        expires_at=f["expires_at"], avatar_hash=bytes.fromhex(f["avatar_hash"] or ""),
        addresses=f["addresses"], mailboxes=[bytes.fromhex(m) for m in f["mailboxes"]],
        arbiters=[bytes.fromhex(a) for a in f["arbiters"]], languages=f["languages"])


def test_domain_tags(vectors):
    tags = {t["kind_byte"]: t for t in vectors["domain_tags"]}
    # Every kind of the release (1-9); this peer decodes 1-3 and signs any kind by its name.
    assert set(tags) == {1, 2, 3, 4, 5, 6, 7, 8, 9} and set(sp.KIND_NAMES) <= set(tags)
    for byte, t in tags.items():
        if byte in sp.KIND_NAMES:
            assert sp.KIND_NAMES[byte] == t["kind"]
            assert sp.domain_tag(byte).hex() == t["hex"], t["kind"]
        assert sp.domain_tag(byte, t["kind"]).hex() == t["hex"], t["kind"]
        assert t["hex"] == (b"souk/sig/v1/" + t["kind"].encode() + b"\x00").hex()
    assert sp.domain_tag(3) == b"souk/sig/v1/node-profile\x00"
    # A kind this code does not know has no tag unless it is named (for signing a future kind).
    with pytest.raises(sp.UnknownKind):
        sp.domain_tag(0x7F)
    assert sp.domain_tag(0x7F, "x-future") == b"souk/sig/v1/x-future\x00"


def test_valid_objects_are_reproduced(vectors):
    names = set()
    for v in vectors["valid"]:
        names.add(v["name"])
        ident = sp.Identity(bytes.fromhex(v["seed"]))
        assert ident.hex == v["public_key"]
        assert sp.check_object(bytes.fromhex(v["envelope"]), v["now"]) is None, v["name"]
        if v["kind"] == "node-profile":
            f = v["profile"]
            assert f["format"] == 1
            profile = profile_from_vector(f)
            payload = profile.payload()
            env = ident.profile_envelope(profile)
            assert sp.NodeProfile.decode(payload) == profile
            assert (sp.domain_tag(sp.KIND_PROFILE) + payload).hex() == v["signed_message"]
            assert ident.sign(sp.domain_tag(sp.KIND_PROFILE) + payload).hex() == v["signature"]
            assert payload.hex() == v["payload"], v["name"]
            assert env.hex() == v["envelope"], v["name"]
            assert sp.object_id(env).hex() == v["object_id"], v["name"]
            decoded = sp.Envelope.decode(env)
            assert decoded.kind == sp.KIND_PROFILE and decoded.verify() and decoded.decoded() == profile
            assert "listing_id" not in v
            profile.check(v["now"])
            continue
        if v["kind"] == "listing":
            f = v["listing"]
            listing = sp.Listing(
                title=f["title"], price_minor=f["price"]["minor_units"], currency=f["price"]["currency"],
                category=f["category"], salt=bytes.fromhex(f["salt"]), version=f["version"],
                created_at=f["created_at"], updated_at=f["updated_at"], expires_at=f["expires_at"],
                description=f["description"], location=f["location"], country=f["country"],
                quantity=f["quantity"], condition=f["condition_code"], tags=f["tags"])
            payload = listing.payload()
            env = ident.listing_envelope(listing)
            assert sp.Listing.decode(payload) == listing
        else:
            r = v["retraction"]
            payload = sp.retraction_payload(bytes.fromhex(r["salt"]), r["retracted_at"])
            env = ident.retraction_envelope(bytes.fromhex(r["salt"]), r["retracted_at"])
        assert payload.hex() == v["payload"], v["name"]
        assert env.hex() == v["envelope"], v["name"]
        assert sp.object_id(env).hex() == v["object_id"], v["name"]
        salt = bytes.fromhex((v.get("listing") or v.get("retraction"))["salt"])
        assert sp.listing_id(ident.public, salt).hex() == v["listing_id"], v["name"]
        assert sp.Envelope.decode(env).verify()
    assert "node-profile" in names, "objects.json lost its node-profile vector"


# The codes check_object decides; for the others (text, price, currency, slug rules of listings)
# it accepts what it cannot judge, and the node is the reference.
CHECKED_CODES = {"malformed", "bad_signature", "unknown_kind", "invalid_version", "invalid_timestamps",
                 "from_the_future", "expired", "invalid_profile", "invalid_condition", "invalid_tags"}


def test_invalid_objects_are_refused_with_their_code(vectors):
    seen = set()
    for v in vectors["invalid"]:
        code = sp.check_object(bytes.fromhex(v["envelope"]), v["now"])
        if v["error"] in CHECKED_CODES:
            assert code == v["error"], v["name"]
            seen.add(v["error"])
        else:
            assert code is None, v["name"]
    assert {"malformed", "bad_signature", "unknown_kind", "from_the_future", "expired"} <= seen


def test_unknown_kind_vector(vectors):
    v = next(v for v in vectors["invalid"] if v["name"] == "unknown-kind")
    assert v["error"] == "unknown_kind"
    env = bytes.fromhex(v["envelope"])
    assert env[1] == 0x7F
    with pytest.raises(sp.UnknownKind) as exc:
        sp.Envelope.decode(env)
    assert exc.value.kind == 0x7F and exc.value.code == "unknown_kind"
    # Not malformed: the same bytes with kind 1 are the valid minimal listing.
    minimal = next(x for x in vectors["valid"] if x["name"] == "minimal-listing")
    assert (env[:1] + bytes([1]) + env[2:]).hex() == minimal["envelope"]
    # A future kind signed under its own domain tag decodes nowhere here but verifies under that tag.
    me = sp.Identity(bytes(range(32)))
    future = me.envelope(0x7F, b"\x01future payload", kind_name="x-future")
    assert sp.check_object(future) == "unknown_kind"
    e = sp.Envelope(0x7F, b"\x01future payload", me.public, future[-64:])
    assert e.encode() == future and e.verify(sp.domain_tag(0x7F, "x-future"))


def _profile(**kw):
    base = dict(display_name="Alice", version=1, updated_at=1_767_225_600, expires_at=1_767_225_600 + 86400)
    base.update(kw)
    return sp.NodeProfile(**base)


NOW = 1_767_232_800


@pytest.mark.parametrize("change,code", [
    ({}, None),
    ({"languages": ["x"]}, "invalid_profile"),
    ({"languages": ["en", "en"]}, "invalid_profile"),
    ({"languages": ["de-CH", "sr-Latn-RS", "gsw"]}, None),
    ({"languages": ["de_CH"]}, "invalid_profile"),
    ({"languages": ["de-12345678-abcd"]}, None),  # 16 bytes
    ({"languages": ["de-12345678-abcde"]}, "malformed"),  # 17 bytes: over the 16-byte wire cap
    ({"languages": ["en-abcdefghi"]}, "invalid_profile"),  # a 9-character subtag
    ({"languages": [f"l{chr(97 + i)}" for i in range(9)]}, "malformed"),  # count over 8
    ({"display_name": ""}, "invalid_profile"),
    ({"display_name": " Alice"}, "invalid_profile"),
    ({"display_name": "Alice\u00a0"}, "invalid_profile"),
    ({"display_name": "Al\nice"}, "invalid_profile"),
    ({"display_name": "Al\u202eice"}, "invalid_profile"),
    ({"display_name": "x" * 64}, None),
    ({"display_name": "x" * 65}, "invalid_profile"),
    ({"display_name": "\u00e9" * 64}, None),  # 64 characters in 128 bytes
    ({"display_name": "\u00e9" * 65}, "invalid_profile"),
    ({"display_name": "e\u0301" * 64}, None),  # 64 characters in 192 bytes
    ({"display_name": "e\u0301" * 65}, "invalid_profile"),  # 65 characters in 195 bytes
    ({"display_name": "x" * 257}, "malformed"),  # 256-byte wire cap
    ({"avatar_hash": b"\x01" * 32}, None),
    ({"avatar_hash": b"\x01" * 31}, "invalid_profile"),
    ({"avatar_hash": b"\x01" * 33}, "malformed"),
    ({"addresses": ["203.0.113.7:7421", "[2001:db8::7]:7421", "souk.example.org:1"]}, None),
    ({"addresses": ["souk.example.org"]}, "invalid_profile"),
    ({"addresses": ["host:0"]}, "invalid_profile"),
    ({"addresses": ["host:65536"]}, "invalid_profile"),
    ({"addresses": ["2001:db8::7:7421"]}, "invalid_profile"),
    ({"addresses": ["[nonsense]:7421"]}, "invalid_profile"),
    ({"addresses": ["a:1", "a:1"]}, "invalid_profile"),
    ({"addresses": [f"h{i}:1" for i in range(9)]}, "malformed"),
    ({"addresses": ["h" * 256 + ":65535"]}, None),  # 262 bytes
    ({"addresses": ["h" * 257 + ":65535"]}, "malformed"),
    ({"mailboxes": [b"\xb2" * 32] * 2}, "invalid_profile"),
    ({"mailboxes": [bytes([i]) * 32 for i in range(4)]}, "malformed"),
    ({"arbiters": [bytes([i]) * 32 for i in range(16)]}, None),
    ({"arbiters": [bytes([i]) * 32 for i in range(17)]}, "malformed"),
    ({"version": 0}, "invalid_version"),
    ({"version": 1 << 32}, "invalid_version"),
    ({"updated_at": 1_577_836_799, "expires_at": 1_577_836_800 + 3600}, "invalid_timestamps"),
    ({"expires_at": 1_767_225_600}, "invalid_timestamps"),
    ({"expires_at": 1_767_225_600 + 90 * 86400}, None),
    ({"expires_at": 1_767_225_600 + 90 * 86400 + 1}, "invalid_timestamps"),
    ({"updated_at": NOW + 601, "expires_at": NOW + 86400}, "from_the_future"),
    ({"updated_at": NOW + 600, "expires_at": NOW + 86400}, None),
    ({"expires_at": NOW}, "expired"),
])
def test_node_profile_rules(change, code):
    p = _profile(**change)
    me = sp.Identity(bytes(range(32)))
    assert sp.check_object(me.profile_envelope(p), NOW) == code


def test_node_profile_layout_errors():
    me = sp.Identity(bytes(range(32)))
    good = _profile().payload()
    assert sp.check_object(me.envelope(sp.KIND_PROFILE, good + b"\x00"), NOW) == "malformed"  # trailing byte
    assert sp.check_object(me.envelope(sp.KIND_PROFILE, good[:-1]), NOW) == "malformed"  # truncated
    assert sp.check_object(me.envelope(sp.KIND_PROFILE, b"\x02" + good[1:]), NOW) == "malformed"  # format
    # The kind byte selects the domain tag: a profile payload signed as a listing is bad_signature.
    env = bytearray(me.envelope(sp.KIND_LISTING, good))
    env[1] = sp.KIND_PROFILE
    assert sp.check_object(bytes(env), NOW) == "bad_signature"
    # 4 096-byte payload cap (§6): a longer length prefix is refused before the payload is read.
    assert sp.check_object(bytes([1, 3]) + sp.varint(4097) + b"\x00" * 4097 + b"\x00" * 96, NOW) == "malformed"


def test_invalid_signatures_are_refused(vectors):
    for v in vectors["invalid"]:
        if v["error"] != "bad_signature":
            continue
        assert not sp.Envelope.decode(bytes.fromhex(v["envelope"])).verify(), v["name"]


def test_handshake_and_frames_between_two_python_ends():
    a, b = sp.Identity(), sp.Identity()
    ini = sp.InitiatorHandshake(a, "testnet")
    res = sp.ResponderHandshake(b, "testnet")
    msg2 = res.on_msg1(ini.msg1())
    msg3, s_i = ini.on_msg2(msg2)
    s_r = res.on_msg3(msg3)
    assert s_i.peer == b.public and s_r.peer == a.public
    assert s_i.transcript == s_r.transcript
    for n in range(3):
        frame = s_i.seal(sp.encode_ping(n))
        assert sp.decode_message(s_r.open(frame[4:])).nonce == n
    frame = s_r.seal(sp.encode_hello(17421, "x"))
    assert sp.decode_message(s_i.open(frame[4:])).hello[:2] == (17421, "x")
    with pytest.raises(Exception):
        s_i.open(frame[4:])  # replay


def test_network_mismatch_is_refused_by_the_python_responder():
    with pytest.raises(sp.HandshakeRefused):
        sp.ResponderHandshake(sp.Identity(), "testnet").on_msg1(sp.InitiatorHandshake(sp.Identity(), "main").msg1())


def test_message_round_trips():
    oid = bytes(range(32))
    msgs = [
        sp.encode_hello(1, "ua", 5), sp.encode_ping(2**63), sp.encode_pong(0), sp.encode_objects([b"\x01\x02"]),
        sp.encode_ihave([oid]), sp.encode_graft([oid, oid]), sp.encode_prune(), sp.encode_getobjects([oid[:16]]),
        sp.encode_getaddr(), sp.encode_addr([("127.0.0.1", 17421, 1700000000)]),
        sp.encode_reconcile([sp.Range(sp.Bound(5, b"\x01"), "fp", fingerprint=b"\x00" * 16),
                             sp.Range(sp.INFINITY, "ids", ids=[oid[:16]])]),
    ]
    for m in msgs:
        d = sp.decode_message(m)
        assert d.type == m[0]
    with pytest.raises(sp.DecodeError):
        sp.decode_message(bytes([0x40]))
    assert sp.decode_message(bytes([0x80, 1, 2])).type == 0x80


@pytest.mark.parametrize("mine,theirs", [(0, 0), (0, 1), (1, 0), (1000, 1000), (500, 700), (40, 0)])
def test_reconciliation_between_two_python_ends(mine, theirs):
    import os
    common = [(1_700_000_000 + i // 3, os.urandom(32)) for i in range(300)]
    a_items = common + [(1_700_000_000 + i, os.urandom(32)) for i in range(mine)]
    b_items = common[:250] + [(1_700_000_100 + i, os.urandom(32)) for i in range(theirs)]
    a, b = sp.Reconciler(a_items), sp.Reconciler(b_items)
    msg, a_needs, b_needs = a.initial(), set(), set()
    sides = [b, a]
    turn = 0
    for _ in range(40):
        # Encode and decode each round, as on the wire.
        msg = sp.decode_message(sp.encode_reconcile(msg)).ranges
        reply, need, have = sides[turn].process(msg)
        (b_needs if turn == 0 else a_needs).update(need)
        (a_needs if turn == 0 else b_needs).update(h[:16] for h in have)
        if reply is None:
            break
        msg, turn = reply, 1 - turn
    else:
        pytest.fail("reconciliation did not finish")
    a_ids = {i[1][:16] for i in a_items}
    b_ids = {i[1][:16] for i in b_items}
    assert b_needs == a_ids - b_ids
    assert a_needs == b_ids - a_ids


@pytest.fixture(scope="module")
def wire():
    if not WIRE_VECTORS.exists():
        pytest.skip("Specs/vectors/wire.json not present yet")
    return json.loads(WIRE_VECTORS.read_text())


def test_wire_vectors_handshake(wire):
    v = wire["handshake"]
    ini_id = sp.Identity(bytes.fromhex(v["initiator_seed"]))
    res_id = sp.Identity(bytes.fromhex(v["responder_seed"]))
    assert ini_id.hex == v["initiator_public_key"] and res_id.hex == v["responder_public_key"]
    ei = sp.Ephemeral(bytes.fromhex(v["initiator_ephemeral_secret"]))
    er = sp.Ephemeral(bytes.fromhex(v["responder_ephemeral_secret"]))
    assert ei.public.hex() == v["initiator_ephemeral_public"] and er.public.hex() == v["responder_ephemeral_public"]
    assert ei.dh(er.public).hex() == v["dh"]
    assert sp.h0(v["network"]).hex() == v["h0"]
    ini = sp.InitiatorHandshake(ini_id, v["network"], ei)
    res = sp.ResponderHandshake(res_id, v["network"], er)
    msg1 = ini.msg1()
    assert msg1.hex() == v["msg1"]
    msg2 = res.on_msg1(msg1)
    assert res.h1.hex() == v["h1"] and res.key.hex() == v["handshake_key"] and res.h2.hex() == v["h2"]
    assert msg2.hex() == v["msg2"]
    rsm = b"souk/hs/v1/responder" + res.h1 + res_id.public
    assert rsm.hex() == v["responder_signed_message"] and res_id.sign(rsm).hex() == v["responder_signature"]
    ism = b"souk/hs/v1/initiator" + res.h2 + ini_id.public
    assert ism.hex() == v["initiator_signed_message"] and ini_id.sign(ism).hex() == v["initiator_signature"]
    msg3, s_i = ini.on_msg2(msg2)
    assert msg3.hex() == v["msg3"]
    s_r = res.on_msg3(msg3)
    assert s_i.transcript.hex() == v["h3"] == s_r.transcript.hex()
    # Specs/wire.md §3.2/§12 call them key_i2r / key_r2i; the file has used i2r_key / r2i_key.
    assert s_i.send_key.hex() == v.get("key_i2r", v.get("i2r_key"))
    assert s_i.recv_key.hex() == v.get("key_r2i", v.get("r2i_key"))
    for name in ("msg1", "msg2", "msg3"):
        m = bytes.fromhex(v[name])
        assert v[name + "_frame"] == (len(m).to_bytes(4, "big") + m).hex()
    # The frames of that link, in order, plus an independent ping at counter 0.
    for f in wire["frames"]:
        if f["name"] == "ping-at-counter-0":
            s = sp.Session(b"", s_i.send_key, s_i.recv_key, b"")
            frame = s.seal(bytes.fromhex(f["plaintext"]))
        elif f["direction"] == "i2r":
            assert s_i.send_counter == f["counter"]
            frame = s_i.seal(bytes.fromhex(f["plaintext"]))
            assert s_r.open(frame[4:]).hex() == f["plaintext"]
        else:
            assert s_r.send_counter == f["counter"]
            frame = s_r.seal(bytes.fromhex(f["plaintext"]))
            assert s_i.open(frame[4:]).hex() == f["plaintext"]
        assert sp.nonce(f["counter"]).hex() == f["nonce"]
        assert frame.hex() == f["frame"], f["name"]


def test_wire_vectors_refusal(wire):
    v = wire["refusal"]
    with pytest.raises(sp.HandshakeRefused):
        sp.ResponderHandshake(sp.Identity(), v["responder_network"]).on_msg1(bytes.fromhex(v["msg1"]))
    assert sp.refusal_message(v["reason"]).hex() == v["refusal"]
    with pytest.raises(sp.HandshakeRefused) as exc:
        sp.InitiatorHandshake(sp.Identity(), v["initiator_network"]).on_msg2(bytes.fromhex(v["refusal"]))
    assert exc.value.reason == v["reason"]


def test_wire_vectors_messages(wire):
    for m in wire["messages"]:
        raw = bytes.fromhex(m["hex"])
        d = sp.decode_message(raw)
        assert d.type == m["type"], m["name"]
        # Re-encode from the decoded fields: the encoding is unique.
        again = {
            sp.HELLO: lambda: sp.encode_hello(*d.hello, kinds=d.kinds, features=d.features or ()),
            sp.PING: lambda: sp.encode_ping(d.nonce),
            sp.PONG: lambda: sp.encode_pong(d.nonce), sp.OBJECTS: lambda: sp.encode_objects(d.envelopes),
            sp.IHAVE: lambda: sp.encode_ihave(d.ids), sp.GRAFT: lambda: sp.encode_graft(d.ids),
            sp.PRUNE: sp.encode_prune, sp.GETOBJECTS: lambda: sp.encode_getobjects(d.ids),
            sp.GETADDR: sp.encode_getaddr, sp.ADDR: lambda: sp.encode_addr(d.addrs),
            sp.RECONCILE: lambda: sp.encode_reconcile(d.ranges),
            sp.PRUNE_TREES: lambda: sp.encode_prune_trees(d.ids),
            sp.DELIVER: lambda: d.delivery.encode(),
            sp.DELIVERED: lambda: sp.encode_delivered(d.ack),
        }[d.type]()
        assert again == raw, m["name"]
    assert sp.encode_reconcile(sp.Reconciler([]).initial()).hex() == next(
        m["hex"] for m in wire["messages"] if m["name"] == "reconcile-initial-empty")
    for m in wire["invalid_messages"]:
        raw = bytes.fromhex(m["hex"])
        if m["result"] == "optional":
            assert sp.decode_message(raw).type >= 0x80, m["name"]
        else:
            with pytest.raises(sp.DecodeError) as exc:
                sp.decode_message(raw)
            assert ("unknown mandatory" in str(exc.value)) == (m["result"] == "unknown_mandatory_type"), m["name"]


def test_wire_vectors_hello_extension(wire):
    msgs = {m["name"]: m for m in wire["messages"]}
    new = sp.decode_message(bytes.fromhex(msgs["hello"]["hex"]))
    assert new.hello == (17447, "souk/0.1.0", 1767225600)
    assert new.kinds == [1, 2, 3] and new.features == ["prune-trees"] and new.ignored == b""
    # What this peer sends by default is exactly that message.
    assert sp.encode_hello(17447, "souk/0.1.0", 1767225600).hex() == msgs["hello"]["hex"]
    old = sp.decode_message(bytes.fromhex(msgs["hello-without-extension"]["hex"]))
    assert old.hello == new.hello
    assert old.kinds is None and old.features is None
    assert old.supported_kinds == [1, 2] and old.supported_features == []
    assert sp.encode_hello(17447, "souk/0.1.0", 1767225600, kinds=None).hex() == msgs["hello-without-extension"]["hex"]
    # The first frame of each side of the vector link is a hello with the extension.
    for f in wire["frames"]:
        if f["name"] in ("initiator-hello", "responder-hello"):
            m = sp.decode_message(bytes.fromhex(f["plaintext"]))
            assert m.type == sp.HELLO and m.kinds == [1, 2, 3] and m.features == ["prune-trees"], f["name"]
            port = 17447 if f["direction"] == "i2r" else 17448
            assert sp.encode_hello(port, "souk/0.1.0", m.hello[2]).hex() == f["plaintext"]
    bad = next(m for m in wire["invalid_messages"] if m["name"] == "hello-truncated-extension")
    assert bad["result"] == "malformed"
    with pytest.raises(sp.DecodeError):
        sp.decode_message(bytes.fromhex(bad["hex"]))


@pytest.mark.parametrize("tail,result", [
    (b"", "legacy"),
    (b"\x00\x00", ([], [])),
    (b"\x01\x7f\x01\x08x-future", ([0x7F], ["x-future"])),
    (b"\x03\x01\x02\x03\x00" + b"later fields", ([1, 2, 3], [])),  # bytes after the extension: ignored
    (b"\x03\x01\x02\x03", "malformed"),  # kinds, then no features count
    (b"\x05\x01\x02", "malformed"),  # the truncated kinds list of the vector
    (b"\x80\x02" + bytes(256) + b"\x00", "malformed"),  # 256 kinds: over 255
    (b"\xff\x01" + bytes(255) + b"\x00", (list(bytes(255)), [])),
    (b"\x00\x21" + b"\x01a" * 33, "malformed"),  # 33 features: over 32
    (b"\x00\x01\x21" + b"f" * 33, "malformed"),  # a 33-byte feature
    (b"\x00\x01\x20" + b"f" * 32, ([], ["f" * 32])),
    (b"\x00\x01\x02\xc3\x28", "malformed"),  # a feature that is not UTF-8
    (b"\x01\x01\x80\x00", "malformed"),  # non-minimal features count
], ids=["none", "empty", "future-kind-and-feature", "later-fields-ignored", "no-features-count",
        "truncated-kinds", "256-kinds", "255-kinds", "33-features", "33-byte-feature", "32-byte-feature",
        "bad-utf8-feature", "non-minimal-count"])
def test_hello_extension_decoding(tail, result):
    raw = sp.encode_hello(1, "", 0, kinds=None) + tail
    if result == "malformed":
        with pytest.raises(sp.DecodeError):
            sp.decode_message(raw)
        return
    m = sp.decode_message(raw)
    if result == "legacy":
        assert m.kinds is None and m.supported_kinds == [1, 2]
    else:
        assert (m.kinds, m.features) == result


def test_wire_vectors_fingerprints(wire):
    for f in wire["fingerprints"]:
        ids = [bytes.fromhex(i) for i in f["ids"]]
        total = sum(int.from_bytes(i, "little") for i in ids) % (1 << 256)
        assert (total.to_bytes(32, "little") + sp.varint(len(ids))).hex() == f["preimage"], f["name"]
        assert sp.fingerprint(ids).hex() == f["fingerprint"], f["name"]


# ------------------------------------------------------------------------------------------------
# Addressed delivery (wire.md §15): deliver / delivered
# ------------------------------------------------------------------------------------------------


def test_wire_vectors_delivery(wire):
    msgs = {m["name"]: m for m in wire["messages"]}
    hs = wire["handshake"]
    responder = sp.Identity(bytes.fromhex(hs["responder_seed"]))
    assert responder.hex == hs["responder_public_key"]

    raw = bytes.fromhex(msgs["deliver"]["hex"])
    assert msgs["deliver"]["type"] == sp.DELIVER == raw[0]
    d = sp.decode_message(raw).delivery
    assert d.delivery_id == bytes(range(16)) and d.hops == 1 and d.expires == 1767225600
    assert d.recipients == [responder.public]
    assert d.body_type == sp.BODY_SEALED and d.body == b"\x01\x02\x03"
    assert d.encode() == raw
    assert sp.encode_deliver([responder.public], b"\x01\x02\x03", sp.BODY_SEALED, bytes(range(16)), 1,
                             1767225600) == raw
    d.check()  # within every limit

    raw_ack = bytes.fromhex(msgs["delivered"]["hex"])
    assert msgs["delivered"]["type"] == sp.DELIVERED == raw_ack[0] and len(raw_ack) == 145
    ack = sp.decode_message(raw_ack).ack
    assert ack.encode() == raw_ack
    assert ack.delivery_id == d.delivery_id
    assert ack.body_hash == sp.blake2b(b"\x01\x02\x03") == d.body_hash
    assert ack.recipient == responder.public
    # The signature verifies with the responder key of the handshake vectors, over
    # "souk/ack/v1" 00 07 "testnet" || delivery id || body hash.
    signed = b"souk/ack/v1\x00\x07testnet" + d.delivery_id + d.body_hash
    assert sp.ack_message("testnet", d.delivery_id, d.body_hash) == signed
    sp.nacl.signing.VerifyKey(bytes.fromhex(hs["responder_public_key"])).verify(signed, ack.signature)
    assert ack.verify("testnet") and ack.matches(d)
    # Ed25519 is deterministic: signing it again gives the same bytes.
    assert responder.acknowledge("testnet", d).encode() == raw_ack
    # It names the network, the delivery, the body and the recipient.
    assert not ack.verify("main")
    assert not sp.Ack(bytes(16), ack.body_hash, ack.recipient, ack.signature).verify("testnet")
    assert not sp.Ack(ack.delivery_id, sp.blake2b(b"other"), ack.recipient, ack.signature).verify("testnet")
    initiator = sp.Identity(bytes.fromhex(hs["initiator_seed"]))
    forged = initiator.ack("testnet", d.delivery_id, d.body_hash, recipient=responder.public)
    assert forged.recipient == responder.public and not forged.verify("testnet")
    own = initiator.ack("testnet", d.delivery_id, d.body_hash)  # valid, but not a recipient's
    assert own.verify("testnet") and not own.matches(d)
    assert not responder.ack("testnet", d.delivery_id, sp.blake2b(b"other")).matches(d)

    invalid = {m["name"]: m for m in wire["invalid_messages"]}
    for name in ("deliver-four-recipients", "deliver-empty-body"):
        assert invalid[name]["result"] == "malformed"
        with pytest.raises(sp.DecodeError):
            sp.decode_message(bytes.fromhex(invalid[name]["hex"]))
        # A receiver that did not advertise `deliver` ignores it like any unknown optional type.
        assert sp.decode_message(bytes.fromhex(invalid[name]["hex"]), deliver=False).delivery is None
    # The four-recipient vector stops at its count: refused before any recipient is read.
    assert bytes.fromhex(invalid["deliver-four-recipients"]["hex"])[-1] == 4


RID = [bytes([i]) * 32 for i in range(1, 5)]


def _deliver(**kw) -> bytes:
    base = dict(recipients=[RID[0]], body=b"x", body_type=sp.BODY_SEALED, delivery_id=bytes(16), hops=1,
                expires=1767225600)
    base.update(kw)
    return sp.Delivery(**base).encode()


@pytest.mark.parametrize("raw,ok", [
    (_deliver(), True),
    (_deliver(hops=0), True),
    (_deliver(hops=2), True),
    (_deliver(hops=3), False),  # hops ≤ 2
    (_deliver(recipients=RID[:3]), True),
    (_deliver(recipients=RID[:4]), False),
    (_deliver(recipients=[]), False),
    (_deliver(recipients=[RID[0], RID[1], RID[0]]), False),  # not distinct
    (_deliver(body_type=sp.BODY_ENVELOPE), True),
    (_deliver(body_type=0), False),
    (_deliver(body_type=3), False),
    (_deliver(body=b"\xaa" * 65_536), True),
    (_deliver(body=b"\xaa" * 65_537), False),
    (_deliver(body=b""), False),
    (_deliver()[:-1], False),  # truncated body
    (_deliver() + b"\x00", False),  # trailing byte
    (_deliver()[:17], False),  # ends after the id
    (_deliver()[:1 + 16 + 1] + b"\x80\x00" + _deliver()[1 + 16 + 1 + 5:], False),  # expires 0 as 80 00
    (bytes([sp.DELIVER]) + bytes(16) + b"\x01\x00\x01" + RID[0] + b"\x02" + sp.varint(65_537), False),  # cap first
    (sp.Ack(bytes(16), bytes(32), RID[0], bytes(64)).encode(), True),
    (sp.Ack(bytes(16), bytes(32), RID[0], bytes(64)).encode()[:-1], False),
    (sp.Ack(bytes(16), bytes(32), RID[0], bytes(64)).encode() + b"\x00", False),
], ids=["minimal", "hops-0", "hops-2", "hops-3", "3-recipients", "4-recipients", "0-recipients",
        "duplicate-recipient", "envelope-body", "body-type-0", "body-type-3", "65536-byte-body",
        "65537-byte-body", "empty-body", "truncated-body", "trailing-byte", "no-hops", "non-minimal-expires",
        "length-over-cap-without-body", "delivered", "delivered-short", "delivered-long"])
def test_delivery_limits(raw, ok):
    if ok:
        m = sp.decode_message(raw)
        assert (m.delivery or m.ack).encode() == raw
    else:
        with pytest.raises(sp.DecodeError):
            sp.decode_message(raw)
        sp.decode_message(raw, deliver=False)  # ignored, not refused, without the feature


def test_delivery_expiry_window():
    now = 1_767_225_600
    d = sp.Delivery([RID[0]], b"x", expires=now + 1)
    assert d.carried(now) and not d.carried(now + 1)
    assert sp.Delivery([RID[0]], b"x", expires=now + 30 * 86400 + 600).carried(now)
    assert not sp.Delivery([RID[0]], b"x", expires=now + 30 * 86400 + 601).carried(now)
    d = sp.Delivery([RID[0]], b"x", hops=2, expires=now + 60)
    f = d.forwarded()
    assert (f.hops, f.expires, f.delivery_id, f.recipients, f.body) == (1, d.expires, d.delivery_id, d.recipients, d.body)
