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


def test_valid_objects_are_reproduced(vectors):
    for v in vectors["valid"]:
        ident = sp.Identity(bytes.fromhex(v["seed"]))
        assert ident.hex == v["public_key"]
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
            sp.HELLO: lambda: sp.encode_hello(*d.hello), sp.PING: lambda: sp.encode_ping(d.nonce),
            sp.PONG: lambda: sp.encode_pong(d.nonce), sp.OBJECTS: lambda: sp.encode_objects(d.envelopes),
            sp.IHAVE: lambda: sp.encode_ihave(d.ids), sp.GRAFT: lambda: sp.encode_graft(d.ids),
            sp.PRUNE: sp.encode_prune, sp.GETOBJECTS: lambda: sp.encode_getobjects(d.ids),
            sp.GETADDR: sp.encode_getaddr, sp.ADDR: lambda: sp.encode_addr(d.addrs),
            sp.RECONCILE: lambda: sp.encode_reconcile(d.ranges),
            sp.PRUNE_TREES: lambda: sp.encode_prune_trees(d.ids),
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


def test_wire_vectors_fingerprints(wire):
    for f in wire["fingerprints"]:
        ids = [bytes.fromhex(i) for i in f["ids"]]
        total = sum(int.from_bytes(i, "little") for i in ids) % (1 << 256)
        assert (total.to_bytes(32, "little") + sp.varint(len(ids))).hex() == f["preimage"], f["name"]
        assert sp.fingerprint(ids).hex() == f["fingerprint"], f["name"]
