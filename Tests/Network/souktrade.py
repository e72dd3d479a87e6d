"""An independent implementation of Souk's trade format, written only from Specs/trade.md,
Specs/objects.md and Specs/wire.md (and checked against Specs/vectors/trade.json).

It covers:
  * envelopes of every kind 1-9 (objects.md §3: the 65 637-byte envelope cap, each kind's own
    payload cap; kinds 8 and 9, reputation's, are decoded and their signatures checked, but their
    payloads are not specified yet and `verify` raises `NotSpecified` for them);
  * the full listing field rules (objects.md §7.3), needed for the order's embedded listing;
  * kinds 4-7: arbiter profile (§2), trade step with the order body (§3), resolution (§6) and chat
    message (§10): decoding, encoding byte for byte, and every rule with its error code;
  * the structural rules of a step against its order (§3.4) and the store rules of §4 as a
    function (stored / deferred / refused / quota);
  * private fields (§3.7) and the sealed bundle's plaintext with its padding (§9.1), and sealing;
  * the fold (§5): structural and counted steps, the fallback lapse, closing steps judged at
    their own time (cancel/decline/expire), phase precedence, resolution grouping with the signer
    key kept per role, settlement and equivocators by key (§6.8);
  * the deadline advice and default exits of §7 for a given `now`, the upkeep times of
    `trades.next_check` and what an arbiter node's automation signs (§7.3, policy);
  * the inbox of §9.7 (policy): new / read / waiting items, 50 waiting retried per maintenance
    round least recently tried first, digests answered on the first opening only, a failed store
    keeping the bundle, waiting bundles forgotten after 24 h, private blobs kept only when they
    decode and match the order's hash;
  * the settlement proof of §11 (writing and verifying, with the document-level `invalid_proof`).

Shared primitives (varint, strings, the strict reader, BLAKE2b, grapheme clusters, white space,
bidi controls, language tags) come from soukpeer.py. Nothing here imports the Swift code.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from typing import Iterable, Optional

import nacl.bindings as sodium
import nacl.public
import nacl.signing
from nacl.exceptions import BadSignatureError, CryptoError

import soukpeer as sp
from soukpeer import DecodeError, Reader, ValidationError, blake2b, lp, string, varint

# --------------------------------------------------------------------------------------------
# Kinds, envelope (objects.md §3-§6, trade.md §1.3)
# --------------------------------------------------------------------------------------------

KIND_LISTING = 1
KIND_RETRACTION = 2
KIND_PROFILE = 3
KIND_ARBITER = 4
KIND_STEP = 5
KIND_RESOLUTION = 6
KIND_CHAT = 7
KIND_LOG_ENTRY = 8  # reputation (Specs/reputation.md, being written): caps and tags only
KIND_FORK_PROOF = 9
KIND_NAMES = {
    KIND_LISTING: "listing", KIND_RETRACTION: "listing-retraction", KIND_PROFILE: "node-profile",
    KIND_ARBITER: "arbiter-profile", KIND_STEP: "trade-step", KIND_RESOLUTION: "trade-resolution",
    KIND_CHAT: "chat-message", KIND_LOG_ENTRY: "log-entry", KIND_FORK_PROOF: "fork-proof",
}
MAX_PAYLOAD = {KIND_LISTING: 16_384, KIND_RETRACTION: 64, KIND_PROFILE: 4_096, KIND_ARBITER: 8_192,
               KIND_STEP: 24_576, KIND_RESOLUTION: 512, KIND_CHAT: 4_608,
               KIND_LOG_ENTRY: 24_576, KIND_FORK_PROOF: 2 * (24_576 + 110) + 8}  # objects.md §6
ENVELOPE_MAX_PAYLOAD = 65_536  # Envelope.maxPayloadBytes, above every kind's cap
MAX_ENVELOPE = 2 + 3 + ENVELOPE_MAX_PAYLOAD + 32 + 64  # 65 637 (Envelope.maxEncodedBytes)
MAX_LISTING_ENVELOPE = 2 + 3 + 16_384 + 32 + 64  # 16 485
MAX_STEP_ENVELOPE = 2 + 3 + 24_576 + 32 + 64  # 24 677
EARLIEST = sp.EARLIEST
MAX_SKEW = sp.MAX_SKEW
MAX_AMOUNT = (1 << 53) - 1
U64 = (1 << 64) - 1
INF = U64  # "none: lapse = ∞"; additions saturate at 2^64 - 1


def domain_tag(kind: int) -> bytes:
    if kind not in KIND_NAMES:
        raise sp.UnknownKind(kind)
    return b"souk/sig/v1/" + KIND_NAMES[kind].encode() + b"\x00"


def object_id(envelope: bytes) -> bytes:
    return blake2b(envelope, 32)


def sat_add(a: int, b: int) -> int:
    return min(a + b, U64)


@dataclass
class Envelope:
    kind: int
    payload: bytes
    signer: bytes
    signature: bytes
    raw: bytes = b""  # the input bytes, verbatim

    def encode(self) -> bytes:
        return bytes([1, self.kind]) + lp(self.payload) + self.signer + self.signature

    @property
    def id(self) -> bytes:
        return object_id(self.raw or self.encode())

    @staticmethod
    def decode(data: bytes, kinds: Optional[dict] = None) -> "Envelope":
        """objects.md §3 decoding; `kinds` maps kind byte -> payload cap (default: kinds 1-9)."""
        kinds = MAX_PAYLOAD if kinds is None else kinds
        data = bytes(data)
        if len(data) > MAX_ENVELOPE:
            raise DecodeError("too long: envelope")
        r = Reader(data)
        if r.byte() != 1:
            raise DecodeError("unsupported envelope format version")
        kind = r.byte()
        if kind not in kinds:
            raise sp.UnknownKind(kind)
        payload = r.lp(kinds[kind])
        signer = r.bytes(32)
        signature = r.bytes(64)
        r.end()
        return Envelope(kind, payload, signer, signature, data)

    def verify(self) -> bool:
        try:
            nacl.signing.VerifyKey(self.signer).verify(domain_tag(self.kind) + self.payload, self.signature)
            return True
        except (BadSignatureError, CryptoError, ValueError):
            return False


def sign(identity: sp.Identity, kind: int, payload: bytes) -> bytes:
    """A signed envelope of any kind 1-9."""
    return Envelope(kind, payload, identity.public, identity.sign(domain_tag(kind) + payload)).encode()


# --------------------------------------------------------------------------------------------
# Text rules
# --------------------------------------------------------------------------------------------

WHITE_SPACE = sp.WHITE_SPACE
BIDI = sp.SPOOFING  # U+202A-202E, U+2066-2069, U+2028/9
LANGUAGE_TAG = sp.LANGUAGE_TAG
graphemes = sp.graphemes


def is_cc(ch: str) -> bool:
    cp = ord(ch)
    return cp < 0x20 or 0x7F <= cp <= 0x9F


def is_cf(ch: str) -> bool:
    return unicodedata.category(ch) == "Cf"


def text_ok(s: str) -> bool:
    """'text' fields: no Cc except LF and TAB (trade.md §1.5)."""
    return not any(is_cc(c) and c not in "\n\t" for c in s)


def has_visible(s: str) -> bool:
    """At least one code point that is not White_Space, Cf or Cc."""
    return any(ord(c) not in WHITE_SPACE and not is_cc(c) and not is_cf(c) for c in s)


def trimmed(s: str) -> bool:
    """No leading/trailing white space: White_Space of the first code point of the first and last
    character (objects.md §16)."""
    chars = graphemes(s)
    return bool(chars) and ord(chars[0][0]) not in WHITE_SPACE and ord(chars[-1][0]) not in WHITE_SPACE


# --------------------------------------------------------------------------------------------
# Currencies (objects.md §7.5) and full listing rules (objects.md §7)
# --------------------------------------------------------------------------------------------

_CURRENCY_TABLE = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF SAT",
    2: ("AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF "
        "CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL "
        "HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
        "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
        "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS "
        "VES WST XCD YER ZAR ZMW ZWG"),
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
    8: "BTC LTC",
    9: "ETH",
    12: "XMR",
}
CURRENCIES = {code: exp for exp, codes in _CURRENCY_TABLE.items() for code in codes.split()}


def decimal_string(minor: int, currency: str) -> str:
    """Money.decimalString (objects.md §7.4)."""
    e = CURRENCIES[currency]
    if e == 0:
        return str(minor)
    s = str(minor).rjust(e + 1, "0")
    return s[:-e] + "." + s[-e:]


def _slug(s: str, cap: int) -> bool:
    if not 1 <= len(s.encode()) <= cap:
        return False
    if any(not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-") for c in s):
        return False
    return not s.startswith("-") and not s.endswith("-")


@dataclass
class Listing:
    salt: bytes
    version: int
    created_at: int
    updated_at: int
    expires_at: int
    title: str
    description: str
    price: int
    currency: str
    category: str
    location: str
    country: str
    quantity: int
    condition: int
    tags: list

    def payload(self) -> bytes:
        out = bytearray([1]) + self.salt
        out += varint(self.version) + varint(self.created_at) + varint(self.updated_at) + varint(self.expires_at)
        out += string(self.title) + string(self.description) + varint(self.price) + string(self.currency)
        out += string(self.category) + string(self.location) + string(self.country)
        out += varint(self.quantity) + bytes([self.condition]) + varint(len(self.tags))
        for t in self.tags:
            out += string(t)
        return bytes(out)

    @staticmethod
    def decode(payload: bytes) -> "Listing":
        """objects.md §7.1-7.2: wire caps (malformed) plus the three decode-time codes."""
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("unsupported listing format version")
        salt = r.bytes(16)
        version, created, updated, expires = r.varint(), r.varint(), r.varint(), r.varint()
        title = r.string(560)
        description = r.string(8192)
        price = r.varint()
        currency = r.string(8)
        if currency not in CURRENCIES:
            raise ValidationError("unknown_currency", currency)
        category = r.string(48)
        location = r.string(256)
        country = r.string(2)
        quantity = r.varint()
        condition = r.byte()
        if condition > 6:
            raise ValidationError("invalid_condition", str(condition))
        n = r.varint()
        if n > 10:
            raise ValidationError("invalid_tags", f"{n} tags")
        tags = [r.string(32) for _ in range(n)]
        r.end()
        return Listing(salt, version, created, updated, expires, title, description, price, currency, category,
                       location, country, quantity, condition, tags)

    def validate_fields(self) -> None:
        """objects.md §7.3 in the order of §10.1 step 4 (no clock)."""
        if len(self.salt) != 16:
            raise ValidationError("malformed", "salt")
        if not 1 <= self.version <= 0xFFFF_FFFF:
            raise ValidationError("invalid_version")
        t = self.title
        chars = graphemes(t)
        if (not t or len(t.encode()) > 560 or len(chars) > 140 or any(is_cc(c) or ord(c) in BIDI for c in t)
                or "\ufeff" in t or not trimmed(t) or not has_visible(t)):
            raise ValidationError("invalid_title", repr(t))
        if len(self.description.encode()) > 8192 or not text_ok(self.description):
            raise ValidationError("invalid_description")
        if self.price > MAX_AMOUNT:
            raise ValidationError("invalid_price")
        if self.currency not in CURRENCIES:
            raise ValidationError("unknown_currency")
        if not _slug(self.category, 48):
            raise ValidationError("invalid_category")
        loc = self.location
        if (len(loc.encode()) > 256 or len(graphemes(loc)) > 128
                or any(is_cc(c) or ord(c) in BIDI for c in loc)):
            raise ValidationError("invalid_location")
        if self.country and not (len(self.country) == 2 and all("A" <= c <= "Z" for c in self.country)):
            raise ValidationError("invalid_country")
        if not 1 <= self.quantity <= 1_000_000:
            raise ValidationError("invalid_quantity")
        if self.condition > 6:
            raise ValidationError("invalid_condition")
        if len(self.tags) > 10 or len(set(self.tags)) != len(self.tags) or not all(_slug(x, 32) for x in self.tags):
            raise ValidationError("invalid_tags")
        if not EARLIEST <= self.created_at <= self.updated_at:
            raise ValidationError("invalid_timestamps")
        if not self.updated_at < self.expires_at <= self.updated_at + 30 * 86400:
            raise ValidationError("invalid_timestamps")


# --------------------------------------------------------------------------------------------
# Arbiter profile (kind 4), trade.md §2
# --------------------------------------------------------------------------------------------

ARBITER_LIFETIME = 90 * 86400


@dataclass
class CurrencyTerms:
    currency: str
    min_fee: int
    min_amount: int
    max_amount: int


@dataclass
class ArbiterProfile:
    version: int
    updated_at: int
    expires_at: int
    display_name: str
    fee_basis_points: int
    currencies: list  # of CurrencyTerms
    languages: list
    terms: str
    response_hours: int

    def payload(self) -> bytes:
        out = bytearray([1]) + varint(self.version) + varint(self.updated_at) + varint(self.expires_at)
        out += string(self.display_name) + varint(self.fee_basis_points) + varint(len(self.currencies))
        for c in self.currencies:
            out += string(c.currency) + varint(c.min_fee) + varint(c.min_amount) + varint(c.max_amount)
        out += varint(len(self.languages)) + b"".join(string(x) for x in self.languages)
        out += string(self.terms) + varint(self.response_hours)
        return bytes(out)

    @staticmethod
    def decode(payload: bytes) -> "ArbiterProfile":
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("unsupported arbiter-profile format version")
        version, updated, expires = r.varint(), r.varint(), r.varint()
        name = r.string(256)
        fee = r.varint()
        n = r.varint()
        if n > 16:
            raise DecodeError(f"{n} currencies, limit 16")
        currencies = [CurrencyTerms(r.string(8), r.varint(), r.varint(), r.varint()) for _ in range(n)]
        n = r.varint()
        if n > 8:
            raise DecodeError(f"{n} languages, limit 8")
        languages = [r.string(16) for _ in range(n)]
        terms = r.string(4096)
        hours = r.varint()
        r.end()
        return ArbiterProfile(version, updated, expires, name, fee, currencies, languages, terms, hours)

    def validate_fields(self) -> None:
        """§2.2 rules 1-8, in order."""
        bad = "invalid_arbiter_profile"
        if not 1 <= self.version <= 0xFFFF_FFFF:
            raise ValidationError("invalid_version")
        n = self.display_name
        if (not n or len(graphemes(n)) > 64 or not trimmed(n) or any(is_cc(c) or ord(c) in BIDI for c in n)
                or not has_visible(n)):
            raise ValidationError(bad, f"display_name {n!r}")
        if self.fee_basis_points > 5000:
            raise ValidationError(bad, "fee_basis_points")
        codes = [c.currency for c in self.currencies]
        if not codes or len(set(codes)) != len(codes):
            raise ValidationError(bad, "currencies")
        for c in self.currencies:
            if c.currency not in CURRENCIES:
                raise ValidationError(bad, f"currency {c.currency!r}")
            if not (c.min_amount <= c.max_amount <= MAX_AMOUNT and c.min_fee <= MAX_AMOUNT):
                raise ValidationError(bad, f"amounts of {c.currency}")
        if len(set(self.languages)) != len(self.languages) or not all(LANGUAGE_TAG.match(x) for x in self.languages):
            raise ValidationError(bad, "languages")
        if not text_ok(self.terms):
            raise ValidationError(bad, "terms")
        if not 1 <= self.response_hours <= 720:
            raise ValidationError(bad, "response_hours")
        if self.updated_at < EARLIEST or not self.updated_at < self.expires_at <= self.updated_at + ARBITER_LIFETIME:
            raise ValidationError("invalid_timestamps")

    def validate_clock(self, now: int) -> None:
        if self.updated_at > now + MAX_SKEW:
            raise ValidationError("from_the_future")
        if now >= self.expires_at:
            raise ValidationError("expired")

    def fee(self, amount: int, currency: str) -> Optional[int]:
        """§2.3; None when the arbiter does not take the trade."""
        terms = next((c for c in self.currencies if c.currency == currency), None)
        if terms is None or not terms.min_amount <= amount <= terms.max_amount:
            return None
        product = amount * self.fee_basis_points
        proportional = product // 10_000 if product <= U64 else (amount // 10_000) * self.fee_basis_points
        return min(amount, max(terms.min_fee, proportional))


# --------------------------------------------------------------------------------------------
# Trade step (kind 5), trade.md §3
# --------------------------------------------------------------------------------------------

ORDER, ACCEPT, DECLINE, CANCEL, ARBITER_ACK, PAYMENT_CLAIM, PAYMENT_CONFIRM, FULFIL, DISPUTE, EXPIRE, RECEIVED = range(1, 12)
STEP_NAMES = {ORDER: "order", ACCEPT: "accept", DECLINE: "decline", CANCEL: "cancel", ARBITER_ACK: "arbiter_ack",
              PAYMENT_CLAIM: "payment_claim", PAYMENT_CONFIRM: "payment_confirm", FULFIL: "fulfil",
              DISPUTE: "dispute", EXPIRE: "expire", RECEIVED: "received"}
BUYER, SELLER, ARBITER, FALLBACK = "buyer", "seller", "arbiter", "fallback_arbiter"
# §3.3: who may sign, and the required parent type.
SIGNERS = {ACCEPT: {SELLER}, DECLINE: {SELLER}, CANCEL: {BUYER}, ARBITER_ACK: {ARBITER, FALLBACK},
           PAYMENT_CLAIM: {BUYER}, PAYMENT_CONFIRM: {SELLER}, FULFIL: {SELLER}, DISPUTE: {BUYER, SELLER},
           EXPIRE: {BUYER, SELLER, ARBITER, FALLBACK}, RECEIVED: {BUYER}}
REQUIRED_PARENT = {ACCEPT: ORDER, DECLINE: ORDER, CANCEL: ORDER, ARBITER_ACK: ACCEPT, PAYMENT_CLAIM: ARBITER_ACK,
                   PAYMENT_CONFIRM: PAYMENT_CLAIM, FULFIL: ARBITER_ACK, DISPUTE: ARBITER_ACK, EXPIRE: ORDER,
                   RECEIVED: FULFIL}
DEADLINE_NAMES = ("accept", "arbiter_ack", "payment", "confirmation", "fulfilment", "inspection", "ruling")
MAX_DEADLINE = 15_552_000  # 180 days
LISTING_BLOB_CAP = MAX_LISTING_ENVELOPE  # 16 485: TradeOrder.Limits.listingEnvelopeMaxBytes


@dataclass
class Deadlines:
    accept: int = 72 * 3600
    arbiter_ack: int = 48 * 3600
    payment: int = 48 * 3600
    confirmation: int = 72 * 3600
    fulfilment: int = 7 * 86400
    inspection: int = 14 * 86400
    ruling: int = 14 * 86400

    def values(self) -> list:
        return [getattr(self, n) for n in DEADLINE_NAMES]


@dataclass
class OrderBody:
    listing: bytes  # the listing envelope, verbatim
    quantity: int
    amount: int
    currency: str
    seller: bytes
    arbiter: bytes
    fallback_arbiter: Optional[bytes]
    arbiter_fee: int
    rail: str
    deadlines: Deadlines
    private_hash: bytes = bytes(32)
    nonce: bytes = bytes(16)

    def encode(self) -> bytes:
        out = bytearray(lp(self.listing)) + varint(self.quantity) + varint(self.amount) + string(self.currency)
        out += self.seller + self.arbiter
        out += (b"\x01" + self.fallback_arbiter) if self.fallback_arbiter is not None else b"\x00"
        out += varint(self.arbiter_fee) + string(self.rail)
        for v in self.deadlines.values():
            out += varint(v)
        out += self.private_hash + self.nonce
        return bytes(out)

    @staticmethod
    def decode(r: Reader) -> "OrderBody":
        listing = r.lp(LISTING_BLOB_CAP)
        quantity, amount = r.varint(), r.varint()
        currency = r.string(8)
        seller, arbiter = r.bytes(32), r.bytes(32)
        flag = r.byte()
        if flag not in (0, 1):
            raise DecodeError(f"fallback flag {flag}")
        fallback = r.bytes(32) if flag == 1 else None
        fee = r.varint()
        rail = r.string(64)
        deadlines = Deadlines(*[r.varint() for _ in DEADLINE_NAMES])
        private_hash, nonce = r.bytes(32), r.bytes(16)
        return OrderBody(listing, quantity, amount, currency, seller, arbiter, fallback, fee, rail, deadlines,
                         private_hash, nonce)


@dataclass
class TradeStep:
    network: str
    type: int
    created_at: int
    order: Optional[OrderBody] = None  # type 1
    trade_id: bytes = b""  # other types
    parents: list = field(default_factory=list)
    text: str = ""

    def payload(self) -> bytes:
        out = bytearray([1]) + string(self.network) + bytes([self.type]) + varint(self.created_at)
        if self.type == ORDER:
            out += self.order.encode()
        else:
            out += self.trade_id + varint(len(self.parents)) + b"".join(self.parents) + string(self.text)
        return bytes(out)

    @staticmethod
    def decode(payload: bytes) -> "TradeStep":
        """§3.1-3.2 decoding (malformed), with the checks §3.5 makes while decoding
        (parents distinct, network not empty, text: invalid_trade_step)."""
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("unsupported trade-step format version")
        network = r.string(200)
        t = r.byte()
        if t not in STEP_NAMES:
            raise DecodeError(f"step type {t}")
        created = r.varint()
        if t == ORDER:
            step = TradeStep(network, t, created, order=OrderBody.decode(r))
        else:
            trade_id = r.bytes(32)
            n = r.varint()
            if not 1 <= n <= 8:
                raise DecodeError(f"{n} parents")
            parents = [r.bytes(32) for _ in range(n)]
            text = r.string(4096)
            step = TradeStep(network, t, created, trade_id=trade_id, parents=parents, text=text)
        r.end()
        if len(set(step.parents)) != len(step.parents):
            raise ValidationError("invalid_trade_step", "parents not distinct")
        if not network:
            raise ValidationError("invalid_trade_step", "empty network")
        if not text_ok(step.text):
            raise ValidationError("invalid_trade_step", "control character in text")
        return step

    def validate_time(self, now: Optional[int]) -> None:
        if self.created_at < EARLIEST:
            raise ValidationError("invalid_timestamps")
        if now is not None and self.created_at > now + MAX_SKEW:
            raise ValidationError("from_the_future")

    @property
    def name(self) -> str:
        return STEP_NAMES[self.type]


def validate_order(step: TradeStep, buyer: bytes) -> Listing:
    """§3.6, every failure invalid_order; returns the embedded listing."""
    o = step.order

    def fail(msg):
        raise ValidationError("invalid_order", msg)

    try:  # 1-3
        env = Envelope.decode(o.listing, {KIND_LISTING: MAX_PAYLOAD[KIND_LISTING]})
    except DecodeError:
        fail("the listing blob is not a listing envelope")
    if env.kind != KIND_LISTING:
        fail("not a listing")
    if not env.verify():
        fail("listing signature")
    try:
        listing = Listing.decode(env.payload)
        listing.validate_fields()
    except (DecodeError, ValidationError) as e:
        fail(f"listing: {e}")
    if o.seller != env.signer:  # 4
        fail("seller is not the listing's signer")
    if buyer == o.seller:  # 5
        fail("buyer = seller")
    if o.arbiter in (buyer, o.seller):  # 6
        fail("arbiter is buyer or seller")
    if o.fallback_arbiter is not None and o.fallback_arbiter in (buyer, o.seller, o.arbiter):  # 7
        fail("fallback arbiter is another party")
    if o.currency != listing.currency:  # 8
        fail("currency")
    if not 1 <= o.quantity <= listing.quantity:  # 9
        fail("quantity")
    total = listing.price * o.quantity  # 10
    if total > U64 or total > MAX_AMOUNT:
        fail("price x quantity too large")
    if o.amount != total:  # 11
        fail("amount != price x quantity")
    if o.arbiter_fee > o.amount:  # 12
        fail("arbiter_fee > amount")
    if not o.rail or any(is_cc(c) for c in o.rail) or not trimmed(o.rail):  # 13
        fail("rail")
    low = 3600 if step.network == "main" else 1  # 14
    if not all(low <= d <= MAX_DEADLINE for d in o.deadlines.values()):
        fail("deadline out of bounds")
    if not (listing.updated_at <= step.created_at + MAX_SKEW and listing.expires_at > step.created_at):  # 15
        fail("the listing was not current when the order was made")
    return listing


# --------------------------------------------------------------------------------------------
# Resolution (kind 6), trade.md §6
# --------------------------------------------------------------------------------------------

RELEASE, REFUND, SPLIT = 1, 2, 3
OUTCOMES = {RELEASE: "release", REFUND: "refund", SPLIT: "split"}


@dataclass
class Resolution:
    network: str
    trade_id: bytes
    outcome: int
    buyer_amount: int
    seller_amount: int
    arbiter_fee: int

    def payload(self) -> bytes:
        return (b"\x01" + string(self.network) + self.trade_id + bytes([self.outcome]) + varint(self.buyer_amount)
                + varint(self.seller_amount) + varint(self.arbiter_fee))

    @property
    def hash(self) -> bytes:
        return blake2b(self.payload(), 32)

    @staticmethod
    def decode(payload: bytes) -> "Resolution":
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("unsupported resolution format version")
        network = r.string(200)
        trade_id = r.bytes(32)
        outcome = r.byte()
        if outcome not in OUTCOMES:
            raise DecodeError(f"outcome {outcome}")
        res = Resolution(network, trade_id, outcome, r.varint(), r.varint(), r.varint())
        r.end()
        return res

    def validate_fields(self) -> None:
        """§6.2."""
        if not self.network:
            raise ValidationError("invalid_resolution", "empty network")
        if self.buyer_amount + self.seller_amount + self.arbiter_fee > MAX_AMOUNT:
            raise ValidationError("invalid_resolution", "sum over 2^53 - 1")
        if self.outcome == RELEASE and self.buyer_amount != 0:
            raise ValidationError("invalid_resolution", "release pays the buyer")
        if self.outcome == REFUND and self.seller_amount != 0:
            raise ValidationError("invalid_resolution", "refund pays the seller")

    def fits(self, order: OrderBody) -> bool:
        """§6.3."""
        return (self.buyer_amount + self.seller_amount + self.arbiter_fee == order.amount
                and self.arbiter_fee <= order.arbiter_fee)

    @staticmethod
    def make(outcome: int, network: str, trade_id: bytes, order: OrderBody, buyer_share: int = 0,
             charge_fee: bool = True) -> "Resolution":
        """§6.4 TradeResolution.make."""
        fee = order.arbiter_fee if charge_fee else 0
        net = order.amount - fee
        if outcome == RELEASE:
            return Resolution(network, trade_id, RELEASE, 0, net, fee)
        if outcome == REFUND:
            return Resolution(network, trade_id, REFUND, net, 0, fee)
        if buyer_share > net:
            raise ValueError("split share over net")
        return Resolution(network, trade_id, SPLIT, buyer_share, net - buyer_share, fee)


# --------------------------------------------------------------------------------------------
# Chat message (kind 7), trade.md §10
# --------------------------------------------------------------------------------------------

CHAT_LISTING_LABEL = b"souk/chat/listing/v1"


def listing_conversation(listing_id: bytes, buyer: bytes) -> bytes:
    return blake2b(CHAT_LISTING_LABEL + b"\x00" + listing_id + buyer, 32)


@dataclass
class ChatMessage:
    network: str
    created_at: int
    conversation: bytes
    recipients: list
    text: str

    def payload(self) -> bytes:
        return (b"\x01" + string(self.network) + varint(self.created_at) + self.conversation
                + varint(len(self.recipients)) + b"".join(self.recipients) + string(self.text))

    @staticmethod
    def decode(payload: bytes) -> "ChatMessage":
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("unsupported chat-message format version")
        network = r.string(200)
        created = r.varint()
        conversation = r.bytes(32)
        n = r.varint()
        if not 1 <= n <= 2:
            raise DecodeError(f"{n} recipients")
        recipients = [r.bytes(32) for _ in range(n)]
        text = r.string(4096)
        r.end()
        return ChatMessage(network, created, conversation, recipients, text)

    def validate_fields(self) -> None:
        """§10.1 rules checked while decoding: network, distinct recipients, text."""
        bad = "invalid_message"
        if not self.network:
            raise ValidationError(bad, "empty network")
        if len(set(self.recipients)) != len(self.recipients):
            raise ValidationError(bad, "recipients not distinct")
        t = self.text
        if not 1 <= len(graphemes(t)) <= 2000 or not has_visible(t) or not text_ok(t):
            raise ValidationError(bad, "text")

    def validate_signer(self, signer: bytes) -> None:
        """No recipient is the signer (checked after the clock)."""
        if signer in self.recipients:
            raise ValidationError("invalid_message", "addressed to its own signer")

    def validate_time(self, now: Optional[int]) -> None:
        if self.created_at < EARLIEST:
            raise ValidationError("invalid_timestamps")
        if now is not None and self.created_at > now + MAX_SKEW:
            raise ValidationError("from_the_future")


# --------------------------------------------------------------------------------------------
# Verification of one object (objects.md §10.1, trade.md §3.5, §1.4)
# --------------------------------------------------------------------------------------------


@dataclass
class Verified:
    raw: bytes
    env: Envelope
    body: object  # Listing | ArbiterProfile | TradeStep | Resolution | ChatMessage | ...

    @property
    def id(self) -> bytes:
        return object_id(self.raw)

    @property
    def signer(self) -> bytes:
        return self.env.signer

    @property
    def kind(self) -> int:
        return self.env.kind


class NotSpecified(Exception):
    """A verified envelope of a kind whose payload no spec defines yet (kinds 8 and 9, reputation:
    objects.md §6 gives only their caps and domain tags)."""


def verify(data: bytes, now: Optional[int] = None, network: Optional[str] = None) -> Verified:
    """Verifies an envelope of any kind 1-7 and returns it decoded, or raises ValidationError
    with its code (NotSpecified for kinds 8 and 9 once their envelope and signature check out).
    `now=None` skips the clock rules (as a proof verifier does); `network`, when given, is the
    verifier's own network (wrong_network after verification, §1.4)."""
    try:
        env = Envelope.decode(data)
    except DecodeError as e:
        raise ValidationError(e.code, str(e)) from None
    if not env.verify():
        raise ValidationError("bad_signature")
    try:
        if env.kind == KIND_LISTING:
            body = Listing.decode(env.payload)
            body.validate_fields()
            if now is not None:
                if body.updated_at > now + MAX_SKEW:
                    raise ValidationError("from_the_future")
                if now >= body.expires_at:
                    raise ValidationError("expired")
        elif env.kind == KIND_ARBITER:
            body = ArbiterProfile.decode(env.payload)
            body.validate_fields()
            if now is not None:
                body.validate_clock(now)
        elif env.kind == KIND_STEP:
            body = TradeStep.decode(env.payload)
            body.validate_time(now)
            if body.type == ORDER:
                validate_order(body, env.signer)
        elif env.kind == KIND_RESOLUTION:
            body = Resolution.decode(env.payload)
            body.validate_fields()
        elif env.kind == KIND_CHAT:
            body = ChatMessage.decode(env.payload)
            body.validate_fields()
            body.validate_time(now)
            body.validate_signer(env.signer)  # after the clock (trade.md §10.1)
        elif env.kind in (KIND_RETRACTION, KIND_PROFILE):  # soukpeer's rules for kinds 2 and 3
            body = (sp.Retraction if env.kind == KIND_RETRACTION else sp.NodeProfile).decode(env.payload)
            # soukpeer's check always applies the clock; without a clock, judge at a time it passes
            body.check(now if now is not None else
                       body.updated_at if env.kind == KIND_PROFILE else max(body.retracted_at, EARLIEST))
        elif env.kind in (KIND_LOG_ENTRY, KIND_FORK_PROOF):
            raise NotSpecified(f"kind {env.kind} ({KIND_NAMES[env.kind]}): see Specs/reputation.md")
        else:  # pragma: no cover - every kind of KIND_NAMES is handled above
            raise ValidationError("wrong_kind", f"kind {env.kind}")
    except DecodeError as e:
        raise ValidationError(e.code, str(e)) from None
    if network is not None and env.kind in (KIND_STEP, KIND_RESOLUTION, KIND_CHAT) and body.network != network:
        raise ValidationError("wrong_network")
    return Verified(bytes(data), env, body)


