"""Socket-free checks of souktrade.py, the independent implementation of Specs/trade.md: every
object, fold case, the bundle and the proof of Specs/vectors/trade.json, plus rule tests written
from the spec text alone. They run without a node."""

import dataclasses
import itertools
import json
import random
from pathlib import Path

import nacl.signing
import pytest

import soukpeer as sp
import souktrade as st

SPECS = Path(__file__).resolve().parents[2] / "Specs"
VECTORS = SPECS / "vectors" / "trade.json"
OBJECT_VECTORS = SPECS / "vectors" / "objects.json"
T0 = 1_767_225_600
NOW = T0 + 1_000
NET = "testnet"
H = 3600


@pytest.fixture(scope="module")
def vectors():
    if not VECTORS.exists():
        pytest.skip("Specs/vectors/trade.json not present")
    return json.loads(VECTORS.read_text())


@pytest.fixture(scope="module")
def objs(vectors):
    """name -> Verified, for every object of the vector file."""
    return {o["name"]: st.verify(bytes.fromhex(o["envelope"])) for o in vectors["objects"]}


@pytest.fixture(scope="module")
def by_id(objs):
    return {v.id.hex(): v for v in objs.values()}


@pytest.fixture(scope="module")
def keys(vectors):
    return {k["role"]: sp.Identity(bytes.fromhex(k["seed"])) for k in vectors["keys"]}


# --------------------------------------------------------------------------------------------
# The vector file
# --------------------------------------------------------------------------------------------


def test_keys(vectors, keys):
    seeds = {"buyer": 0x00, "seller": 0x20, "arbiter": 0x40, "fallback_arbiter": 0x60}
    for k in vectors["keys"]:
        assert bytes.fromhex(k["seed"]) == bytes(range(seeds[k["role"]], seeds[k["role"]] + 32))
        assert keys[k["role"]].hex == k["public_key"]
    assert vectors["network"] == NET


def spec_table_tags(path: Path) -> dict:
    """kind byte -> domain tag hex, from the `| n | `name` | `hex` ...` rows of a spec's table."""
    import re
    rows = re.findall(r"^\| (\d+) \| `([a-z-]+)` \| `([0-9a-f]+)`", path.read_text(), re.M)
    return {int(k): (name, hexed) for k, name, hexed in rows}


def test_domain_tags_match_both_specs(vectors):
    objects = json.loads(OBJECT_VECTORS.read_text())
    tags = {t["kind_byte"]: t["hex"] for t in objects["domain_tags"]}
    assert set(range(1, 8)) <= set(tags) <= set(range(1, 10))
    for kind in tags:  # kinds 1-7, and 8 and 9 once the file holds them
        assert st.domain_tag(kind).hex() == tags[kind]
    # objects.md §4 lists kinds 1-9 (8 and 9: reputation); trade.md §1.3 kinds 4-7
    in_objects = spec_table_tags(SPECS / "objects.md")
    assert sorted(in_objects) == list(range(1, 10))
    for kind, (name, hexed) in in_objects.items():
        assert st.KIND_NAMES[kind] == name and st.domain_tag(kind).hex() == hexed
    trade_rows = [line for line in (SPECS / "trade.md").read_text().splitlines() if "736f756b2f7369672f7631" in line]
    for kind in range(4, 8):  # trade.md §1.3: `| `name` | `hex` |`
        assert any(f"`{st.KIND_NAMES[kind]}`" in row and st.domain_tag(kind).hex() in row for row in trade_rows)


def test_every_object_decodes_reencodes_verifies_and_has_its_id(vectors, keys):
    by_key = {k.public: k for k in keys.values()}
    kinds = set()
    for o in vectors["objects"]:
        raw = bytes.fromhex(o["envelope"])
        v = st.verify(raw, NOW, NET)  # every rule of its kind, at a time the vectors are valid
        kinds.add(v.kind)
        assert v.kind == o["kind"] and v.signer.hex() == o["signer"], o["name"]
        assert v.env.payload.hex() == o["payload"], o["name"]
        assert v.body.payload().hex() == o["payload"], o["name"]  # re-encoded from the decoded fields
        assert type(v.body).decode(v.body.payload()) == v.body
        assert v.env.encode() == raw
        # PyNaCl Ed25519 over the domain tag and the payload as received
        nacl.signing.VerifyKey(v.signer).verify(st.domain_tag(v.kind) + v.env.payload, v.env.signature)
        assert st.object_id(raw).hex() == o["object_id"], o["name"]
        # deterministic: re-signing with the seed gives the same envelope
        assert st.sign(by_key[v.signer], v.kind, v.body.payload()) == raw, o["name"]
    assert kinds == {1, 4, 5, 6, 7}


def test_vector_fields(objs, keys):
    order = objs["order"]
    o = order.body.order
    assert order.id == objs["accept"].body.trade_id  # the trade id is the order's object id
    assert order.signer == keys["buyer"].public and o.seller == keys["seller"].public
    assert o.arbiter == keys["arbiter"].public and o.fallback_arbiter == keys["fallback_arbiter"].public
    assert (o.quantity, o.amount, o.currency, o.arbiter_fee, o.rail) == (1, 12_000, "EUR", 240, "cash")
    assert o.deadlines.values() == [10 * H] * 7 and o.private_hash == bytes(32)
    assert o.listing == objs["listing"].raw
    listing = objs["listing"].body
    assert (listing.price, listing.currency, listing.quantity) == (12_000, "EUR", 3)
    profile = objs["arbiter-profile"].body
    assert profile.fee(o.amount, "EUR") == o.arbiter_fee  # 2 % of 120.00 = 2.40 > min fee 1.00
    assert profile.fee(400, "EUR") is None and profile.fee(12_000, "USD") is None
    assert profile.fee(600, "EUR") == 100  # min fee
    chat = objs["chat"].body
    assert chat.conversation == order.id and chat.recipients == [keys["seller"].public]
    release = objs["release-by-buyer"].body
    assert (release.outcome, release.buyer_amount, release.seller_amount, release.arbiter_fee) == (1, 0, 11_760, 240)
    assert release == st.Resolution.make(st.RELEASE, NET, order.id, o)  # make's default chargeFee = true
    split = objs["split-by-arbiter"].body
    assert split == st.Resolution.make(st.SPLIT, NET, order.id, o, buyer_share=6_000)
    assert all(objs[n].body.fits(o) for n in ("release-by-buyer", "split-by-arbiter"))


def test_objects_vectors_with_the_full_listing_rules():
    """verify() applies every listing rule (the order's embedded listing needs them): it agrees
    with every valid and invalid vector of objects.json, text and grapheme rules included."""
    objects = json.loads(OBJECT_VECTORS.read_text())
    for v in objects["valid"]:
        assert st.check(bytes.fromhex(v["envelope"]), v["now"]) is None, v["name"]
    codes = set()
    for v in objects["invalid"]:
        assert st.check(bytes.fromhex(v["envelope"]), v["now"]) == v["error"], v["name"]
        codes.add(v["error"])
    assert {"invalid_title", "unknown_currency", "invalid_price", "malformed", "bad_signature"} <= codes


def test_resolution_example_of_6_1():
    res = st.Resolution(NET, bytes(range(0xA0, 0xC0)), st.RELEASE, 0, 11_880, 120)
    p = res.payload()
    assert len(p) == 46
    assert p.hex() == "0107746573746e6574" + bytes(range(0xA0, 0xC0)).hex() + "0100e85c78"
    assert res.hash.hex() == "99f7af45d50ab30466a58d606b17fab7d589273b7c2dd0deb6475bcd8dc68c23"


def fold_case(case, objs, by_id, shuffle=None):
    steps = [by_id[i] for i in case["steps"]]
    res = [by_id[i] for i in case["resolutions"]]
    if shuffle:
        shuffle(steps)
        shuffle(res)
    return st.fold(objs["order"], steps, res)


def test_fold_cases(vectors, objs, by_id):
    names = []
    for case in vectors["folds"]:
        names.append(case["name"])
        state = fold_case(case, objs, by_id)
        assert state.phase == case["phase"], case["name"]
        if "settlement" in case:
            assert state.settlement is not None and state.settlement.hash.hex() == case["settlement"], case["name"]
        else:
            assert state.settlement is None, case["name"]
    assert names == ["ordered", "fulfilled", "one-signature", "settled-release", "cancel-after-claim", "cancelled",
                     "disputed-split", "conflict"]


def test_fold_cases_any_order_and_duplicates(vectors, objs, by_id):
    rng = random.Random(7)
    for case in vectors["folds"]:
        expect = fold_case(case, objs, by_id)
        steps = [by_id[i] for i in case["steps"]]
        res = [by_id[i] for i in case["resolutions"]]
        orders = itertools.permutations(steps) if len(steps) <= 6 else [rng.sample(steps, len(steps)) for _ in range(50)]
        for perm in orders:
            for r in (res, list(reversed(res)), res + res):
                s = st.fold(objs["order"], list(perm) + list(perm[:2]), r)
                assert s.phase == expect.phase and s.counted == expect.counted, case["name"]
                assert [g.hash for g in s.groups] == [g.hash for g in expect.groups]
                assert (s.settlement and s.settlement.hash) == (expect.settlement and expect.settlement.hash)


def test_fold_details(vectors, objs, by_id):
    folds = {c["name"]: c for c in vectors["folds"]}
    s = fold_case(folds["fulfilled"], objs, by_id)
    assert s.times["accept"] == T0 + 200 and s.times["arbiter_ack"] == T0 + 300
    assert s.times["payment_claim"] == T0 + 400 and s.times["fulfil"] == T0 + 600
    assert not s.fallback_active and s.lapse == st.INF  # primary acknowledged in time, no dispute
    s = fold_case(folds["disputed-split"], objs, by_id)
    assert s.lapse == T0 + 700 + 10 * H  # dispute naming the primary's ack + ruling
    assert s.settlement.signatures.keys() == {"buyer", "arbiter"}
    s = fold_case(folds["cancel-after-claim"], objs, by_id)
    assert objs["cancel"].id in s.counted and not s.cancel_effective  # counts structurally, voided by the claim
    s = fold_case(folds["conflict"], objs, by_id)
    assert len(s.settled_groups) == 2 and s.equivocators == ["arbiter"]
    assert s.equivocating_keys == [objs["order"].body.order.arbiter]
    s = fold_case(folds["one-signature"], objs, by_id)
    assert len(s.proposals) == 1 and s.proposals[0].signatures.keys() == {"buyer"}