def check(data: bytes, now: Optional[int] = None, network: Optional[str] = None) -> Optional[str]:
    """The code of the first failure, or None."""
    try:
        verify(data, now, network)
        return None
    except ValidationError as e:
        return e.code


# --------------------------------------------------------------------------------------------
# A trade's order and its parties (§1.2) and the structural rules (§3.4)
# --------------------------------------------------------------------------------------------


class Trade:
    """The verified order of a trade."""

    def __init__(self, order: Verified):
        assert order.kind == KIND_STEP and order.body.type == ORDER
        self.order = order
        self.step: TradeStep = order.body
        self.body: OrderBody = order.body.order
        self.id = order.id
        self.network = self.step.network
        self.created_at = self.step.created_at
        self.buyer = order.signer
        self.seller = self.body.seller
        self.arbiter = self.body.arbiter
        self.fallback = self.body.fallback_arbiter
        self.deadlines = self.body.deadlines

    def role(self, key: bytes) -> Optional[str]:
        for role, k in ((BUYER, self.buyer), (SELLER, self.seller), (ARBITER, self.arbiter),
                        (FALLBACK, self.fallback)):
            if k is not None and key == k:
                return role
        return None

    @staticmethod
    def counted_role(role: Optional[str]) -> Optional[str]:
        return ARBITER if role == FALLBACK else role

    def check_step(self, step: Verified, parents: dict) -> None:
        """§3.4 rules 1-6. `parents` maps every parent id other than the trade id to
        (type, created_at). Raises ValidationError."""
        s: TradeStep = step.body
        if s.type == ORDER:
            raise ValidationError("invalid_trade_step", "a second order")
        if s.trade_id != self.id:
            raise ValidationError("invalid_trade_step", "another trade")
        if s.network != self.network:
            raise ValidationError("wrong_network")
        if self.role(step.signer) not in SIGNERS[s.type]:
            raise ValidationError("invalid_trade_step", "signer may not sign this type")
        info = [(ORDER, self.created_at) if p == self.id else parents[p] for p in s.parents]
        if not any(t == REQUIRED_PARENT[s.type] for t, _ in info):
            raise ValidationError("invalid_trade_step", "no parent of the required type")
        if any(s.created_at < at for _, at in info):
            raise ValidationError("invalid_trade_step", "dated before a parent")


# --------------------------------------------------------------------------------------------
# Store rules (§4), as a function of what is held
# --------------------------------------------------------------------------------------------

MAX_STEPS_PER_AUTHOR = 16
MAX_RESOLUTIONS_PER_SIGNER = 2


class Store:
    """What one node holds, with the §4 outcomes: 'stored', 'duplicate', 'deferred', 'quota', or a
    raised ValidationError ('refused')."""

    def __init__(self):
        self.objects: dict = {}  # id -> Verified (trade steps and resolutions)
        self.trades: dict = {}  # trade id -> Trade
        self.deferred: dict = {}  # id -> Verified
        self._retrying = False

    def _retry(self):
        """Checks the deferred objects again until none moves (not re-entrant)."""
        if self._retrying:
            return
        self._retrying = True
        try:
            progress = True
            while progress and self.deferred:
                progress = False
                for oid, v in list(self.deferred.items()):
                    self.deferred.pop(oid, None)
                    try:
                        outcome = self.add(v)
                    except ValidationError:
                        outcome = "refused"
                    if outcome != "deferred":
                        progress = True
        finally:
            self._retrying = False

    def add(self, v: Verified) -> str:
        if v.id in self.objects:
            return "duplicate"
        if v.kind == KIND_STEP and v.body.type == ORDER:
            self.objects[v.id] = v
            self.trades[v.id] = Trade(v)
            self._retry()
            return "stored"
        if v.kind == KIND_STEP:
            code = "invalid_trade_step"
        elif v.kind == KIND_RESOLUTION:
            code = "invalid_resolution"
        else:
            raise ValueError("not a trade object")
        tid = v.body.trade_id
        if tid not in self.objects:
            self.deferred[v.id] = v
            return "deferred"
        if tid not in self.trades:
            raise ValidationError(code, "trade_id names no order")
        trade = self.trades[tid]
        mine = [o for o in self.objects.values() if o.kind == v.kind and o.kind != KIND_LISTING
                and getattr(o.body, "trade_id", None) == tid and o.signer == v.signer]
        if v.kind == KIND_STEP:
            parents = {}
            for p in v.body.parents:
                if p == tid:
                    continue
                held = self.objects.get(p)
                if held is None or held.kind != KIND_STEP:
                    self.deferred[v.id] = v
                    return "deferred"
                if (held.body.trade_id if held.body.type != ORDER else held.id) != tid:
                    raise ValidationError(code, "a parent of another trade")
                parents[p] = (held.body.type, held.body.created_at)
            trade.check_step(v, parents)
            own = len(mine) + (1 if v.signer == trade.buyer else 0)
            if own >= MAX_STEPS_PER_AUTHOR:
                return "quota"
        else:
            if v.body.network != trade.network:
                raise ValidationError("wrong_network")
            if trade.role(v.signer) is None:
                raise ValidationError(code, "signer has no role")
            if len(mine) >= MAX_RESOLUTIONS_PER_SIGNER:
                return "quota"
        self.objects[v.id] = v
        self._retry()
        return "stored"

    def state(self, trade_id: bytes) -> "TradeState":
        trade = self.trades[trade_id]
        steps = [o for o in self.objects.values() if o.kind == KIND_STEP and o.body.type != ORDER
                 and o.body.trade_id == trade_id]
        res = [o for o in self.objects.values() if o.kind == KIND_RESOLUTION and o.body.trade_id == trade_id]
        return fold(trade.order, steps, res)