def test_bundle_vector(vectors, objs):
    b = vectors["bundle"]
    plain = bytes.fromhex(b["plaintext"])
    assert len(plain) == 512
    bundle = st.Bundle.decode(plain)
    assert [e.hex() for e in bundle.envelopes] == b["envelopes"]
    assert bundle.private.hex() == b["private_blob"] and bundle.digests == []
    assert bundle.encode() == plain and len(bundle.unpadded()) == 509
    priv = st.TradePrivate.decode(bundle.private)
    assert priv == st.TradePrivate(bytes([0x11]) * 16, "Musterstrasse 1") and priv.encode() == bundle.private
    order = st.verify(bundle.envelopes[0], NOW, NET)
    assert order.body.type == st.ORDER
    # The bundle carries `order-with-private-fields`, whose private_hash is the blob's hash
    # (trade.md §13 says the vector order's hash is zero: that is the other order).
    assert order.raw == objs["order-with-private-fields"].raw
    assert order.body.order.private_hash == priv.hash
    assert objs["order"].body.order.private_hash == bytes(32) != priv.hash
    # the two orders differ only in the private hash
    assert dataclasses.replace(order.body.order, private_hash=bytes(32)) == objs["order"].body.order


def test_bundle_padding_and_caps(objs, keys):
    assert [st.padded_size(n) for n in (0, 1, 256, 257, 512, 513, 32_768)] == [256, 256, 256, 512, 512, 1024, 32_768]
    with pytest.raises(ValueError):
        st.padded_size(32_769)
    small = st.Bundle(digests=[st.Digest(objs["order"].id, keys["buyer"].public, [objs["accept"].id])])
    enc = small.encode()
    assert len(enc) == 256 and st.Bundle.decode(enc) == small
    # a reader does not check that the length is a power of two: no padding at all is fine
    assert st.Bundle.decode(small.unpadded()) == small
    assert st.Bundle.decode(enc + bytes(100)) == small
    with pytest.raises(sp.DecodeError):  # a non-zero padding byte
        st.Bundle.decode(enc[:-1] + b"\x01")
    with pytest.raises(sp.DecodeError):  # over 32 768 bytes
        st.Bundle.decode(enc + bytes(32_768))
    with pytest.raises(sp.DecodeError):  # 17 envelopes: refused before reading them
        st.Bundle.decode(b"\x01\x11")
    with pytest.raises(sp.DecodeError):  # 17 digests
        st.Bundle.decode(b"\x01\x00\x00\x11")
    with pytest.raises(sp.DecodeError):  # 129 ids in a digest
        st.Bundle.decode(b"\x01\x00\x00\x01" + bytes(64) + sp.varint(129))
    with pytest.raises(sp.DecodeError):  # private blob over 4 096
        st.Bundle.decode(b"\x01\x00" + sp.varint(4097))
    with pytest.raises(sp.DecodeError):  # an envelope blob over 65 637 (Envelope.maxEncodedBytes)
        st.Bundle.decode(b"\x01\x01" + sp.varint(65_638))
    with pytest.raises(sp.DecodeError):
        st.Bundle.decode(b"\x02\x00\x00\x00")
    # sizes: sealed bodies are 48 bytes longer (304, 560, ...)
    body = st.seal(enc, keys["seller"].public)
    assert len(body) == 304 and st.unseal(body, keys["seller"]) == enc


# --------------------------------------------------------------------------------------------
# Settlement proof (§11)
# --------------------------------------------------------------------------------------------


def proof_of(vectors) -> dict:
    p = vectors["proof"]
    return json.loads(p) if isinstance(p, str) else dict(p)


def test_proof_verifies(vectors, objs):
    assert isinstance(vectors["proof"], str)  # §13: the document's text, a JSON string
    proof = proof_of(vectors)
    assert set(proof) == {"format", "order", "accept", "fallback_ack", "signatures"} and proof["fallback_ack"] is None
    r = st.verify_proof(proof)
    assert r.trade.id == objs["order"].id and r.roles == ["buyer", "seller"] and r.signed_by == ["buyer", "seller"]
    assert st.verify_proof(vectors["proof"]).hash == r.hash  # the CLI reads the text
    assert r.hash.hex() == next(c["settlement"] for c in vectors["folds"] if c["name"] == "settled-release")
    assert st.verify_proof(json.dumps(proof)).hash == r.hash


def test_proof_is_what_the_fold_writes(vectors, objs, by_id):
    case = next(c for c in vectors["folds"] if c["name"] == "settled-release")
    written = st.make_proof(fold_case(case, objs, by_id))
    vector = proof_of(vectors)
    for member in vector:
        assert written[member] == vector[member], member
    assert written["resolution"] == {"hash": case["settlement"], "outcome": "release", "buyer_amount": "0.00",
                                     "seller_amount": "117.60", "arbiter_fee": "2.40",
                                     "signed_by": ["buyer", "seller"]}
    assert written["trade_id"] == objs["order"].id.hex() and written["network"] == NET
    st.verify_proof(written)


def refused(proof, code="invalid_resolution"):
    with pytest.raises(st.ValidationError) as e:
        st.verify_proof(proof)
    assert e.value.code == code, e.value
    return e.value