# --------------------------------------------------------------------------------------------
# The fold (§5)
# --------------------------------------------------------------------------------------------

FINAL_PHASES = {"settled", "cancelled", "declined", "expired", "conflict"}


@dataclass
class Group:
    hash: bytes
    resolution: Resolution
    signatures: dict  # counted role -> Verified (first signature per counted role, by object id)

    @property
    def settled(self) -> bool:
        return len(self.signatures) >= 2

    @property
    def signers(self) -> dict:
        """Counted role -> the key of the kept signature (§5.6): for `arbiter`, the primary's or
        the fallback's key, whichever signature has the lower object id."""
        return {role: v.signer for role, v in self.signatures.items()}


@dataclass
class TradeState:
    trade: Trade
    phase: str
    steps: dict  # id -> Verified (this trade's steps by parties, deduplicated)
    structural: set
    counted: set
    lapse: int
    fallback_active: bool
    times: dict  # step name -> earliest counted created_at
    claimed: bool
    progressed_times: list  # created_at of every counted payment_claim, fulfil and dispute
    cancel_effective: bool
    decline_effective: bool
    expire_effective: bool
    groups: list  # of Group, by resolution hash
    ignored: list  # Verified resolutions kept but not counted

    @property
    def settled_groups(self) -> list:
        return [g for g in self.groups if g.settled]

    @property
    def proposals(self) -> list:
        return [g for g in self.groups if not g.settled]

    @property
    def settlement(self) -> Optional[Group]:
        s = self.settled_groups
        return s[0] if len(s) == 1 else None

    @property
    def equivocators(self) -> list:
        """§6.8: for every pair of settled groups, the counted roles kept in both whose recorded
        key is the same in both; in the order buyer, seller, arbiter."""
        found = set()
        groups = self.settled_groups
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                for role, key in a.signers.items():
                    if b.signers.get(role) == key:
                        found.add(role)
        return [r for r in (BUYER, SELLER, ARBITER) if r in found]

    @property
    def equivocating_keys(self) -> list:
        """Every key that signed a kept signature in two settled groups, whatever its role there
        (not part of the spec: a check on §6.8's 'at least one key signed both')."""
        keys = [v.signer for g in self.settled_groups for v in g.signatures.values()]
        return sorted({k for k in keys if keys.count(k) >= 2})

    def progressed(self, t: int) -> bool:
        """§5.4: some counted payment_claim, fulfil or dispute is dated at or before t."""
        return any(x <= t for x in self.progressed_times)

    @property
    def final(self) -> bool:
        return self.phase in FINAL_PHASES


def _earliest(steps: Iterable[Verified]) -> Optional[int]:
    times = [s.body.created_at for s in steps]
    return min(times) if times else None


def fold(order: Verified, steps: Iterable[Verified], resolutions: Iterable[Verified]) -> TradeState:
    """TradeState.fold: a pure function of the order and two sets of verified objects."""
    trade = Trade(order)
    tid = trade.id
    held: dict = {}
    for v in steps:
        if v.kind != KIND_STEP or v.body.type == ORDER or v.body.trade_id != tid or trade.role(v.signer) is None:
            continue
        held[v.id] = v

    # Structural: every parent is the order or a structural step, and §3.4 holds (fixpoint).
    structural: set = set()
    changed = True
    while changed:
        changed = False
        for sid, v in held.items():
            if sid in structural:
                continue
            if not all(p == tid or p in structural for p in v.body.parents):
                continue
            parents = {p: (held[p].body.type, held[p].body.created_at) for p in v.body.parents if p != tid}
            try:
                trade.check_step(v, parents)
            except ValidationError:
                continue
            structural.add(sid)
            changed = True

    def of(ids, t, signer=None, pred=lambda v: True):
        return [held[i] for i in ids if held[i].body.type == t and (signer is None or held[i].signer == signer)
                and pred(held[i])]

    # The lapse (§5.3), from structural steps only.
    d = trade.deadlines
    a = _earliest(of(structural, ACCEPT))
    if a is None:
        lapse = INF
    else:
        ack_deadline = sat_add(a, d.arbiter_ack)
        primary_acks = of(structural, ARBITER_ACK, trade.arbiter)
        k = _earliest(primary_acks)
        if k is not None and k <= ack_deadline:
            ack_ids = {x.id for x in primary_acks}
            dd = _earliest(of(structural, DISPUTE, pred=lambda v: any(p in ack_ids for p in v.body.parents)))
            lapse = INF if dd is None else sat_add(dd, d.ruling)
        else:
            lapse = ack_deadline

    # Counted (fixpoint over structural steps).
    counted: set = set()
    changed = True
    while changed:
        changed = False
        for sid in structural - counted:
            v = held[sid]
            if not all(p == tid or p in counted for p in v.body.parents):
                continue
            if (v.signer == trade.fallback and v.body.type in (ARBITER_ACK, EXPIRE)
                    and v.body.created_at < lapse):
                continue
            counted.add(sid)
            changed = True

    fallback_active = bool(trade.fallback is not None and of(counted, ARBITER_ACK, trade.fallback))
    times = {STEP_NAMES[t]: _earliest(of(counted, t)) for t in STEP_NAMES if t != ORDER}

    claimed = times["payment_claim"] is not None
    accepted = times["accept"] is not None
    # §5.4: a closing step is judged at its own time.
    progressed_times = [v.body.created_at for t in (PAYMENT_CLAIM, FULFIL, DISPUTE) for v in of(counted, t)]

    def progressed(t: int) -> bool:
        return any(x <= t for x in progressed_times)

    cancel_effective = any(not progressed(c.body.created_at) for c in of(counted, CANCEL))
    decline_effective = bool(of(counted, DECLINE)) and not accepted

    def expiry_deadline(t: int) -> int:
        before = [held[i] for i in counted if held[i].body.created_at <= t]
        ack = _earliest(x for x in before if x.body.type == ARBITER_ACK)
        if ack is not None:
            return sat_add(ack, d.payment)
        acc = _earliest(x for x in before if x.body.type == ACCEPT)
        if acc is not None:
            return sat_add(acc, d.arbiter_ack)
        return sat_add(trade.created_at, d.accept)

    expire_effective = any(e.body.created_at >= expiry_deadline(e.body.created_at)
                           and not progressed(e.body.created_at) for e in of(counted, EXPIRE))

    # Resolutions (§5.6).
    groups: dict = {}
    ignored: list = []
    seen: set = set()
    for v in sorted(resolutions, key=lambda x: x.id):
        if v.id in seen or v.kind != KIND_RESOLUTION:
            continue
        seen.add(v.id)
        res: Resolution = v.body
        role = trade.role(v.signer)
        if res.trade_id != tid or res.network != trade.network or role is None:
            continue
        if not res.fits(trade.body) or (role == FALLBACK and not fallback_active):
            ignored.append(v)
            continue
        payload = v.env.payload
        g = groups.setdefault(payload, Group(blake2b(payload, 32), res, {}))
        g.signatures.setdefault(Trade.counted_role(role), v)
    ordered_groups = sorted(groups.values(), key=lambda g: g.hash)
    n_settled = sum(1 for g in ordered_groups if g.settled)

    if n_settled >= 2:
        phase = "conflict"
    elif n_settled == 1:
        phase = "settled"
    elif cancel_effective:
        phase = "cancelled"
    elif decline_effective:
        phase = "declined"
    elif expire_effective:
        phase = "expired"
    elif times["dispute"] is not None:
        phase = "disputed"
    elif times["fulfil"] is not None:
        phase = "fulfilled"
    elif times["payment_confirm"] is not None:
        phase = "payment_confirmed"
    elif claimed:
        phase = "payment_claimed"
    elif times["arbiter_ack"] is not None:
        phase = "arbiter_acknowledged"
    elif accepted:
        phase = "accepted"
    else:
        phase = "ordered"

    return TradeState(trade, phase, held, structural, counted, lapse, fallback_active, times, claimed,
                      progressed_times, cancel_effective, decline_effective, expire_effective, ordered_groups,
                      ignored)