def test_mutated_proofs_are_refused(vectors, objs, keys):
    good = proof_of(vectors)
    # one signature
    refused({**good, "signatures": good["signatures"][:1]})
    # the same signer twice (Ed25519 is deterministic: the same envelope twice)
    refused({**good, "signatures": [good["signatures"][0]] * 2})
    # a flipped byte anywhere: in a signature, in the order, in the accept
    for member in ("order", "accept"):
        raw = bytearray.fromhex(good[member])
        for pos in (10, len(raw) // 2, len(raw) - 1):
            bad = bytearray(raw)
            bad[pos] ^= 1
            refused({**good, member: bad.hex()})
    for i in range(2):
        raw = bytearray.fromhex(good["signatures"][i])
        raw[-3] ^= 1
        sigs = list(good["signatures"])
        sigs[i] = raw.hex()
        refused({**good, "signatures": sigs})
    # the accept signed by someone else than the seller (the buyer, the arbiter)
    accept = objs["accept"].body
    for who in ("buyer", "arbiter"):
        forged = st.sign(keys[who], st.KIND_STEP, accept.payload())
        refused({**good, "accept": forged.hex()})
    # a step of another type as the accept
    refused({**good, "accept": objs["arbiter-ack"].raw.hex()})
    # signatures over different resolutions (release by buyer, split by arbiter)
    refused({**good, "signatures": [good["signatures"][0], objs["split-by-arbiter"].raw.hex()]})
    # a fallback arbiter's signature without its acknowledgement
    fb = st.sign(keys["fallback_arbiter"], st.KIND_RESOLUTION, objs["release-by-buyer"].body.payload())
    refused({**good, "signatures": [good["signatures"][0], fb.hex()]})
    # a non-party's signature
    stranger = sp.Identity(bytes([9]) * 32)
    refused({**good, "signatures": [good["signatures"][0],
                                    st.sign(stranger, st.KIND_RESOLUTION, objs["release-by-buyer"].body.payload()).hex()]})
    # a resolution envelope given as the order
    refused({**good, "order": good["signatures"][0]})
    # the document itself (§11.2 'Reading the document'): invalid_proof
    refused({**good, "format": "souk-settlement-proof/2"}, "invalid_proof")
    refused({k: v for k, v in good.items() if k != "format"}, "invalid_proof")
    refused({k: v for k, v in good.items() if k != "accept"}, "invalid_proof")
    refused({**good, "order": good["order"] + "0"}, "invalid_proof")  # odd number of digits
    refused({**good, "accept": " " + good["accept"]}, "invalid_proof")
    refused({**good, "signatures": [good["signatures"][0], 7]}, "invalid_proof")
    refused({**good, "fallback_ack": "zz"}, "invalid_proof")
    refused("{not json", "invalid_proof")
    refused(json.dumps(json.dumps(good)), "invalid_proof")  # a string holding the document is not an object
    # signatures missing or not an array: no signatures (invalid_resolution)
    refused({k: v for k, v in good.items() if k != "signatures"})
    refused({**good, "signatures": good["signatures"][0]})
    assert st.verify_proof({**good, "order": good["order"].upper()}).roles == ["buyer", "seller"]
    # a payload that does not decode reports its own code (malformed), not invalid_resolution
    order = objs["order"]
    garbled = st.sign(keys["buyer"], st.KIND_STEP, order.env.payload + b"\x00")
    refused({**good, "order": garbled.hex()}, "malformed")
    # the order rules report invalid_order (a fee over the amount)
    greedy = dataclasses.replace(order.body.order, arbiter_fee=order.body.order.amount + 1)
    bad_order = st.sign(keys["buyer"], st.KIND_STEP, dataclasses.replace(order.body, order=greedy).payload())
    refused({**good, "order": bad_order.hex()}, "invalid_order")
    # the accept dated before the order
    accept = objs["accept"].body
    early = st.sign(keys["seller"], st.KIND_STEP,
                    dataclasses.replace(accept, created_at=order.body.created_at - 1).payload())
    refused({**good, "accept": early.hex()})
    same_time = st.sign(keys["seller"], st.KIND_STEP, dataclasses.replace(accept, created_at=order.body.created_at).payload())
    st.verify_proof({**good, "accept": same_time.hex()})
    # the accept on another network
    other = st.sign(keys["seller"], st.KIND_STEP, dataclasses.replace(accept, network="main").payload())
    refused({**good, "accept": other.hex()})
    # a valid extra third signature by the arbiter over the same bytes is fine
    third = objs["release-by-arbiter"].raw.hex()
    assert st.verify_proof({**good, "signatures": good["signatures"] + [third]}).roles == ["buyer", "seller", "arbiter"]
    # the derived members are ignored (§11.1, §15 item 12): a wrong trade_id does not matter
    st.verify_proof({**good, "trade_id": "00" * 32, "network": "main"})


def test_proof_with_the_fallback(objs, keys):
    """A settlement by the buyer and the fallback arbiter, with the fallback's acknowledgement
    (named `arbiter` in signed_by)."""
    order, accept = objs["order"], objs["accept"]
    d = order.body.order.deadlines
    release = objs["release-by-buyer"]
    fb_sig = st.sign(keys["fallback_arbiter"], st.KIND_RESOLUTION, release.body.payload())
    base = {"format": st.PROOF_FORMAT, "order": order.raw.hex(), "accept": accept.raw.hex(),
            "signatures": [release.raw.hex(), fb_sig.hex()]}
    earliest = accept.body.created_at + min(d.arbiter_ack, d.ruling)
    ok = mk_step(keys["fallback_arbiter"], order.id, st.ARBITER_ACK, earliest, [accept.id])
    r = st.verify_proof({**base, "fallback_ack": ok.raw.hex()})
    assert r.roles == ["buyer", "arbiter"] and r.signed_by == ["buyer", "arbiter"]
    # the takeover on another network than the order's
    elsewhere = mk_step(keys["fallback_arbiter"], order.id, st.ARBITER_ACK, earliest, [accept.id], network="main")
    refused({**base, "fallback_ack": elsewhere.raw.hex()})
    # its parents are not checked (§15): a takeover naming only the order passes
    st.verify_proof({**base, "fallback_ack": mk_step(keys["fallback_arbiter"], order.id, st.ARBITER_ACK, earliest,
                                                     [order.id]).raw.hex()})
    early = mk_step(keys["fallback_arbiter"], order.id, st.ARBITER_ACK, earliest - 1, [accept.id])
    refused({**base, "fallback_ack": early.raw.hex()})
    primary = mk_step(keys["arbiter"], order.id, st.ARBITER_ACK, earliest, [accept.id])
    refused({**base, "fallback_ack": primary.raw.hex()})
    refused({**base, "fallback_ack": None})
    # primary and fallback arbiter are one role: no proof with those two alone
    refused({**base, "fallback_ack": ok.raw.hex(), "signatures": [objs["release-by-arbiter"].raw.hex(), fb_sig.hex()]})


# --------------------------------------------------------------------------------------------
# Building objects for the rule tests
# --------------------------------------------------------------------------------------------


def mk_step(ident, trade_id, type_, created_at, parents, text="", network=NET) -> st.Verified:
    step = st.TradeStep(network, type_, created_at, trade_id=trade_id, parents=list(parents), text=text)
    return st.verify(st.sign(ident, st.KIND_STEP, step.payload()))


def mk_res(ident, res: st.Resolution) -> st.Verified:
    return st.verify(st.sign(ident, st.KIND_RESOLUTION, res.payload()))


class T:
    """A trade built on the vector order: steps by role, with times relative to t0."""

    def __init__(self, objs, keys, order=None):
        self.objs, self.keys = objs, keys
        self.order = order or objs["order"]
        self.id = self.order.id
        self.body = self.order.body.order
        self.steps: list = []
        self.res: list = []

    def step(self, who, type_, dt, *parents, text=""):
        ps = [p.id if isinstance(p, st.Verified) else p for p in (parents or (self.id,))]
        v = mk_step(self.keys[who], self.id, type_, T0 + dt, ps, text)
        self.steps.append(v)
        return v

    def sign(self, who, outcome, buyer_share=0, fee=True, **override):
        r = st.Resolution.make(outcome, NET, self.id, self.body, buyer_share, charge_fee=fee)
        r = dataclasses.replace(r, **override)
        v = mk_res(self.keys[who], r)
        self.res.append(v)
        return v

    def fold(self):
        return st.fold(self.order, self.steps, self.res)

    @property
    def phase(self):
        return self.fold().phase


D = 10 * H  # every deadline of the vector order


# --------------------------------------------------------------------------------------------
# Order rules (§3.6) and step decoding (§3.1-3.5)
# --------------------------------------------------------------------------------------------


def order_code(keys, objs, now=NOW, signer="buyer", network=NET, created=T0 + 100, **changes):
    base = objs["order"].body
    body = dataclasses.replace(base.order, **changes)
    step = st.TradeStep(network, st.ORDER, created, order=body)
    return st.check(st.sign(keys[signer], st.KIND_STEP, step.payload()), now, NET if network == NET else None)


def test_order_rules(objs, keys):
    o = objs["order"].body.order
    listing = objs["listing"]
    k = {r: keys[r].public for r in keys}
    assert order_code(keys, objs) is None
    # 1-3: the listing blob
    assert order_code(keys, objs, listing=objs["accept"].raw) == "invalid_order"  # not a listing
    assert order_code(keys, objs, listing=b"\x01\x01") == "invalid_order"
    bad_sig = bytearray(listing.raw)
    bad_sig[-1] ^= 1
    assert order_code(keys, objs, listing=bytes(bad_sig)) == "invalid_order"
    relisted = dataclasses.replace(listing.body, title=" Road bike")  # a listing field rule
    assert order_code(keys, objs, listing=st.sign(keys["seller"], 1, relisted.payload())) == "invalid_order"
    # the listing's own field rules that are not about the clock still apply (created_at > updated_at)
    skewed = dataclasses.replace(listing.body, created_at=listing.body.updated_at + 1)
    assert order_code(keys, objs, listing=st.sign(keys["seller"], 1, skewed.payload())) == "invalid_order"
    unknown = st.sign(keys["seller"], 1, dataclasses.replace(listing.body, currency="XAU").payload())
    assert order_code(keys, objs, listing=unknown, currency="XAU") == "invalid_order"
    # an expired listing is fine (its clock is not applied), as long as it was current at the order's time
    assert st.check(listing.raw, listing.body.expires_at) == "expired"
    assert order_code(keys, objs, now=listing.body.expires_at + 10 ** 6) is None
    # the blob cap is 16 485 bytes (the largest listing envelope): longer is malformed, up to it is
    # decoded (then refused by rule 1)
    assert st.LISTING_BLOB_CAP == 16_485 == 2 + 3 + 16_384 + 32 + 64
    assert order_code(keys, objs, listing=bytes(16_485)) == "invalid_order"
    assert order_code(keys, objs, listing=bytes(16_486)) == "malformed"
    # every failure of the embedded listing is invalid_order: a listing-sized blob of another kind,
    # an unknown kind, a payload over the listing cap
    assert order_code(keys, objs, listing=bytes([1, 0x7F]) + b"\x00" + bytes(96)) == "invalid_order"
    assert order_code(keys, objs, listing=objs["chat"].raw) == "invalid_order"
    big = bytes([1, 1]) + sp.varint(16_385) + bytes(16_385 - 3)  # fits the blob cap, not the listing cap
    assert len(big) <= 16_485 and order_code(keys, objs, listing=big) == "invalid_order"
    # 4: seller = the listing's signer
    assert order_code(keys, objs, seller=k["arbiter"]) == "invalid_order"
    # 5-7: distinct parties
    assert order_code(keys, objs, signer="seller") == "invalid_order"
    assert order_code(keys, objs, arbiter=k["buyer"]) == "invalid_order"
    assert order_code(keys, objs, arbiter=k["seller"]) == "invalid_order"
    for who in ("buyer", "seller", "arbiter"):
        assert order_code(keys, objs, fallback_arbiter=k[who]) == "invalid_order"
    assert order_code(keys, objs, fallback_arbiter=None) is None
    # 8: currency byte for byte
    assert order_code(keys, objs, currency="USD") == "invalid_order"
    assert order_code(keys, objs, currency="eur") == "invalid_order"
    # 9-11: quantity and amount = price x quantity
    assert order_code(keys, objs, quantity=0, amount=0) == "invalid_order"
    assert order_code(keys, objs, quantity=3, amount=36_000) is None
    assert order_code(keys, objs, quantity=4, amount=48_000) == "invalid_order"
    assert order_code(keys, objs, amount=11_999) == "invalid_order"
    assert order_code(keys, objs, amount=12_001) == "invalid_order"
    # 12: fee <= amount
    assert order_code(keys, objs, arbiter_fee=12_000) is None
    assert order_code(keys, objs, arbiter_fee=12_001) == "invalid_order"
    # 13: rail
    for rail in ("", " cash", "cash ", "ca\tsh", "ca\nsh", "\u3000cash"):
        assert order_code(keys, objs, rail=rail) == "invalid_order", repr(rail)
    assert order_code(keys, objs, rail="btc-multisig") is None
    assert order_code(keys, objs, rail="bank transfer\u200b") is None  # Cf is not white space
    # 14: deadlines, 1 s .. 180 d; 1 h on main
    for name in st.DEADLINE_NAMES:
        for value, code in ((0, "invalid_order"), (1, None), (15_552_000, None), (15_552_001, "invalid_order")):
            dl = dataclasses.replace(o.deadlines, **{name: value})
            assert order_code(keys, objs, deadlines=dl) == code, (name, value)
    short = dataclasses.replace(o.deadlines, payment=3599)
    assert order_code(keys, objs, network="main", deadlines=short) == "invalid_order"
    assert order_code(keys, objs, network="main") is None  # 10 h deadlines are fine on main
    # the order's network decides, not the verifier's: a 1 s deadline is fine on a testnet order
    # whoever checks it, and a main order's is refused whoever checks it
    one_s = dataclasses.replace(o.deadlines, accept=1)
    assert order_code(keys, objs, deadlines=one_s) is None
    main_order = st.TradeStep("main", st.ORDER, T0 + 100, order=dataclasses.replace(o, deadlines=one_s))
    with pytest.raises(st.ValidationError) as e:
        st.validate_order(main_order, keys["buyer"].public)
    assert e.value.code == "invalid_order"
    # 15: the listing was current at the order's time (listing updated_at = t0)
    assert order_code(keys, objs, created=T0 - 600) is None
    assert order_code(keys, objs, created=T0 - 601) == "invalid_order"
    assert order_code(keys, objs, created=listing.body.expires_at - 1, now=listing.body.expires_at) is None
    assert order_code(keys, objs, created=listing.body.expires_at, now=listing.body.expires_at) == "invalid_order"


def test_order_price_overflow(keys):
    """Rule 10: the product is computed by the verifier, never wrapped."""
    seller = keys["seller"]
    listing = st.Listing(bytes(16), 1, T0, T0, T0 + 86400, "Gold", "", st.MAX_AMOUNT, "SAT", "x", "", "", 1_000_000, 0, [])
    env = st.sign(seller, 1, listing.payload())
    for qty, amount in ((2, (st.MAX_AMOUNT * 2) & st.U64), (1 << 11, (st.MAX_AMOUNT << 11) & st.U64)):
        body = st.OrderBody(env, qty, amount, "SAT", seller.public, keys["arbiter"].public, None, 0, "cash",
                            st.Deadlines())
        raw = st.sign(keys["buyer"], 5, st.TradeStep(NET, 1, T0 + 100, order=body).payload())
        assert st.check(raw, NOW) == "invalid_order"
    body = st.OrderBody(env, 1, st.MAX_AMOUNT, "SAT", seller.public, keys["arbiter"].public, None, 0, "cash",
                        st.Deadlines())
    assert st.check(st.sign(keys["buyer"], 5, st.TradeStep(NET, 1, T0 + 100, order=body).payload()), NOW) is None


def raw_step_code(keys, payload, who="buyer", now=NOW, network=NET):
    return st.check(st.sign(keys[who], st.KIND_STEP, payload), now, network)


def test_step_decoding_and_codes(objs, keys):
    tid = objs["order"].id
    def payload(**kw):
        base = dict(network=NET, type=st.CANCEL, created_at=T0 + 500, trade_id=tid, parents=[tid], text="")
        base.update(kw)
        return st.TradeStep(**base).payload()
    assert raw_step_code(keys, payload()) is None
    good = payload()
    assert raw_step_code(keys, good + b"\x00") == "malformed"  # trailing byte
    assert raw_step_code(keys, b"\x02" + good[1:]) == "malformed"  # format
    for t in (0, 12, 255):
        assert raw_step_code(keys, payload(type=t)) == "malformed"
    assert raw_step_code(keys, payload(parents=[])) == "malformed"
    assert raw_step_code(keys, payload(parents=[bytes([i]) * 32 for i in range(9)])) == "malformed"
    assert raw_step_code(keys, payload(parents=[bytes([i]) * 32 for i in range(8)])) is None  # no store here
    assert raw_step_code(keys, payload(parents=[tid, tid])) == "invalid_trade_step"
    assert raw_step_code(keys, payload(network="")) == "invalid_trade_step"
    assert raw_step_code(keys, payload(network="main")) == "wrong_network"
    assert raw_step_code(keys, payload(network="x" * 200), network=None) is None
    assert raw_step_code(keys, payload(network="x" * 201), network=None) == "malformed"
    for text in ("a\rb", "\x00", "\x7f", "\x85"):
        assert raw_step_code(keys, payload(text=text)) == "invalid_trade_step", repr(text)
    assert raw_step_code(keys, payload(text="line 1\n\tline 2 \u202e")) is None
    assert raw_step_code(keys, payload(text="x" * 4096)) is None
    assert raw_step_code(keys, payload(text="x" * 4097)) == "malformed"
    assert raw_step_code(keys, payload(created_at=st.EARLIEST - 1)) == "invalid_timestamps"
    assert raw_step_code(keys, payload(created_at=NOW + 600)) is None
    assert raw_step_code(keys, payload(created_at=NOW + 601)) == "from_the_future"
    # non-minimal varint in created_at
    p = bytearray(good)
    i = p.index(sp.varint(T0 + 500))
    assert raw_step_code(keys, bytes(p[:i]) + b"\xf4\xf5\xd6\xca\x86\x00" + bytes(p[i + 5:])) == "malformed"
    # the order's fallback flag
    order = bytearray(objs["order"].env.payload)
    flag_at = len(order) - (32 + 16 + 7 * 3 + 5 + 2 + 32 + 1)
    assert order[flag_at] == 1
    order[flag_at] = 2
    assert raw_step_code(keys, bytes(order)) == "malformed"
    # a bad signature comes before anything in the payload
    bad = bytearray(st.sign(keys["buyer"], st.KIND_STEP, payload(type=0)))
    bad[-1] ^= 1
    assert st.check(bytes(bad), NOW) == "bad_signature"
    # envelope caps per kind (objects.md §3, trade.md §1.3)
    too_long = bytes([1, st.KIND_RESOLUTION]) + sp.varint(513)
    assert st.check(too_long + bytes(513 + 96)) == "malformed"
    step_cap = bytes([1, st.KIND_STEP]) + sp.varint(24_577)
    assert st.check(step_cap + bytes(24_577 + 96)) == "malformed"  # over the trade-step cap, under 64 KiB
    assert st.MAX_STEP_ENVELOPE == 24_677
    # the envelope cap is 65 637 bytes (64 KiB of payload); kinds 8 and 9 are known (reputation)
    assert st.MAX_ENVELOPE == 65_637 and st.ENVELOPE_MAX_PAYLOAD == 65_536
    assert st.MAX_PAYLOAD[8] == 24_576 and st.MAX_PAYLOAD[9] == 49_380 < st.ENVELOPE_MAX_PAYLOAD
    assert 2 + 3 + max(st.MAX_PAYLOAD.values()) + 96 == 49_481  # the largest envelope of a known kind
    assert st.check(bytes([1, 1]) + bytes(65_636)) == "malformed"  # 65 638 bytes: too long
    assert st.check(bytes([1, 10]) + b"\x00" + bytes(96)) == "unknown_kind"
    assert st.check(bytes([1, 8]) + b"\x00" + bytes(96)) == "bad_signature"
    assert st.check(bytes([1, 9]) + sp.varint(49_381) + bytes(49_381 + 96)) == "malformed"
    with pytest.raises(st.NotSpecified):
        st.verify(st.sign(keys["buyer"], st.KIND_LOG_ENTRY, b"\x01"))


def test_resolution_rules(objs, keys):
    tid = objs["order"].id
    def code(*a, net=NET, verifier=NET):
        return st.check(st.sign(keys["arbiter"], st.KIND_RESOLUTION, st.Resolution(net, tid, *a).payload()), None, verifier)
    assert code(st.RELEASE, 0, 11_760, 240) is None
    assert code(st.RELEASE, 1, 11_759, 240) == "invalid_resolution"
    assert code(st.REFUND, 11_760, 1, 239) == "invalid_resolution"
    assert code(st.REFUND, 11_760, 0, 240) is None
    assert code(st.SPLIT, 1, 2, 3) is None  # valid although it does not fit
    assert code(st.SPLIT, st.MAX_AMOUNT, 0, 0) is None
    assert code(st.SPLIT, st.MAX_AMOUNT, 1, 0) == "invalid_resolution"
    assert code(st.SPLIT, st.U64, st.U64, st.U64) == "invalid_resolution"  # no overflow, refused
    assert code(st.RELEASE, 0, 1, 0, net="", verifier=None) == "invalid_resolution"
    assert code(st.RELEASE, 0, 11_760, 240, net="main") == "wrong_network"
    for outcome in (0, 4):
        assert code(outcome, 0, 0, 0) == "malformed"
    # at most 266 bytes
    biggest = st.Resolution("n" * 200, tid, st.SPLIT, st.U64, st.U64, st.U64).payload()
    assert len(biggest) == 266


def test_chat_rules(objs, keys):
    k = {r: keys[r].public for r in keys}
    conv = objs["order"].id
    def code(text="hello", recipients=(k["seller"],), who="buyer", net=NET, created=T0 + 150):
        msg = st.ChatMessage(net, created, conv, list(recipients), text)
        return st.check(st.sign(keys[who], st.KIND_CHAT, msg.payload()), NOW, NET if net else None)
    assert code() is None
    assert code(recipients=(k["seller"], k["arbiter"])) is None
    assert code(recipients=()) == "malformed"
    assert code(recipients=(k["seller"], k["arbiter"], k["fallback_arbiter"])) == "malformed"
    assert code(recipients=(k["seller"], k["seller"])) == "invalid_message"
    assert code(recipients=(k["buyer"],)) == "invalid_message"
    # the signer-as-recipient rule comes after the clock (§10.1), the others before it
    assert code(recipients=(k["buyer"],), created=NOW + 601) == "from_the_future"
    assert code(recipients=(k["seller"], k["seller"]), created=NOW + 601) == "invalid_message"
    assert code(net="") == "invalid_message"
    assert code(net="main") == "wrong_network"
    for text in ("", " ", "\u200b", " \n\t", "a\rb", "a\x00"):
        assert code(text=text) == "invalid_message", repr(text)
    assert code(text="\u202eok") is None  # bidi controls are allowed in chat
    assert code(text="x" * 1999 + "e\u0301") is None  # 2000 characters, 2001 code points
    assert code(text="x" * 2000) is None
    assert code(text="e\u0301" * 1365) is None  # 4095 bytes
    assert code(text="x" * 2001) == "invalid_message"
    assert code(text="x" * 4097) == "malformed"
    assert code(created=st.EARLIEST - 1) == "invalid_timestamps"
    assert code(created=NOW + 601) == "from_the_future"
    # the conversation about a listing
    lid = sp.listing_id(k["seller"], objs["listing"].body.salt)
    expect = st.blake2b(b"souk/chat/listing/v1\x00" + lid + k["buyer"], 32)
    assert st.listing_conversation(lid, k["buyer"]) == expect and len(b"souk/chat/listing/v1") == 20


def test_arbiter_profile_rules(objs, keys):
    base = objs["arbiter-profile"].body
    def code(now=NOW, **kw):
        p = dataclasses.replace(base, **kw)
        return st.check(st.sign(keys["arbiter"], st.KIND_ARBITER, p.payload()), now)
    eur = base.currencies[0]
    assert code() is None
    assert code(version=0) == "invalid_version"
    assert code(version=1 << 32) == "invalid_version"
    for name in ("", " Fair", "Fair ", "Fa\nir", "\u202eFair", "\u200b", "x" * 65):
        assert code(display_name=name) == "invalid_arbiter_profile", repr(name)
    assert code(display_name="x" * 64) is None
    assert code(display_name="x" * 257) == "malformed"
    assert code(fee_basis_points=5000) is None
    assert code(fee_basis_points=5001) == "invalid_arbiter_profile"
    assert code(currencies=[]) == "invalid_arbiter_profile"
    assert code(currencies=[eur, eur]) == "invalid_arbiter_profile"
    assert code(currencies=[dataclasses.replace(eur, currency="XAU")]) == "invalid_arbiter_profile"  # not unknown_currency
    assert code(currencies=[dataclasses.replace(eur, min_amount=eur.max_amount + 1)]) == "invalid_arbiter_profile"
    assert code(currencies=[dataclasses.replace(eur, max_amount=st.MAX_AMOUNT + 1)]) == "invalid_arbiter_profile"
    assert code(currencies=[dataclasses.replace(eur, min_fee=st.MAX_AMOUNT + 1)]) == "invalid_arbiter_profile"
    many = [st.CurrencyTerms(c, 0, 0, 1) for c in sorted(st.CURRENCIES)[:17]]
    assert code(currencies=many[:16]) is None
    assert code(currencies=many) == "malformed"
    assert code(languages=["en", "en"]) == "invalid_arbiter_profile"
    assert code(languages=["x"]) == "invalid_arbiter_profile"
    assert code(languages=["de-CH", "gsw"]) is None
    assert code(languages=["en"] * 9) == "malformed"
    assert code(terms="a\rb") == "invalid_arbiter_profile"
    assert code(terms="line\n\tline") is None
    for hours, c in ((0, "invalid_arbiter_profile"), (1, None), (720, None), (721, "invalid_arbiter_profile")):
        assert code(response_hours=hours) == c
    assert code(updated_at=st.EARLIEST - 1, expires_at=st.EARLIEST + 10) == "invalid_timestamps"
    assert code(expires_at=base.updated_at) == "invalid_timestamps"
    assert code(expires_at=base.updated_at + 90 * 86400) is None
    assert code(expires_at=base.updated_at + 90 * 86400 + 1) == "invalid_timestamps"
    assert code(now=base.updated_at - 601) == "from_the_future"
    assert code(now=base.expires_at) == "expired"
    assert code(now=base.expires_at - 1) is None


def test_private_fields_and_make():
    p = st.TradePrivate(bytes(16), "x" * 2048)
    assert st.TradePrivate.decode(p.encode()) == p
    with pytest.raises(sp.DecodeError):
        st.TradePrivate.decode(st.TradePrivate(bytes(16), "x" * 2049).encode())
    with pytest.raises(sp.DecodeError):
        st.TradePrivate.decode(p.encode() + b"\x00")
    body = st.OrderBody(b"", 1, 12_000, "EUR", bytes(32), bytes(32), None, 240, "cash", st.Deadlines())
    assert st.Resolution.make(st.SPLIT, NET, bytes(32), body, 11_760).seller_amount == 0
    with pytest.raises(ValueError):
        st.Resolution.make(st.SPLIT, NET, bytes(32), body, 11_761)
    assert st.Resolution.make(st.REFUND, NET, bytes(32), body, charge_fee=False).buyer_amount == 12_000


def test_fee_overflow_rule():
    p = st.ArbiterProfile(1, T0, T0 + 1, "A", 5000, [st.CurrencyTerms("SAT", 0, 0, st.MAX_AMOUNT)], [], "", 1)
    # amount x 5000 overflows 64 bits: floor(amount / 10 000) x bp
    assert p.fee(st.MAX_AMOUNT, "SAT") == (st.MAX_AMOUNT // 10_000) * 5000
    assert p.fee(10_001, "SAT") == 5000


# --------------------------------------------------------------------------------------------
# Store rules (§4) and structural rules (§3.4)
# --------------------------------------------------------------------------------------------


def test_store_defers_and_refuses(vectors, objs, keys):
    rng = random.Random(3)
    every = [o for o in objs.values() if o.kind in (5, 6) and o.raw != objs["order-with-private-fields"].raw]
    for _ in range(20):
        store = st.Store()
        items = rng.sample(every, len(every))
        outcomes = [store.add(v) for v in items]
        assert "stored" in outcomes and not store.deferred
        assert len(store.objects) == len(every)
    # a step whose parent is not held is deferred, then stored with the parent
    store = st.Store()
    assert store.add(objs["accept"]) == "deferred"
    assert store.add(objs["order"]) == "stored" and objs["accept"].id in store.objects
    assert store.add(objs["payment-claim"]) == "deferred"
    assert store.add(objs["arbiter-ack"]) == "stored" and objs["payment-claim"].id in store.objects
    assert store.add(objs["accept"]) == "duplicate"
    t = T(objs, keys)
    with pytest.raises(st.ValidationError) as e:  # the trade id names a step
        store.add(mk_step(keys["buyer"], objs["accept"].id, st.CANCEL, T0 + 500, [objs["accept"].id]))
    assert e.value.code == "invalid_trade_step"
    with pytest.raises(st.ValidationError) as e:  # the resolution's trade id names a step
        store.add(mk_res(keys["buyer"], dataclasses.replace(objs["release-by-buyer"].body, trade_id=objs["accept"].id)))
    assert e.value.code == "invalid_resolution"
    with pytest.raises(st.ValidationError) as e:  # a parent of another trade
        other = objs["order-with-private-fields"]
        store.add(other)
        store.add(mk_step(keys["buyer"], other.id, st.CANCEL, T0 + 500, [other.id, objs["accept"].id]))
    assert e.value.code == "invalid_trade_step"
    with pytest.raises(st.ValidationError) as e:  # a resolution of another network
        store.add(mk_res(keys["buyer"], dataclasses.replace(objs["release-by-buyer"].body, network="other")))
    assert e.value.code == "wrong_network"
    with pytest.raises(st.ValidationError) as e:  # a step of another network than its order
        store.add(mk_step(keys["buyer"], t.id, st.CANCEL, T0 + 500, [t.id], network="other"))
    assert e.value.code == "wrong_network"
    stranger = sp.Identity(bytes([9]) * 32)
    with pytest.raises(st.ValidationError) as e:
        store.add(mk_res(stranger, objs["release-by-buyer"].body))
    assert e.value.code == "invalid_resolution"


@pytest.mark.parametrize("who,type_,parent,dt,ok", [
    ("seller", st.ACCEPT, "order", 200, True),
    ("buyer", st.ACCEPT, "order", 200, False),  # role may not sign the type
    ("arbiter", st.CANCEL, "order", 200, False),
    ("fallback_arbiter", st.ARBITER_ACK, "accept", 300, True),
    ("fallback_arbiter", st.DISPUTE, "arbiter-ack", 800, False),
    ("seller", st.DISPUTE, "arbiter-ack", 800, True),
    ("buyer", st.PAYMENT_CLAIM, "accept", 400, False),  # needs an arbiter_ack parent
    ("seller", st.FULFIL, "arbiter-ack", 400, True),  # pay on delivery: no claim needed
    ("buyer", st.RECEIVED, "fulfil", 700, True),
    ("buyer", st.RECEIVED, "arbiter-ack", 700, False),
    ("arbiter", st.EXPIRE, "order", 100, True),  # dated at the order's time: allowed (>=)
    ("arbiter", st.EXPIRE, "order", 99, False),  # dated before its parent
    ("buyer", st.PAYMENT_CLAIM, "arbiter-ack", 299, False),  # back-dated
])
def test_structural_rules(objs, keys, who, type_, parent, dt, ok):
    tid = objs["order"].id
    p = tid if parent == "order" else objs[parent].id
    v = mk_step(keys[who], tid, type_, T0 + dt, [p], text="new")  # not a vector envelope again
    store = st.Store()
    for name in ("order", "accept", "arbiter-ack", "payment-claim", "payment-confirm", "fulfil"):
        store.add(objs[name])
    if ok:
        assert store.add(v) == "stored"
    else:
        with pytest.raises(st.ValidationError) as e:
            store.add(v)
        assert e.value.code == "invalid_trade_step"
    # the fold agrees: a step the store refuses is never structural
    state = store.state(tid) if ok else st.fold(objs["order"], [*(objs[n] for n in (
        "accept", "arbiter-ack", "payment-claim", "payment-confirm", "fulfil")), v], [])
    assert (v.id in state.structural) == ok


def test_store_quotas(objs, keys):
    store = st.Store()
    store.add(objs["order"])
    tid = objs["order"].id
    out = [store.add(mk_step(keys["buyer"], tid, st.CANCEL, T0 + 200 + i, [tid], text=str(i))) for i in range(16)]
    assert out == ["stored"] * 15 + ["quota"]  # the order is one of the buyer's 16
    out = [store.add(mk_step(keys["seller"], tid, st.DECLINE, T0 + 200 + i, [tid], text=str(i))) for i in range(17)]
    assert out == ["stored"] * 16 + ["quota"]
    r = objs["release-by-buyer"].body
    out = [store.add(mk_res(keys["buyer"], dataclasses.replace(r, seller_amount=r.seller_amount - i, buyer_amount=0)))
           for i in range(3)]
    assert out == ["stored", "stored", "quota"]


# --------------------------------------------------------------------------------------------
# The fold's rules (§5, §8), written from the text
# --------------------------------------------------------------------------------------------


def test_decline_after_accept_does_not_count(objs, keys):
    t = T(objs, keys)
    t.step("seller", st.DECLINE, 150)
    assert t.phase == "declined"
    t.step("seller", st.ACCEPT, 300)  # an accept signed after the decline still voids it
    assert t.phase == "accepted"
    t2 = T(objs, keys)
    t2.step("seller", st.ACCEPT, 200)
    dec = t2.step("seller", st.DECLINE, 300)
    s = t2.fold()
    assert s.phase == "accepted" and dec.id in s.counted and not s.decline_effective


def test_cancel_rules(objs, keys):
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("buyer", st.CANCEL, 400)
    assert t.phase == "cancelled"  # until a claim counts, any open phase
    claim = t.step("buyer", st.PAYMENT_CLAIM, 350, ack)  # a claim dated before the cancel voids it too
    assert t.phase == "payment_claimed"
    # a cancel signed after the claim never counts
    t2 = T(objs, keys)
    acc = t2.step("seller", st.ACCEPT, 200)
    ack = t2.step("arbiter", st.ARBITER_ACK, 300, acc)
    t2.step("buyer", st.PAYMENT_CLAIM, 400, ack)
    t2.step("buyer", st.CANCEL, 500)
    assert t2.phase == "payment_claimed"
    # cancel and decline, no accept: cancelled (precedence)
    t3 = T(objs, keys)
    t3.step("seller", st.DECLINE, 200)
    t3.step("buyer", st.CANCEL, 300)
    assert t3.phase == "cancelled"


def test_voided_steps_still_count_as_parents(objs, keys):
    """§5.3 'counted' is structural; §5.4's voiding is a separate level and is not inherited: a
    voided decline, cancel or expire may be a parent, and what descends from it counts."""
    # a decline voided by the accept that names it
    t = T(objs, keys)
    dec = t.step("seller", st.DECLINE, 150)
    acc = t.step("seller", st.ACCEPT, 200, t.id, dec)
    s = t.fold()
    assert {dec.id, acc.id} <= s.counted and not s.decline_effective and s.phase == "accepted"
    # a cancel voided by a claim dated the same second, the claim descending from the cancel
    t = T(objs, keys)
    cancel = t.step("buyer", st.CANCEL, 150)
    acc = t.step("seller", st.ACCEPT, 150, t.id, cancel)
    ack = t.step("arbiter", st.ARBITER_ACK, 150, acc)
    claim = t.step("buyer", st.PAYMENT_CLAIM, 150, ack)
    s = t.fold()
    assert {cancel.id, acc.id, ack.id, claim.id} <= s.counted and not s.cancel_effective
    assert s.phase == "payment_claimed"
    # a premature expire (which 'never counts' in §5.4's words) as an extra parent
    t2 = T(objs, keys)
    exp = t2.step("seller", st.EXPIRE, 150)
    acc = t2.step("seller", st.ACCEPT, 200, t2.id, exp)
    assert acc.id in t2.fold().counted and t2.phase == "accepted"


def test_cancel_is_judged_at_its_own_time(objs, keys):
    """§5.4: a cancel counts unless a counted claim, fulfilment or dispute is dated at or before
    it; one dated after it does not reopen the trade."""
    # pay on delivery: fulfilled, then disputed; a cancel signed after them never counts
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("seller", st.FULFIL, 400, ack)
    t.step("buyer", st.DISPUTE, 500, ack)
    assert t.phase == "disputed"
    c = t.step("buyer", st.CANCEL, 600)
    s = t.fold()
    assert s.phase == "disputed" and c.id in s.counted and not s.cancel_effective
    for who, type_ in (("seller", st.FULFIL), ("buyer", st.DISPUTE), ("seller", st.DISPUTE)):
        t = T(objs, keys)
        acc = t.step("seller", st.ACCEPT, 200)
        ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
        t.step("buyer", st.CANCEL, 400)
        assert t.phase == "cancelled"
        t.step(who, type_, 400, ack)  # dated at the cancel's second: voids it
        assert t.phase != "cancelled", (who, type_)
    # a claim, fulfilment or dispute dated after a counted cancel does not reopen it
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("buyer", st.CANCEL, 400)
    claim = t.step("buyer", st.PAYMENT_CLAIM, 401, ack)
    t.step("seller", st.FULFIL, 500, ack)
    t.step("buyer", st.DISPUTE, 600, ack)
    s = t.fold()
    assert s.phase == "cancelled" and claim.id in s.counted
    # ...but a settlement still overrides it (§5.5)
    t.sign("buyer", st.REFUND, fee=False)
    t.sign("seller", st.REFUND, fee=False)
    assert t.phase == "settled"
    # a cancel dated before the claim but signed (and delivered) after it counts: signed times decide
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("buyer", st.PAYMENT_CLAIM, 400, ack)
    assert t.phase == "payment_claimed"
    t.step("buyer", st.CANCEL, 350)  # back-dated: §15 item 2
    assert t.phase == "cancelled"


def test_expire_rules(objs, keys):
    # ordered: the deadline is order.created_at + accept
    t = T(objs, keys)
    early = t.step("buyer", st.EXPIRE, 100 + D - 1)
    assert t.phase == "ordered"
    late = t.step("seller", st.EXPIRE, 100 + D)
    assert t.phase == "expired"
    # an accept dated after the expire does not reopen it
    acc = t.step("seller", st.ACCEPT, 100 + D + 5)
    assert t.phase == "expired"
    # an accept dated before it (delivered late) moves the deadline to accept + arbiter_ack
    t2 = T(objs, keys)
    t2.step("arbiter", st.EXPIRE, 100 + D)
    t2.step("seller", st.ACCEPT, 100 + D - 1)
    assert t2.phase == "accepted"
    # ...which voids the expire unless that time had passed too
    t2.step("arbiter", st.EXPIRE, 100 + 2 * D - 1)
    assert t2.phase == "expired"
    # an expire signed before the deadline never counts, even once the deadline passed
    t3 = T(objs, keys)
    t3.step("buyer", st.EXPIRE, 200)
    assert t3.phase == "ordered" and not t3.fold().expire_effective
    # arbiter_acknowledged: acknowledged_at + payment
    t4 = T(objs, keys)
    acc = t4.step("seller", st.ACCEPT, 200)
    ack = t4.step("arbiter", st.ARBITER_ACK, 300, acc)
    t4.step("buyer", st.EXPIRE, 300 + D - 1)
    assert t4.phase == "arbiter_acknowledged"
    t4.step("buyer", st.EXPIRE, 300 + D)
    assert t4.phase == "expired"


def test_expiry_never_closes_a_paid_trade(objs, keys):
    """§5.4: an expire dated at or after a counted claim never counts; a claim dated before a
    counted expire (delivered late) voids it; one dated after it does not reopen the trade."""
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("buyer", st.PAYMENT_CLAIM, 300 + D, ack)  # late, but before any expire
    e = t.step("arbiter", st.EXPIRE, 300 + D + 10)
    s = t.fold()
    assert s.phase == "payment_claimed" and e.id in s.counted and not s.expire_effective
    # the claim dated after the expire: the trade stays expired
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    t.step("arbiter", st.EXPIRE, 300 + D + 10)
    assert t.phase == "expired"
    t.step("buyer", st.PAYMENT_CLAIM, 300 + D + 100, ack)
    assert t.phase == "expired"
    # the claim dated before the expire, delivered after it: payment_claimed
    t.step("buyer", st.PAYMENT_CLAIM, 300 + D + 10, ack, text="sent earlier")
    assert t.phase == "payment_claimed"


def test_expiry_never_closes_a_fulfilled_or_disputed_trade(objs, keys):
    """Pay on delivery (no claim): a fulfilment or a dispute dated at or before an expire voids it;
    one dated after a counted expire does not reopen the trade."""
    for who, type_ in (("seller", st.FULFIL), ("buyer", st.DISPUTE), ("seller", st.DISPUTE)):
        t = T(objs, keys)
        acc = t.step("seller", st.ACCEPT, 200)
        ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
        t.step(who, type_, 300 + D, ack)
        t.step("buyer", st.EXPIRE, 300 + D)
        assert t.phase in ("fulfilled", "disputed"), (who, type_)
        t2 = T(objs, keys)
        acc = t2.step("seller", st.ACCEPT, 200)
        ack = t2.step("arbiter", st.ARBITER_ACK, 300, acc)
        t2.step("buyer", st.EXPIRE, 300 + D)
        t2.step(who, type_, 300 + D + 1, ack)
        assert t2.phase == "expired", (who, type_)


def test_back_dated_steps_do_not_count(objs, keys):
    t = T(objs, keys)
    acc = t.step("seller", st.ACCEPT, 200)
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    claim = t.step("buyer", st.PAYMENT_CLAIM, 250, ack)  # dated before its parent
    s = t.fold()
    assert claim.id not in s.structural and s.phase == "arbiter_acknowledged"
    # ...so it voids no cancel, and nothing descending from it counts
    conf = t.step("seller", st.PAYMENT_CONFIRM, 400, claim)
    t.step("buyer", st.CANCEL, 500)
    s = t.fold()
    assert conf.id not in s.counted and s.phase == "cancelled"
    # a step naming a parent not in the set is not structural either
    t2 = T(objs, keys)
    t2.step("seller", st.FULFIL, 400, bytes(32))
    assert t2.fold().structural == set() and t2.phase == "ordered"


def test_earliest_counted_step_dates_the_phase(objs, keys):
    t = T(objs, keys)
    a1 = t.step("seller", st.ACCEPT, 500)
    a2 = t.step("seller", st.ACCEPT, 200)
    s = t.fold()
    assert s.times["accept"] == T0 + 200 and st.advice(s, NOW).end == T0 + 200 + D


def fallback_trade(objs, keys, ack_at=None):
    """The vector order; the primary arbiter acknowledges at t0 + ack_at (None: never)."""
    t = T(objs, keys)
    t.acc = t.step("seller", st.ACCEPT, 200)
    t.ack = t.step("arbiter", st.ARBITER_ACK, ack_at, t.acc) if ack_at is not None else None
    return t


def test_fallback_lapse_without_primary_ack(objs, keys):
    t = fallback_trade(objs, keys)
    assert t.fold().lapse == T0 + 200 + D
    early = t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D - 1, t.acc)
    claim = t.step("buyer", st.PAYMENT_CLAIM, 200 + D + 10, early)
    s = t.fold()
    # an early fallback acknowledgement does not count, nor anything descending from it
    assert early.id in s.structural and early.id not in s.counted and claim.id not in s.counted
    assert s.phase == "accepted" and not s.fallback_active
    # a fallback resolution does not count while the fallback is not active
    t.sign("fallback_arbiter", st.REFUND, fee=False)
    t.sign("buyer", st.REFUND, fee=False)
    s = t.fold()
    assert s.phase == "accepted" and len(s.ignored) == 1 and s.proposals[0].signatures.keys() == {"buyer"}
    # once the lapse passed the fallback's acknowledgement counts, and so does its signature
    ok = t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    s = t.fold()
    assert ok.id in s.counted and s.fallback_active and s.phase == "settled"
    assert s.settlement.signatures.keys() == {"buyer", "arbiter"}


def test_fallback_lapse_after_a_late_primary_ack(objs, keys):
    t = fallback_trade(objs, keys, ack_at=200 + D + 1)  # primary acknowledged too late
    assert t.fold().lapse == T0 + 200 + D
    t2 = fallback_trade(objs, keys, ack_at=200 + D)  # in time (K <= ackDeadline)
    assert t2.fold().lapse == st.INF
    fb = t2.step("fallback_arbiter", st.ARBITER_ACK, 200 + 10 * D, t2.acc)
    assert fb.id not in t2.fold().counted  # no dispute: never lapses
    dis = t2.step("seller", st.DISPUTE, 200 + D + 50, t2.ack)
    s = t2.fold()
    assert s.lapse == T0 + 200 + D + 50 + D and fb.id in s.counted and s.fallback_active
    # a dispute naming only the fallback's acknowledgement does not start the ruling lapse
    t3 = fallback_trade(objs, keys, ack_at=300)
    fb3 = t3.step("fallback_arbiter", st.ARBITER_ACK, 300, t3.acc)
    t3.step("buyer", st.DISPUTE, 400, fb3)
    assert t3.fold().lapse == st.INF


def test_primary_and_fallback_are_one_role(objs, keys):
    t = fallback_trade(objs, keys)
    t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    t.sign("arbiter", st.REFUND, fee=False)
    t.sign("fallback_arbiter", st.REFUND, fee=False)
    s = t.fold()
    assert s.fallback_active and s.phase == "arbiter_acknowledged" and len(s.proposals) == 1
    assert list(s.proposals[0].signatures) == ["arbiter"]
    t.sign("seller", st.REFUND, fee=False)
    assert t.phase == "settled"


def test_conflict_without_any_key_signing_twice(objs, keys):
    """§6.8: with an active fallback the primary arbiter's signature still counts (§5.6), so the
    buyer + primary and the seller + fallback make two settlements with four distinct keys. The
    conflict names nobody: it is not a proof of equivocation."""
    t = fallback_trade(objs, keys)
    t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    t.sign("buyer", st.REFUND, fee=False)
    t.sign("arbiter", st.REFUND, fee=False)
    t.sign("seller", st.RELEASE, fee=False)
    t.sign("fallback_arbiter", st.RELEASE, fee=False)
    s = t.fold()
    assert s.phase == "conflict"
    assert s.equivocators == [] and s.equivocating_keys == []
    # the recorded keys: the arbiter role holds the primary's key in one group, the fallback's in the other
    arb = {g.resolution.outcome: g.signers["arbiter"] for g in s.settled_groups}
    assert arb == {st.REFUND: keys["arbiter"].public, st.RELEASE: keys["fallback_arbiter"].public}
    # once the buyer signs the release too, the buyer's key is in both: the buyer equivocated
    t.sign("buyer", st.RELEASE, fee=False)
    assert t.fold().equivocators == ["buyer"]


def test_equivocators_keep_one_key_per_role(objs, keys):
    """§6.8, §15 item 13: one key is recorded per role and group (the first signature by object id),
    so a fallback that signed both groups is named only if its signature is the one kept in both."""
    t = fallback_trade(objs, keys)
    t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    t.sign("buyer", st.REFUND, fee=False)
    primary = t.sign("arbiter", st.REFUND, fee=False)
    fb_refund = t.sign("fallback_arbiter", st.REFUND, fee=False)
    t.sign("seller", st.RELEASE, fee=False)
    t.sign("fallback_arbiter", st.RELEASE, fee=False)
    s = t.fold()
    assert s.phase == "conflict" and len(s.settled_groups) == 2
    kept = min(primary, fb_refund, key=lambda v: v.id)
    refund = next(g for g in s.settled_groups if g.resolution.outcome == st.REFUND)
    assert refund.signatures["arbiter"] is kept
    assert s.equivocators == ([] if kept is primary else ["arbiter"])
    # with these fixed keys the primary's signature has the lower id: the fallback key signed both
    # settled resolutions, and yet nobody is named (what the reference computes, too)
    assert kept is primary and s.equivocators == []


def test_fallback_expire(objs, keys):
    # before the lapse it never counts
    t = fallback_trade(objs, keys)
    t.step("fallback_arbiter", st.EXPIRE, 200 + D - 1)
    assert t.phase == "accepted"
    t.step("fallback_arbiter", st.EXPIRE, 200 + D)
    assert t.phase == "expired"
    # in `ordered` there is no accept, so the lapse is infinite: the fallback can never expire,
    # although §3.3 lets it sign `expire` and §7.1 says "any party"
    t2 = T(objs, keys)
    t2.step("fallback_arbiter", st.EXPIRE, 100 + 100 * D)
    assert t2.phase == "ordered"
    t2.step("arbiter", st.EXPIRE, 100 + D)
    assert t2.phase == "expired"


def test_resolutions_in_the_fold(objs, keys):
    t = T(objs, keys)
    # valid, but not fitting: ignored
    t.sign("buyer", st.SPLIT, 100, fee=False, buyer_amount=100, seller_amount=100)
    t.sign("seller", st.SPLIT, 100, fee=False, buyer_amount=100, seller_amount=100)
    s = t.fold()
    assert s.phase == "ordered" and len(s.ignored) == 2 and s.groups == []
    # a higher fee than the order's: ignored
    t2 = T(objs, keys)
    t2.sign("buyer", st.RELEASE, seller_amount=11_759, arbiter_fee=241)
    t2.sign("seller", st.RELEASE, seller_amount=11_759, arbiter_fee=241)
    assert t2.phase == "ordered"
    # buyer and seller settle before any accept: two of three keys decide
    t3 = T(objs, keys)
    t3.sign("buyer", st.REFUND, fee=False)
    t3.sign("seller", st.REFUND, fee=False)
    assert t3.phase == "settled"
    # a resolution of another network is left out
    t4 = T(objs, keys)
    t4.sign("buyer", st.REFUND, fee=False)
    t4.sign("seller", st.REFUND, fee=False, network="other")
    s = t4.fold()
    assert s.phase == "ordered" and s.ignored == [] and len(s.groups) == 1
    # settled takes precedence over everything else, also a later dispute or cancel
    t5 = T(objs, keys)
    acc = t5.step("seller", st.ACCEPT, 200)
    ack = t5.step("arbiter", st.ARBITER_ACK, 300, acc)
    t5.sign("buyer", st.RELEASE, fee=False)
    t5.sign("seller", st.RELEASE, fee=False)
    t5.step("buyer", st.DISPUTE, 900, ack)
    t5.step("buyer", st.CANCEL, 900)
    assert t5.phase == "settled"
    # late ruling after buyer and seller settled: a proposal, never settles
    t5.sign("arbiter", st.SPLIT, 5000)
    s = t5.fold()
    assert s.phase == "settled" and len(s.proposals) == 1


# --------------------------------------------------------------------------------------------
# Deadlines and default exits (§7)
# --------------------------------------------------------------------------------------------


def test_advice_table(objs, keys):
    t = T(objs, keys)
    a = st.advice(t.fold(), T0 + 100)
    assert (a.phase, a.start, a.end, a.default_exit, a.awaiting_from) == ("ordered", T0 + 100, T0 + 100 + D, "expire", "seller")
    assert a.start_step == t.id and not a.passed and a.notices == []
    assert st.advice(t.fold(), T0 + 100 + D // 2).notices == ["ordered:50"]
    assert st.advice(t.fold(), T0 + 100 + D * 9 // 10).notices == ["ordered:50", "ordered:90"]
    a = st.advice(t.fold(), T0 + 100 + D)
    assert a.passed and not a.stalled and a.notices[-1] == "ordered:passed"
    assert st.advice(t.fold(), T0 + 100 + 2 * D).stalled  # end + ruling
    acc = t.step("seller", st.ACCEPT, 200)
    a = st.advice(t.fold(), NOW)
    assert (a.phase, a.end, a.default_exit) == ("accepted", T0 + 200 + D, "fallback_takeover")
    ack = t.step("arbiter", st.ARBITER_ACK, 300, acc)
    assert st.advice(t.fold(), NOW).default_exit == "expire"
    claim = t.step("buyer", st.PAYMENT_CLAIM, 400, ack)
    a = st.advice(t.fold(), NOW)
    assert (a.phase, a.start, a.default_exit) == ("payment_claimed", T0 + 400, "refund")
    t.step("seller", st.PAYMENT_CONFIRM, 500, claim)
    a = st.advice(t.fold(), NOW)
    assert (a.phase, a.start, a.end, a.default_exit) == ("payment_confirmed", T0 + 400, T0 + 400 + D, "refund")
    t.step("seller", st.FULFIL, 600, ack)
    a = st.advice(t.fold(), NOW)
    assert (a.phase, a.start, a.default_exit, a.awaiting_from) == ("fulfilled", T0 + 600, "release", "buyer")
    t.step("buyer", st.DISPUTE, 700, ack)
    a = st.advice(t.fold(), NOW)
    assert (a.phase, a.start, a.default_exit) == ("disputed", T0 + 700, "fallback_takeover")
    t.sign("buyer", st.REFUND, fee=False)
    t.sign("seller", st.REFUND, fee=False)
    assert st.advice(t.fold(), NOW) is None  # final: no deadline
    # without a fallback arbiter: expire in `accepted`, the parties alone in `disputed`
    no_fb = dataclasses.replace(objs["order"].body.order, fallback_arbiter=None)
    order = st.verify(st.sign(keys["buyer"], 5, st.TradeStep(NET, 1, T0 + 100, order=no_fb).payload()))
    t2 = T(objs, keys, order)
    acc = t2.step("seller", st.ACCEPT, 200)
    assert st.advice(t2.fold(), NOW).default_exit == "expire"
    ack = t2.step("arbiter", st.ARBITER_ACK, 300, acc)
    t2.step("seller", st.DISPUTE, 400, ack)
    assert st.advice(t2.fold(), NOW).default_exit == "settle_alone"


def test_arbiter_lapse_counts_from_receipt(objs, keys):
    t = T(objs, keys)
    t.step("seller", st.ACCEPT, 200)
    a = st.advice(t.fold(), T0 + 200 + D)
    assert a.passed and a.lapsed(T0 + 200 + D, None)
    # a step received an hour after its signed time: the window runs an hour longer for the arbiter
    assert not a.lapsed(T0 + 200 + D, T0 + 200 + H)
    assert a.lapsed(T0 + 200 + D + H, T0 + 200 + H)


def test_upkeep_next_check(objs, keys):
    """§7.3 trades.next_check: the 50 % and 90 % notices, the deadline, the arbiter's receipt-based
    lapse and the stalled mark, whichever comes next; now + 60 once all passed; never when final."""
    t = T(objs, keys)
    s = t.fold()
    start, end = T0 + 100, T0 + 100 + D
    assert st.next_check(s, start) == start + D // 2
    assert st.next_check(s, start + D // 2) == start + (9 * D + 9) // 10
    assert st.next_check(s, start + D * 9 // 10) == end
    assert st.next_check(s, end) == end + D  # stalled (end + ruling); receipt = signed time
    assert st.next_check(s, end, received_at=start + H) == start + H + D  # the arbiter's own lapse first
    assert st.next_check(s, end + D) == end + D + 60
    odd = dataclasses.replace(objs["order"].body.order, deadlines=dataclasses.replace(objs["order"].body.order.deadlines,
                                                                                         accept=7))
    order = st.verify(st.sign(keys["buyer"], 5, st.TradeStep(NET, 1, T0 + 100, order=odd).payload()))
    s7 = st.fold(order, [], [])
    assert st.next_check(s7, T0 + 100) == T0 + 104 and st.next_check(s7, T0 + 104) == T0 + 107  # ⌈7/2⌉, ⌈63/10⌉
    t.sign("buyer", st.REFUND, fee=False)
    t.sign("seller", st.REFUND, fee=False)
    assert st.next_check(t.fold(), NOW) == st.U64


def test_arbiter_automation(objs, keys):
    """§7.3 (policy): the primary acknowledges while its deadline runs; the fallback takes over once
    the deadline lapsed for it; the primary never expires `accepted` when a fallback is named, and
    stands down once the fallback took over; `arbiter-auto-defaults = false` signs no exit."""
    t = fallback_trade(objs, keys)
    end = T0 + 200 + D
    assert st.automation(t.fold(), "arbiter", end - 1) == "acknowledge"
    assert st.automation(t.fold(), "arbiter", end - 1, takes=False) is None
    assert st.automation(t.fold(), "arbiter", end - 1, arbiter_mode=False) is None
    assert st.automation(t.fold(), "arbiter", end + 10) is None  # passed: no ack, and no expire (fallback named)
    assert st.automation(t.fold(), "fallback_arbiter", end - 1) is None
    assert st.automation(t.fold(), "fallback_arbiter", end) == "take over"
    assert st.automation(t.fold(), "fallback_arbiter", end, received_at=T0 + 200 + H) is None  # its own receipt
    assert st.automation(t.fold(), "fallback_arbiter", end + H, received_at=T0 + 200 + H) == "take over"
    assert st.automation(t.fold(), "fallback_arbiter", end, takes=False) is None
    # without a fallback the primary expires `accepted` once lapsed
    no_fb = dataclasses.replace(objs["order"].body.order, fallback_arbiter=None)
    order = st.verify(st.sign(keys["buyer"], 5, st.TradeStep(NET, 1, T0 + 100, order=no_fb).payload()))
    t2 = T(objs, keys, order)
    t2.step("seller", st.ACCEPT, 200)
    assert st.automation(t2.fold(), "arbiter", end) == "expire"
    assert st.automation(t2.fold(), "arbiter", end, auto_defaults=False) is None
    # `ordered`: the primary expires, the (inactive) fallback does nothing
    t3 = T(objs, keys)
    assert st.automation(t3.fold(), "arbiter", T0 + 100 + D) == "expire"
    assert st.automation(t3.fold(), "fallback_arbiter", T0 + 100 + D) is None
    # the fallback took over; payment claimed; the fulfilment deadline lapsed: the fallback signs the
    # refund, the primary stands down
    fb = t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    claim = t.step("buyer", st.PAYMENT_CLAIM, 200 + D + 10, fb)
    s = t.fold()
    assert s.fallback_active and s.phase == "payment_claimed"
    late = T0 + 200 + 2 * D + 10
    assert st.automation(s, "fallback_arbiter", late) == "refund"
    assert st.automation(s, "fallback_arbiter", late, signed=True) is None
    assert st.automation(s, "arbiter", late) is None
    # the buyer's node countersigns the refund proposal; the seller's node does not
    t.sign("fallback_arbiter", st.REFUND, fee=False)
    s = t.fold()
    assert st.automation(s, "buyer", late, arbiter_mode=False) == "countersign refund"
    assert st.automation(s, "buyer", late, signed=True) is None
    assert st.automation(s, "seller", late) is None
    # in `disputed` nothing is signed by itself once the fallback is active
    t.step("seller", st.DISPUTE, 200 + D + 20, fb)
    s = t.fold()
    assert s.phase == "disputed" and st.advice(s, late).default_exit == "settle_alone"
    assert st.automation(s, "fallback_arbiter", late + 10 * D) is None


def test_text_rules_per_code_point(objs, keys):
    """§1.5: the visible-character rule is per code point; counts are grapheme clusters; 'no
    control character' refuses LF and TAB in display names and rails."""
    base = objs["arbiter-profile"].body

    def name_code(name):
        p = dataclasses.replace(base, display_name=name)
        return st.check(st.sign(keys["arbiter"], st.KIND_ARBITER, p.payload()), NOW)
    assert name_code("\u0301") is None  # a lone combining mark is a visible code point
    assert name_code("\u200b\u2060") == "invalid_arbiter_profile"  # only Cf
    assert name_code("\u200bA") is None
    assert name_code("A\u200b ") == "invalid_arbiter_profile"  # trailing white space
    assert name_code("e\u0301" * 64) is None and name_code("e\u0301" * 65) == "invalid_arbiter_profile"
    assert name_code("Fair\tArbiter") == "invalid_arbiter_profile"
    assert order_code(keys, objs, rail="bank\ttransfer") == "invalid_order"


def test_parent_held_but_not_a_step_is_deferred(objs, keys):
    """§4 step 2: parents are looked up among trade steps only: a resolution's id as a parent defers."""
    store = st.Store()
    store.add(objs["order"])
    res = objs["release-by-buyer"]
    assert store.add(res) == "stored"
    odd = mk_step(keys["seller"], objs["order"].id, st.ACCEPT, T0 + 200, [objs["order"].id, res.id])
    assert store.add(odd) == "deferred" and odd.id not in store.objects


def test_proof_carries_the_earliest_counted_accept_and_takeover(objs, keys):
    t = fallback_trade(objs, keys)
    later = t.step("seller", st.ACCEPT, 250)  # a second accept, later
    fb2 = t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D + 5, later)
    fb1 = t.step("fallback_arbiter", st.ARBITER_ACK, 200 + D, t.acc)
    t.sign("buyer", st.REFUND, fee=False)
    t.sign("fallback_arbiter", st.REFUND, fee=False)
    s = t.fold()
    proof = st.make_proof(s)
    assert proof["accept"] == t.acc.raw.hex() and proof["fallback_ack"] == fb1.raw.hex()
    assert proof["resolution"]["signed_by"] == ["buyer", "arbiter"]  # the fallback's signature is `arbiter`
    r = st.verify_proof(proof)
    assert r.signed_by == ["buyer", "arbiter"]


def test_private_blob_is_kept_only_when_it_decodes_and_matches(vectors, objs):
    bundle = st.Bundle.decode(bytes.fromhex(vectors["bundle"]["plaintext"]))
    order = st.verify(bundle.envelopes[0]).body.order
    assert st.keeps_private(bundle.private, order)
    assert not st.keeps_private(bundle.private, objs["order"].body.order)  # hash 0: no private fields
    assert not st.keeps_private(b"", order)
    # bytes that hash right but are not a TradePrivate are not kept
    junk = b"\x02" + bytes(20)
    assert not st.keeps_private(junk, dataclasses.replace(order, private_hash=st.blake2b(junk, 32)))


def test_inbox(objs, keys):
    """§9.7 (policy): waiting bundles, retried least recently tried first (50 per round), digests
    answered on the first opening only, a failed store keeps the bundle, forgotten after 24 h."""
    seller = keys["seller"].public
    store = st.Store()
    inbox = st.Inbox(store, seller)
    digest = st.Digest(objs["order"].id, keys["buyer"].public, [])
    # the accept arrives before its order: it waits
    inbox.deliver(b"a", st.Bundle([objs["accept"].raw], digests=[digest]), NOW, NOW + 30 * 86400)
    inbox.process(NOW)
    assert inbox.items[b"a"].state == "waiting" and inbox.answered == [digest]
    # not a trade bundle: read, kept for delivery.inbox
    inbox.deliver(b"r", None, NOW, NOW + 86400)
    inbox.process(NOW + 1)
    assert inbox.items[b"r"].state == "read"
    # a pass after a committed delivery takes only new items; the order arrives in one
    inbox.deliver(b"o", st.Bundle([objs["order"].raw]), NOW + 2, NOW + 30 * 86400)
    assert inbox.process(NOW + 2) == [b"o"] and b"a" in inbox.items
    # the maintenance round retries the waiting one: applied and removed; its digest not answered again
    assert inbox.process(NOW + 3, retry_waiting=True) == [b"a"]
    assert b"a" not in inbox.items and objs["accept"].id in store.objects and inbox.answered == [digest]
    # a failed store keeps the bundle (waiting), applied on a later round
    inbox.fail_store = True
    inbox.deliver(b"k", st.Bundle([objs["arbiter-ack"].raw]), NOW + 4, NOW + 30 * 86400)
    inbox.process(NOW + 4)
    assert inbox.items[b"k"].state == "waiting"
    inbox.fail_store = False
    inbox.process(NOW + 5, retry_waiting=True)
    assert b"k" not in inbox.items and objs["arbiter-ack"].id in store.objects
    # least recently tried first, 50 per round
    other = st.Store()
    box = st.Inbox(other, seller)
    orphan = objs["payment-claim"].raw  # its parents never arrive
    for i in range(60):
        box.deliver(bytes([i]), st.Bundle([orphan]), NOW, NOW + 30 * 86400)
    box.process(NOW + 10)
    assert all(i.state == "waiting" for i in box.items.values())
    first = box.process(NOW + 20, retry_waiting=True)
    assert len(first) == 50
    second = box.process(NOW + 30, retry_waiting=True)
    assert second[:10] == [bytes([i]) for i in range(50, 60)]  # the ten not tried at NOW + 20 come first
    # forgotten 24 h after they were received (the hourly prune), whatever their expiry
    box.prune(NOW + st.INBOX_WAITING_LIFETIME - 1)
    assert len(box.items) == 60
    box.prune(NOW + st.INBOX_WAITING_LIFETIME)
    assert box.items == {}
    inbox.prune(NOW + 86400)  # the read item expired
    assert b"r" not in inbox.items
    # the private blob travels with an order and is kept (also for an order already held)
    bundle = st.Bundle.decode(bytes.fromhex(json.loads(VECTORS.read_text())["bundle"]["plaintext"]))
    inbox.deliver(b"p", bundle, NOW + 40, NOW + 30 * 86400)
    inbox.process(NOW + 40)
    pid = st.verify(bundle.envelopes[0]).id
    assert inbox.private == {pid: bundle.private}