# --------------------------------------------------------------------------------------------
# Deadlines and default exits (§7)
# --------------------------------------------------------------------------------------------


@dataclass
class Advice:
    phase: str
    awaiting_from: str  # the role whose step is awaited
    start: int
    end: int
    passed: bool
    stalled: bool
    default_exit: str  # "expire", "fallback_takeover", "refund", "release", "settle_alone"
    exit_signed_by: str
    window: float  # the fraction of [start, end) gone, for the 50 / 90 / 100 % notices
    start_step: Optional[bytes]  # the step that opened the window (the order in `ordered`)

    def lapsed(self, now: int, received_at: Optional[int]) -> bool:
        """§7.3: passed by signed times and counted from when this node stored the opening step."""
        received = self.start if received_at is None else received_at
        return now >= self.end and now >= sat_add(received, self.end - self.start)

    @property
    def notices(self) -> list:
        out = []
        for pct, name in ((0.5, "50"), (0.9, "90"), (1.0, "passed")):
            if self.window >= pct:
                out.append(f"{self.phase}:{name}")
        return out


def advice(state: TradeState, now: int) -> Optional[Advice]:
    """The current deadline and default exit of §7.1 at `now`; None in a final phase."""
    if state.final:
        return None
    trade, d, p = state.trade, state.trade.deadlines, state.phase
    fallback_open = trade.fallback is not None and not state.fallback_active

    def first(t):
        ids = [i for i in state.counted if state.steps[i].body.type == t]
        return min(ids, key=lambda i: (state.steps[i].body.created_at, i)) if ids else None

    if p == "ordered":
        start, dur, who, exit_, by, step = trade.created_at, d.accept, SELLER, "expire", "any party", trade.id
    elif p == "accepted":
        start, dur, who, step = state.times["accept"], d.arbiter_ack, ARBITER, first(ACCEPT)
        exit_, by = ("fallback_takeover", FALLBACK) if fallback_open else ("expire", "any party")
    elif p == "arbiter_acknowledged":
        start, dur, who, exit_, by, step = (state.times["arbiter_ack"], d.payment, BUYER, "expire", "any party",
                                            first(ARBITER_ACK))
    elif p in ("payment_claimed", "payment_confirmed"):
        start, dur, who, exit_, by, step = (state.times["payment_claim"], d.fulfilment, SELLER, "refund",
                                            "arbiter, buyer countersigns", first(PAYMENT_CLAIM))
    elif p == "fulfilled":
        start, dur, who, exit_, by, step = (state.times["fulfil"], d.inspection, BUYER, "release",
                                            "arbiter, seller countersigns", first(FULFIL))
    elif p == "disputed":
        start, dur, who, step = state.times["dispute"], d.ruling, ARBITER, first(DISPUTE)
        exit_, by = ("fallback_takeover", FALLBACK) if fallback_open else ("settle_alone", "buyer and seller")
    else:  # pragma: no cover
        raise AssertionError(p)
    end = sat_add(start, dur)
    window = (now - start) / (end - start) if end > start else 1.0
    return Advice(p, who, start, end, now >= end, now >= sat_add(end, d.ruling), exit_, by, window, step)


def next_check(state: TradeState, now: int, received_at: Optional[int] = None) -> int:
    """§7.3 `trades.next_check` (MarketNode.nextCheck): the earliest of the 50 % and 90 % notices,
    the deadline, the arbiter's receipt-based lapse and the stalled mark still after `now`; now + 60
    once all have passed; 2^64 - 1 (never) in a final phase. `received_at` is when this node stored
    the step that opened the window (None: its signed time)."""
    a = advice(state, now)
    if a is None:
        return U64
    w = a.end - a.start
    received = a.start if received_at is None else received_at
    times = [sat_add(a.start, (w + 1) // 2), sat_add(a.start, (9 * w + 9) // 10), a.end, sat_add(received, w),
             sat_add(a.end, state.trade.deadlines.ruling)]
    later = [t for t in times if t > now]
    return min(later) if later else now + 60


def automation(state: TradeState, role: str, now: int, received_at: Optional[int] = None, *,
               arbiter_mode: bool = True, auto_defaults: bool = True, takes: bool = True,
               signed: bool = False) -> Optional[str]:
    """What a node of `role` signs by itself in one look at a trade (§6.7, §7.3; policy, after the
    notices): 'countersign <outcome>', 'acknowledge', 'take over', 'expire', 'refund', 'release',
    or None. `takes`: its own arbiter profile takes the trade (§2.3); `signed`: it recorded a
    resolution for the trade (§6.6)."""
    if state.final:
        return None
    if not signed:
        mine = {SELLER: RELEASE, BUYER: REFUND}.get(role)
        offer = next((g for g in state.proposals if g.resolution.outcome == mine), None)
        if offer is not None:
            return "countersign " + OUTCOMES[mine]
    a = advice(state, now)
    if not arbiter_mode or role not in (ARBITER, FALLBACK) or a is None:
        return None
    lapsed = a.lapsed(now, received_at)
    if state.phase == "accepted" and role == ARBITER and now < a.end and takes:
        return "acknowledge"
    if (role == FALLBACK and not state.fallback_active and state.phase in ("accepted", "disputed") and lapsed
            and takes):
        return "take over"
    acting = role == ARBITER or (role == FALLBACK and state.fallback_active)
    stands_down = role == ARBITER and state.fallback_active
    if not acting or stands_down or not auto_defaults or not lapsed or not a.passed:
        return None
    exit_ = {"ordered": "expire", "accepted": "expire", "arbiter_acknowledged": "expire",
             "payment_claimed": "refund", "payment_confirmed": "refund", "fulfilled": "release"}.get(state.phase)
    if exit_ == "expire" and state.phase == "accepted" and role == ARBITER and state.trade.fallback is not None:
        return None  # the fallback's to take over, not a reason to close the trade
    if exit_ in ("refund", "release") and signed:
        return None
    return exit_


# --------------------------------------------------------------------------------------------
# Private fields (§3.7) and bundles (§9.1, §9.3)
# --------------------------------------------------------------------------------------------


@dataclass
class TradePrivate:
    salt: bytes
    text: str

    def encode(self) -> bytes:
        assert len(self.salt) == 16
        return b"\x01" + self.salt + string(self.text)

    @property
    def hash(self) -> bytes:
        return blake2b(self.encode(), 32)

    @staticmethod
    def decode(data: bytes) -> "TradePrivate":
        r = Reader(data)
        if r.byte() != 1:
            raise DecodeError("unsupported private format version")
        salt = r.bytes(16)
        text = r.string(2048)
        r.end()
        return TradePrivate(salt, text)


@dataclass
class Digest:
    trade_id: bytes
    requester: bytes
    ids: list

    def encode(self) -> bytes:
        return self.trade_id + self.requester + varint(len(self.ids)) + b"".join(self.ids)


MAX_BUNDLE = 32_768
MIN_BUNDLE = 256


def padded_size(n: int) -> int:
    size = MIN_BUNDLE
    while size < n:
        size *= 2
    if size > MAX_BUNDLE:
        raise ValueError(f"a bundle of {n} bytes is over {MAX_BUNDLE}")
    return size


@dataclass
class Bundle:
    envelopes: list = field(default_factory=list)
    private: bytes = b""
    digests: list = field(default_factory=list)

    def unpadded(self) -> bytes:
        assert len(self.envelopes) <= 16 and len(self.digests) <= 16
        out = bytearray([1]) + varint(len(self.envelopes))
        for e in self.envelopes:
            out += lp(e)
        out += lp(self.private) + varint(len(self.digests))
        for dg in self.digests:
            out += dg.encode()
        return bytes(out)

    def encode(self) -> bytes:
        u = self.unpadded()
        return u + bytes(padded_size(len(u)) - len(u))

    @staticmethod
    def decode(data: bytes) -> "Bundle":
        if len(data) > MAX_BUNDLE:
            raise DecodeError("bundle over 32 768 bytes")
        r = Reader(data)
        if r.byte() != 1:
            raise DecodeError("unsupported bundle format version")
        n = r.varint()
        if n > 16:
            raise DecodeError(f"{n} envelopes")
        envelopes = [r.lp(MAX_ENVELOPE) for _ in range(n)]
        private = r.lp(4096)
        m = r.varint()
        if m > 16:
            raise DecodeError(f"{m} digests")
        digests = []
        for _ in range(m):
            tid, req = r.bytes(32), r.bytes(32)
            k = r.varint()
            if k > 128:
                raise DecodeError(f"{k} ids in a digest")
            digests.append(Digest(tid, req, [r.bytes(32) for _ in range(k)]))
        if any(r.bytes(r.remaining)):
            raise DecodeError("non-zero padding")
        return Bundle(envelopes, private, digests)


def seal(plaintext: bytes, recipient: bytes) -> bytes:
    pk = sodium.crypto_sign_ed25519_pk_to_curve25519(recipient)
    return nacl.public.SealedBox(nacl.public.PublicKey(pk)).encrypt(plaintext)


def unseal(body: bytes, identity: sp.Identity) -> bytes:
    sk = sodium.crypto_sign_ed25519_sk_to_curve25519(identity.seed + identity.public)
    return nacl.public.SealedBox(nacl.public.PrivateKey(sk)).decrypt(body)


def keeps_private(blob: bytes, order: OrderBody) -> bool:
    """§3.7, §9.7: a private blob is kept only when it decodes as TradePrivate and its hash is the
    order's private_hash."""
    if not blob:
        return False
    try:
        TradePrivate.decode(blob)
    except DecodeError:
        return False
    return blake2b(blob, 32) == order.private_hash


# --------------------------------------------------------------------------------------------
# The inbox (§9.7, policy), over already opened bundles
# --------------------------------------------------------------------------------------------

INBOX_NEW_PER_PASS = 200
INBOX_WAITING_PER_PASS = 50
INBOX_WAITING_LIFETIME = 24 * 3600  # SoukDatabase.inboxWaitingLifetime


@dataclass
class InboxItem:
    delivery_id: bytes
    bundle: Optional[Bundle]  # None: the body does not open or decode as a bundle
    received_at: int
    expires: int
    state: str = "new"  # new, read (not a trade bundle), waiting
    tried_at: int = 0


class StoreFailure(Exception):
    """The database failed while storing a bundle's objects (the bundle stays, waiting)."""


class Inbox:
    """A recipient's inbox: `deliver` stores an item; `process` is one PeerManager.processInbox
    pass (with `retry_waiting`, as the trade maintenance round runs it); `prune` the hourly pass.
    `store.add` decides each envelope (§4); `answer(digest)` is called for each digest answered;
    `fail_store` simulates a database error."""

    def __init__(self, store: "Store", me: bytes):
        self.store, self.me = store, me
        self.items: dict = {}  # delivery id -> InboxItem
        self.private: dict = {}  # trade id -> kept private blob
        self.answered: list = []  # digests answered, in order
        self.fail_store = False

    def deliver(self, delivery_id: bytes, bundle: Optional[Bundle], now: int, expires: int) -> None:
        self.items.setdefault(delivery_id, InboxItem(delivery_id, bundle, now, expires))

    def _concerns(self, v: Verified) -> bool:
        if v.kind == KIND_STEP and v.body.type == ORDER:
            return self.me in {x for x in (v.signer, v.body.order.seller, v.body.order.arbiter,
                                           v.body.order.fallback_arbiter) if x is not None}
        if v.kind == KIND_CHAT:
            return self.me in v.body.recipients
        return v.kind in (KIND_STEP, KIND_RESOLUTION)

    def process(self, now: int, retry_waiting: bool = False) -> list:
        """One pass; returns the delivery ids opened, in order."""
        fresh = sorted((i for i in self.items.values() if i.state == "new"),
                       key=lambda i: (i.received_at, i.delivery_id))[:INBOX_NEW_PER_PASS]
        waiting = sorted((i for i in self.items.values() if i.state == "waiting"),
                         key=lambda i: (i.tried_at, i.delivery_id))[:INBOX_WAITING_PER_PASS] if retry_waiting else []
        opened = []
        for item, is_retry in [(i, False) for i in fresh] + [(i, True) for i in waiting]:
            opened.append(item.delivery_id)
            if item.bundle is None:
                item.state = "read"
                continue
            waits = False
            admitted = []
            for raw in item.bundle.envelopes:
                try:
                    v = verify(raw, now)
                except (ValidationError, NotSpecified):
                    continue  # refused: logged, never punished
                if v.kind in (KIND_STEP, KIND_RESOLUTION, KIND_CHAT) and self._concerns(v):
                    admitted.append(v)
            try:
                if self.fail_store and admitted:
                    raise StoreFailure()
                for v in admitted:
                    if v.kind == KIND_CHAT:
                        continue  # chat is stored elsewhere (§10.4)
                    try:
                        outcome = self.store.add(v)
                    except ValidationError:
                        continue
                    if outcome == "deferred":
                        self.store.deferred.pop(v.id, None)  # it waits in the inbox, not in a pool
                        waits = True
                    elif (outcome in ("stored", "duplicate") and v.body.type == ORDER
                          and keeps_private(item.bundle.private, v.body.order)):
                        self.private.setdefault(v.id, item.bundle.private)
            except StoreFailure:
                waits = True
            if not is_retry:
                self.answered.extend(item.bundle.digests)
            if waits:
                item.state, item.tried_at = "waiting", now
            else:
                del self.items[item.delivery_id]
        return opened

    def prune(self, now: int) -> None:
        """The hourly pass: expired deliveries, and waiting bundles received 24 h ago or more."""
        for did, i in list(self.items.items()):
            if i.expires <= now or (i.state == "waiting" and i.received_at <= now - INBOX_WAITING_LIFETIME):
                del self.items[did]


# --------------------------------------------------------------------------------------------
# Settlement proof (§11)
# --------------------------------------------------------------------------------------------

PROOF_FORMAT = "souk-settlement-proof/1"


@dataclass
class ProofResult:
    trade: Trade
    resolution: Resolution
    hash: bytes
    roles: list  # counted roles that signed, in the order of the signatures
    listing: Listing

    @property
    def signed_by(self) -> list:
        """The result's `resolution.signed_by`: every counted role, buyer, seller, arbiter order."""
        return [r for r in (BUYER, SELLER, ARBITER) if r in self.roles]


_HEX = set("0123456789abcdefABCDEF")


def _hex(value) -> Optional[bytes]:
    """Hex.decode: an even number of hex digits of either case, nothing else; None otherwise."""
    if not isinstance(value, str) or len(value) % 2 or any(c not in _HEX for c in value):
        return None
    return bytes.fromhex(value)


def read_proof(proof) -> tuple:
    """§11.2 'Reading the document' (NodeRPC.settlementProof): returns (order, accept,
    fallback_ack or None, [signatures]) as bytes, or raises ValidationError('invalid_proof').
    `proof` is the parsed JSON value; JSON text (str or bytes) is parsed first, as the CLI does."""
    def bad(msg):
        raise ValidationError("invalid_proof", msg)

    if isinstance(proof, (str, bytes)):
        try:
            proof = json.loads(proof)
        except ValueError:
            bad("the proof is not valid JSON")
    if not isinstance(proof, dict) or proof.get("format") != PROOF_FORMAT:  # 2
        bad(f'proof.format must be "{PROOF_FORMAT}"')
    sigs = proof.get("signatures")
    signatures = []
    for s in sigs if isinstance(sigs, list) else []:  # 3: missing or not an array -> none
        b = _hex(s)
        if b is None:
            bad("proof.signatures must be hex strings")
        signatures.append(b)
    members = []
    for member in ("order", "accept"):  # 4
        b = _hex(proof.get(member))
        if b is None:
            bad(f"proof.{member} must be hex")
        members.append(b)
    fallback = proof.get("fallback_ack")  # 5
    if fallback is not None:
        fallback = _hex(fallback)
        if fallback is None:
            bad("proof.fallback_ack must be hex")
    return members[0], members[1], fallback, signatures


def verify_proof(proof) -> ProofResult:
    """The RPC's trade.verify_proof: read_proof, then SettlementProof.verify (§11.2). `proof` is a
    dict or JSON text. Raises ValidationError with the code of the first failed check."""
    order_raw, accept_raw, fallback_raw, sig_raws = read_proof(proof)

    def fail(msg):
        raise ValidationError("invalid_resolution", "invalid proof: " + msg)

    def open_(member, data) -> Envelope:
        try:
            env = Envelope.decode(data)
        except DecodeError:  # unknown kinds included
            fail(f"{member} is not an envelope")
        if not env.verify():
            fail(f"{member} has a bad signature")
        return env

    def step_of(env) -> TradeStep:
        try:
            return TradeStep.decode(env.payload)  # invalid_trade_step propagates with its own code
        except DecodeError as e:
            raise ValidationError(e.code, str(e)) from None

    # 1. order
    env = open_("the order", order_raw)
    if env.kind != KIND_STEP:
        fail("the order is not a trade step")
    step = step_of(env)
    if step.type != ORDER:
        fail("the order is not an order")
    # §3.6 only, with the order's own network and created_at: no clock, no timestamp floor
    listing = validate_order(step, env.signer)
    order = Verified(order_raw, env, step)
    trade = Trade(order)
    tid = trade.id
    # 2. accept
    env = open_("the accept", accept_raw)
    if env.kind != KIND_STEP:
        fail("the accept is not a trade step")
    a = step_of(env)
    if (a.type != ACCEPT or env.signer != trade.seller or a.trade_id != tid or tid not in a.parents
            or a.network != trade.network or a.created_at < trade.created_at):
        fail("the accept is not the seller's accept of this order")
    # 3. fallback_ack
    fallback_active = False
    if fallback_raw is not None:
        env = open_("the fallback takeover", fallback_raw)
        if env.kind != KIND_STEP or trade.fallback is None or env.signer != trade.fallback:
            fail("the takeover is not signed by the order's fallback arbiter")
        f = step_of(env)
        earliest = sat_add(a.created_at, min(trade.deadlines.arbiter_ack, trade.deadlines.ruling))
        if f.type != ARBITER_ACK or f.trade_id != tid or f.network != trade.network or f.created_at < earliest:
            fail("the fallback arbiter's takeover is not an acknowledgement after the primary's deadline")
        fallback_active = True
    # 4. signatures, each in turn
    if len(sig_raws) < 2:
        fail("a settlement needs two signatures")
    res: Optional[Resolution] = None
    payload = None
    roles = []
    for i, raw in enumerate(sig_raws):
        env = open_(f"signature {i + 1}", raw)
        if env.kind != KIND_RESOLUTION:
            fail(f"signature {i + 1} is not a resolution")
        try:
            r = Resolution.decode(env.payload)
        except DecodeError as e:
            raise ValidationError(e.code, str(e)) from None
        r.validate_fields()
        if payload is not None and env.payload != payload:
            fail("the signatures are over different resolutions")
        res, payload = r, env.payload
        role = trade.role(env.signer)
        if role is None:
            fail(f"signature {i + 1} is not by a party of the trade")
        if role == FALLBACK and not fallback_active:
            fail("the fallback arbiter signed without a takeover in the proof")
        roles.append(Trade.counted_role(role))
    if res.trade_id != tid or res.network != trade.network:  # 5
        fail("the resolution names another trade or network")
    if not res.fits(trade.body):  # 6
        fail("the resolution's amounts do not fit the order")
    if len(set(roles)) < 2:  # 7
        fail("the two signatures are by the same party")
    return ProofResult(trade, res, blake2b(payload, 32), roles, listing)


def make_proof(state: TradeState) -> dict:
    """trade.proof for a settled state: the members of §11.1."""
    g = state.settlement
    if g is None or state.phase != "settled":
        raise ValueError("not settled")
    trade = state.trade
    accepts = sorted((state.steps[i] for i in state.counted if state.steps[i].body.type == ACCEPT),
                     key=lambda v: (v.body.created_at, v.id))
    if not accepts:
        raise ValueError("no counted accept: no proof")
    fb = None
    if state.fallback_active:
        acks = sorted((state.steps[i] for i in state.counted if state.steps[i].body.type == ARBITER_ACK
                       and state.steps[i].signer == trade.fallback), key=lambda v: (v.body.created_at, v.id))
        fb = acks[0].raw.hex()
    order_roles = [BUYER, SELLER, ARBITER]
    signers = [g.signatures[r] for r in order_roles if r in g.signatures][:2]
    res = g.resolution
    cur = trade.body.currency
    return {
        "format": PROOF_FORMAT,
        "network": trade.network,
        "trade_id": trade.id.hex(),
        "order": trade.order.raw.hex(),
        "accept": accepts[0].raw.hex(),
        "fallback_ack": fb,
        "resolution": {"hash": g.hash.hex(), "outcome": OUTCOMES[res.outcome],
                       "buyer_amount": decimal_string(res.buyer_amount, cur),
                       "seller_amount": decimal_string(res.seller_amount, cur),
                       "arbiter_fee": decimal_string(res.arbiter_fee, cur),
                       "signed_by": [r for r in order_roles if r in g.signatures][:2]},
        "signatures": [v.raw.hex() for v in signers],
    }
