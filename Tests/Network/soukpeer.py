"""A minimal, independent Souk peer written from the wire and object specs (Specs/wire.md,
Specs/objects.md), using only PyNaCl (libsodium) and the standard library.

It can:
  * dial a node and run the handshake as initiator, or accept a node's dial as responder;
  * send and receive encrypted frames (u32 BE length | ChaCha20-Poly1305 IETF, nonce 0^4 || LE64
    counter, associated data = the four length bytes), one key and counter per direction;
  * encode and decode every message type (hello, ping/pong, objects, ihave, graft, prune,
    getobjects, getaddr/addr, reconcile, unknown optional types);
  * build and sign listing and listing-retraction envelopes (objects format 1);
  * run range-based set reconciliation (fingerprints and id lists) against a node.

Nothing here imports the Swift code; it is deliberately a second implementation.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional

import nacl.bindings as sodium
import nacl.signing
from nacl.exceptions import BadSignatureError, CryptoError

# --------------------------------------------------------------------------------------------
# Primitives (Specs/objects.md §2)
# --------------------------------------------------------------------------------------------


def blake2b(data: bytes, size: int = 32, key: bytes = b"") -> bytes:
    """BLAKE2b with the output length as a parameter (crypto_generichash), optionally keyed."""
    return sodium.crypto_generichash_blake2b_salt_personal(data, digest_size=size, key=key)


def varint(n: int) -> bytes:
    """Unsigned LEB128, minimal."""
    if n < 0 or n >= 1 << 64:
        raise ValueError("varint out of range")
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def lp(b: bytes) -> bytes:
    """varint length || bytes."""
    return varint(len(b)) + b


def string(s: str) -> bytes:
    return lp(s.encode("utf-8"))


class DecodeError(Exception):
    pass


class Reader:
    """Strict reader of the primitive encodings."""

    def __init__(self, data: bytes):
        self.data = bytes(data)
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.remaining < 1:
            raise DecodeError("truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if n < 0 or self.remaining < n:
            raise DecodeError("truncated")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def varint(self) -> int:
        result = 0
        for i in range(10):
            b = self.byte()
            if i == 9 and b > 1:
                raise DecodeError("varint overflow")
            result |= (b & 0x7F) << (7 * i)
            if b & 0x80 == 0:
                if i > 0 and b == 0:
                    raise DecodeError("non-minimal varint")
                return result
        raise DecodeError("varint overflow")

    def lp(self, cap: int) -> bytes:
        n = self.varint()
        if n > cap:
            raise DecodeError(f"length {n} over cap {cap}")
        return self.bytes(n)

    def string(self, cap: int) -> str:
        try:
            return self.lp(cap).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError("invalid UTF-8") from e

    def end(self) -> None:
        if self.remaining:
            raise DecodeError(f"{self.remaining} trailing bytes")


# --------------------------------------------------------------------------------------------
# Objects (Specs/objects.md)
# --------------------------------------------------------------------------------------------

KIND_LISTING = 1
KIND_RETRACTION = 2
KIND_NAMES = {KIND_LISTING: "listing", KIND_RETRACTION: "listing-retraction"}
CONDITIONS = ["new", "like-new", "good", "fair", "poor", "for-parts", "n/a"]
MAX_ENVELOPE = 16_485


def domain_tag(kind: int) -> bytes:
    return b"souk/sig/v1/" + KIND_NAMES[kind].encode() + b"\x00"


def listing_id(seller: bytes, salt: bytes) -> bytes:
    return blake2b(b"souk/listing-id/v1" + seller + salt, size=16)


def object_id(envelope: bytes) -> bytes:
    return blake2b(envelope, size=32)


@dataclass
class Listing:
    title: str
    price_minor: int
    currency: str
    category: str
    salt: bytes = field(default_factory=lambda: os.urandom(16))
    version: int = 1
    created_at: int = 0
    updated_at: int = 0
    expires_at: int = 0
    description: str = ""
    location: str = ""
    country: str = ""
    quantity: int = 1
    condition: int = 2
    tags: list = field(default_factory=list)

    def __post_init__(self) -> None:
        now = int(time.time())
        if not self.created_at:
            self.created_at = now
        if not self.updated_at:
            self.updated_at = self.created_at
        if not self.expires_at:
            self.expires_at = self.updated_at + 30 * 86400

    def payload(self) -> bytes:
        assert len(self.salt) == 16
        out = bytearray([1])
        out += self.salt
        out += varint(self.version) + varint(self.created_at) + varint(self.updated_at) + varint(self.expires_at)
        out += string(self.title) + string(self.description) + varint(self.price_minor)
        out += string(self.currency) + string(self.category) + string(self.location) + string(self.country)
        out += varint(self.quantity) + bytes([self.condition]) + varint(len(self.tags))
        for t in self.tags:
            out += string(t)
        return bytes(out)

    @staticmethod
    def decode(payload: bytes) -> "Listing":
        r = Reader(payload)
        if r.byte() != 1:
            raise DecodeError("listing format")
        salt = r.bytes(16)
        version, created, updated, expires = r.varint(), r.varint(), r.varint(), r.varint()
        title = r.string(560)
        desc = r.string(8192)
        price = r.varint()
        currency = r.string(8)
        category = r.string(48)
        location = r.string(256)
        country = r.string(2)
        quantity = r.varint()
        condition = r.byte()
        n = r.varint()
        if n > 10:
            raise DecodeError("too many tags")
        tags = [r.string(32) for _ in range(n)]
        r.end()
        return Listing(
            title=title, price_minor=price, currency=currency, category=category, salt=salt, version=version,
            created_at=created, updated_at=updated, expires_at=expires, description=desc, location=location,
            country=country, quantity=quantity, condition=condition, tags=tags)


def retraction_payload(salt: bytes, retracted_at: Optional[int] = None) -> bytes:
    return bytes([1]) + salt + varint(retracted_at if retracted_at is not None else int(time.time()))


@dataclass
class Envelope:
    kind: int
    payload: bytes
    signer: bytes
    signature: bytes

    def encode(self) -> bytes:
        return bytes([1, self.kind]) + lp(self.payload) + self.signer + self.signature

    @staticmethod
    def decode(data: bytes) -> "Envelope":
        if len(data) > MAX_ENVELOPE:
            raise DecodeError("envelope too long")
        r = Reader(data)
        if r.byte() != 1:
            raise DecodeError("envelope format")
        kind = r.byte()
        if kind not in KIND_NAMES:
            raise DecodeError(f"unknown kind {kind}")
        payload = r.lp(16384 if kind == KIND_LISTING else 64)
        signer = r.bytes(32)
        sig = r.bytes(64)
        r.end()
        return Envelope(kind, payload, signer, sig)

    def verify(self) -> bool:
        try:
            nacl.signing.VerifyKey(self.signer).verify(domain_tag(self.kind) + self.payload, self.signature)
            return True
        except (BadSignatureError, CryptoError, ValueError):
            return False


class Identity:
    """An Ed25519 identity (node id = public key)."""

    def __init__(self, seed: Optional[bytes] = None):
        self.seed = seed or os.urandom(32)
        self.key = nacl.signing.SigningKey(self.seed)
        self.public = bytes(self.key.verify_key)

    @property
    def hex(self) -> str:
        return self.public.hex()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message).signature

    def envelope(self, kind: int, payload: bytes) -> bytes:
        return Envelope(kind, payload, self.public, self.sign(domain_tag(kind) + payload)).encode()

    def listing_envelope(self, listing: Listing) -> bytes:
        return self.envelope(KIND_LISTING, listing.payload())

    def retraction_envelope(self, salt: bytes, retracted_at: Optional[int] = None) -> bytes:
        return self.envelope(KIND_RETRACTION, retraction_payload(salt, retracted_at))


# --------------------------------------------------------------------------------------------
# Frames and sessions (Specs/wire.md, "Frames")
# --------------------------------------------------------------------------------------------

TAG_BYTES = 16
MAX_PLAINTEXT = 512 * 1024
MAX_BODY = MAX_PLAINTEXT + TAG_BYTES
MAX_HANDSHAKE = 256


def nonce(counter: int) -> bytes:
    return b"\x00" * 4 + struct.pack("<Q", counter)


def seal(key: bytes, counter: int, ad: bytes, plaintext: bytes) -> bytes:
    return sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad, nonce(counter), key)


def open_(key: bytes, counter: int, ad: bytes, ciphertext: bytes) -> bytes:
    return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, ad, nonce(counter), key)


class Session:
    def __init__(self, peer: bytes, send_key: bytes, recv_key: bytes, transcript: bytes):
        self.peer = peer
        self.send_key = send_key
        self.recv_key = recv_key
        self.transcript = transcript
        self.send_counter = 0
        self.recv_counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        """A complete frame (length prefix included)."""
        if len(plaintext) > MAX_PLAINTEXT:
            raise ValueError("message too large")
        length = struct.pack(">I", len(plaintext) + TAG_BYTES)
        ct = seal(self.send_key, self.send_counter, length, plaintext)
        self.send_counter += 1
        return length + ct

    def open(self, body: bytes) -> bytes:
        length = struct.pack(">I", len(body))
        pt = open_(self.recv_key, self.recv_counter, length, body)
        self.recv_counter += 1
        return pt


# --------------------------------------------------------------------------------------------
# Handshake (Specs/wire.md, "Handshake")
# --------------------------------------------------------------------------------------------

MAGIC = b"SOUK"
VERSION = 1


class HandshakeRefused(Exception):
    """The node sent a refusal (0x00 | u8 len | reason)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class HandshakeFailed(Exception):
    pass


class ConnectionClosed(Exception):
    pass


def h0(network: str) -> bytes:
    return blake2b(b"souk/hs/v1" + network.encode())


def prf(dh: bytes, label: str, h: bytes) -> bytes:
    return blake2b(label.encode() + h, size=32, key=dh)


class Ephemeral:
    def __init__(self, secret: Optional[bytes] = None):
        self.secret = secret or os.urandom(32)
        self.public = sodium.crypto_scalarmult_base(self.secret)

    def dh(self, their_public: bytes) -> bytes:
        out = sodium.crypto_scalarmult(self.secret, their_public)
        if out == b"\x00" * 32:
            raise HandshakeFailed("low-order ephemeral key")
        return out


class InitiatorHandshake:
    def __init__(self, identity: Identity, network: str, ephemeral: Optional[Ephemeral] = None):
        self.identity = identity
        self.network = network
        self.e = ephemeral or Ephemeral()

    def msg1(self) -> bytes:
        net = self.network.encode()
        return MAGIC + bytes([VERSION, len(net)]) + net + self.e.public

    def on_msg2(self, m: bytes) -> tuple[bytes, Session]:
        if not m:
            raise HandshakeFailed("empty reply")
        if m[0] == 0x00:
            n = m[1] if len(m) > 1 else 0
            raise HandshakeRefused(m[2 : 2 + n].decode("utf-8", "replace"))
        if m[0] != 0x01 or len(m) != 1 + 32 + 96 + TAG_BYTES:
            raise HandshakeFailed("bad reply")
        er = m[1:33]
        dh = self.e.dh(er)
        h1 = blake2b(h0(self.network) + self.e.public + er)
        key = prf(dh, "souk/hs/v1/key", h1)
        try:
            opened = open_(key, 0, h1, m[33:])
        except CryptoError as e:
            raise HandshakeFailed("reply does not authenticate") from e
        sr, sig_r = opened[:32], opened[32:96]
        try:
            nacl.signing.VerifyKey(sr).verify(b"souk/hs/v1/responder" + h1 + sr, sig_r)
        except (BadSignatureError, CryptoError) as e:
            raise HandshakeFailed("responder signature invalid") from e
        h2 = blake2b(h1 + sr)
        sig_i = self.identity.sign(b"souk/hs/v1/initiator" + h2 + self.identity.public)
        msg3 = seal(key, 1, h2, self.identity.public + sig_i)
        h3 = blake2b(h2 + self.identity.public)
        session = Session(sr, prf(dh, "souk/hs/v1/i2r", h3), prf(dh, "souk/hs/v1/r2i", h3), h3)
        return msg3, session


class ResponderHandshake:
    def __init__(self, identity: Identity, network: str, ephemeral: Optional[Ephemeral] = None):
        self.identity = identity
        self.network = network
        self.e = ephemeral or Ephemeral()

    def on_msg1(self, m: bytes) -> bytes:
        if len(m) < 6 or m[:4] != MAGIC:
            raise HandshakeFailed("not a Souk handshake")
        if m[4] != VERSION:
            raise HandshakeFailed(f"version {m[4]}")
        n = m[5]
        if len(m) != 6 + n + 32:
            raise HandshakeFailed("bad hello length")
        theirs = m[6 : 6 + n].decode("utf-8", "replace")
        if theirs != self.network:
            raise HandshakeRefused(f"peer is on network {theirs!r}, we are on {self.network!r}")
        self.ei = m[6 + n :]
        self.dh = self.e.dh(self.ei)
        self.h1 = blake2b(h0(self.network) + self.ei + self.e.public)
        self.key = prf(self.dh, "souk/hs/v1/key", self.h1)
        sig = self.identity.sign(b"souk/hs/v1/responder" + self.h1 + self.identity.public)
        sealed = seal(self.key, 0, self.h1, self.identity.public + sig)
        self.h2 = blake2b(self.h1 + self.identity.public)
        return bytes([1]) + self.e.public + sealed

    def on_msg3(self, m: bytes) -> Session:
        if len(m) != 96 + TAG_BYTES:
            raise HandshakeFailed("bad final message length")
        try:
            opened = open_(self.key, 1, self.h2, m)
        except CryptoError as e:
            raise HandshakeFailed("final message does not authenticate") from e
        si, sig_i = opened[:32], opened[32:96]
        try:
            nacl.signing.VerifyKey(si).verify(b"souk/hs/v1/initiator" + self.h2 + si, sig_i)
        except (BadSignatureError, CryptoError) as e:
            raise HandshakeFailed("initiator signature invalid") from e
        h3 = blake2b(self.h2 + si)
        return Session(si, prf(self.dh, "souk/hs/v1/r2i", h3), prf(self.dh, "souk/hs/v1/i2r", h3), h3)


def refusal_message(reason: str) -> bytes:
    r = reason.encode()[:200]
    return bytes([0, len(r)]) + r


# --------------------------------------------------------------------------------------------
# Messages (Specs/wire.md, "Messages")
# --------------------------------------------------------------------------------------------

HELLO, PING, PONG = 0x01, 0x02, 0x03
OBJECTS, IHAVE, GRAFT, PRUNE, GETOBJECTS = 0x10, 0x11, 0x12, 0x13, 0x14
GETADDR, ADDR = 0x20, 0x21
RECONCILE = 0x30
PRUNE_TREES = 0x81  # optional: "stop pushing these authors' bodies to me"
NAMES = {
    HELLO: "hello", PING: "ping", PONG: "pong", OBJECTS: "objects", IHAVE: "ihave", GRAFT: "graft",
    PRUNE: "prune", GETOBJECTS: "getobjects", GETADDR: "getaddr", ADDR: "addr", RECONCILE: "reconcile",
    PRUNE_TREES: "prune-trees",
}
MAX_IDS, MAX_OBJECTS, MAX_ADDRS = 1000, 256, 100
INFINITY_TS = (1 << 64) - 1


@dataclass
class Msg:
    type: int
    hello: Optional[tuple] = None  # (listen_port, user_agent, time)
    nonce: Optional[int] = None
    envelopes: list = field(default_factory=list)
    ids: list = field(default_factory=list)  # object ids (32) or short ids (16)
    addrs: list = field(default_factory=list)  # (host, port, last_seen)
    ranges: list = field(default_factory=list)  # reconcile: [Range]

    @property
    def name(self) -> str:
        return NAMES.get(self.type, f"0x{self.type:02x}")


@dataclass
class Bound:
    timestamp: int
    prefix: bytes = b""

    def key(self) -> tuple:
        return (self.timestamp, self.prefix.ljust(32, b"\x00"))


ZERO = Bound(0, b"")
INFINITY = Bound(INFINITY_TS, b"")


@dataclass
class Range:
    upper: Bound
    mode: str  # "skip" | "fp" | "ids"
    fingerprint: bytes = b""
    ids: list = field(default_factory=list)


def encode_hello(listen_port: int, user_agent: str, t: Optional[int] = None) -> bytes:
    return bytes([HELLO]) + struct.pack(">H", listen_port) + string(user_agent) + varint(int(time.time()) if t is None else t)


def encode_ping(n: int) -> bytes:
    return bytes([PING]) + varint(n)


def encode_pong(n: int) -> bytes:
    return bytes([PONG]) + varint(n)


def encode_objects(envelopes: Iterable[bytes]) -> bytes:
    envelopes = list(envelopes)
    return bytes([OBJECTS]) + varint(len(envelopes)) + b"".join(lp(e) for e in envelopes)


def encode_ids(t: int, ids: Iterable[bytes]) -> bytes:
    ids = list(ids)
    return bytes([t]) + varint(len(ids)) + b"".join(ids)


def encode_ihave(ids):
    return encode_ids(IHAVE, ids)


def encode_graft(ids):
    return encode_ids(GRAFT, ids)


def encode_getobjects(short_ids):
    return encode_ids(GETOBJECTS, short_ids)


def encode_prune() -> bytes:
    return bytes([PRUNE])


def encode_prune_trees(authors) -> bytes:
    return bytes([PRUNE_TREES]) + varint(len(authors)) + b"".join(authors)


def encode_getaddr() -> bytes:
    return bytes([GETADDR])


def encode_addr(addrs) -> bytes:
    out = bytearray([ADDR]) + varint(len(addrs))
    for host, port, seen in addrs:
        out += string(host) + struct.pack(">H", port) + varint(seen)
    return bytes(out)


def encode_reconcile(ranges: list) -> bytes:
    out = bytearray([RECONCILE]) + varint(len(ranges))
    for r in ranges:
        out += varint(r.upper.timestamp) + lp(r.upper.prefix)
        if r.mode == "skip":
            out.append(0)
        elif r.mode == "fp":
            out.append(1)
            out += r.fingerprint
        else:
            out.append(2)
            out += varint(len(r.ids)) + b"".join(r.ids)
    return bytes(out)


def decode_message(pt: bytes) -> Msg:
    if not pt:
        raise DecodeError("empty message")
    r = Reader(pt)
    t = r.byte()
    m = Msg(t)
    if t == HELLO:
        port = struct.unpack(">H", r.bytes(2))[0]
        m.hello = (port, r.string(64), r.varint())
    elif t in (PING, PONG):
        m.nonce = r.varint()
    elif t == OBJECTS:
        n = r.varint()
        if n > MAX_OBJECTS:
            raise DecodeError("too many objects")
        m.envelopes = [r.lp(MAX_ENVELOPE) for _ in range(n)]
    elif t in (IHAVE, GRAFT, GETOBJECTS):
        n = r.varint()
        if n > MAX_IDS:
            raise DecodeError("too many ids")
        size = 16 if t == GETOBJECTS else 32
        m.ids = [r.bytes(size) for _ in range(n)]
    elif t in (PRUNE, GETADDR):
        pass
    elif t == ADDR:
        n = r.varint()
        if n > MAX_ADDRS:
            raise DecodeError("too many addresses")
        for _ in range(n):
            host = r.string(255)
            port = struct.unpack(">H", r.bytes(2))[0]
            m.addrs.append((host, port, r.varint()))
    elif t == RECONCILE:
        n = r.varint()
        if not 1 <= n <= 256:
            raise DecodeError("range count")
        prev = ZERO
        for _ in range(n):
            b = Bound(r.varint(), r.lp(32))
            mode = r.byte()
            if mode == 0:
                rg = Range(b, "skip")
            elif mode == 1:
                rg = Range(b, "fp", fingerprint=r.bytes(16))
            elif mode == 2:
                c = r.varint()
                if c > MAX_IDS:
                    raise DecodeError("too many ids")
                rg = Range(b, "ids", ids=[r.bytes(16) for _ in range(c)])
            else:
                raise DecodeError(f"range mode {mode}")
            if not prev.key() < b.key():
                raise DecodeError("bounds not increasing")
            prev = b
            m.ranges.append(rg)
        if prev.key() != INFINITY.key():
            raise DecodeError("last range must end at infinity")
    elif t == PRUNE_TREES:
        # Optional: an unreadable body is ignored like an unknown optional type.
        try:
            n = r.varint()
            if n > 1000:
                raise DecodeError("too many authors")
            m.ids = [r.bytes(32) for _ in range(n)]
            r.end()
        except DecodeError:
            m.ids = []
        return m
    elif t >= 0x80:
        return m  # optional, body ignored
    else:
        raise DecodeError(f"unknown mandatory type 0x{t:02x}")
    r.end()
    return m


# --------------------------------------------------------------------------------------------
# Reconciliation (Specs/wire.md, "Reconciliation")
# --------------------------------------------------------------------------------------------

ID_LIST_THRESHOLD = 32
BRANCHING = 16


def fingerprint(ids: Iterable[bytes]) -> bytes:
    total, count = 0, 0
    for i in ids:
        total = (total + int.from_bytes(i, "little")) % (1 << 256)
        count += 1
    return blake2b(total.to_bytes(32, "little") + varint(count), size=16)


def _below(item: tuple, bound: Bound) -> bool:
    """item (timestamp, id) sorts before bound."""
    return (item[0], item[1]) < bound.key()


def _between(prev: tuple, nxt: tuple) -> Bound:
    if prev[0] != nxt[0]:
        return Bound(nxt[0], b"")
    k = 0
    while k < 32 and prev[1][k] == nxt[1][k]:
        k += 1
    return Bound(nxt[0], nxt[1][: k + 1])


class Reconciler:
    """A port of the range-based reconciliation over (timestamp, object id) items."""

    def __init__(self, items: Iterable[tuple]):
        self.items = sorted(items)

    def initial(self) -> list:
        return self._summarise(0, len(self.items), INFINITY, split=False)

    def _summarise(self, lo: int, hi: int, upper: Bound, split: bool) -> list:
        sl = self.items[lo:hi]
        if len(sl) <= ID_LIST_THRESHOLD:
            return [Range(upper, "ids", ids=[i[1][:16] for i in sl])]
        if not split:
            return [Range(upper, "fp", fingerprint=fingerprint(i[1] for i in sl))]
        out = []
        per = (len(sl) + BRANCHING - 1) // BRANCHING
        start = lo
        while start < hi:
            end = min(start + per, hi)
            b = upper if end == hi else _between(self.items[end - 1], self.items[end])
            out.append(Range(b, "fp", fingerprint=fingerprint(i[1] for i in self.items[start:end])))
            start = end
        return out

    def process(self, ranges: list) -> tuple[Optional[list], list, list]:
        """Returns (reply ranges or None when done, short ids we need, object ids they need)."""
        out, need, have = [], [], []
        lo = 0
        for rg in ranges:
            hi = lo
            while hi < len(self.items) and _below(self.items[hi], rg.upper):
                hi += 1
            if rg.upper.key() == INFINITY.key():
                hi = len(self.items)
            mine = self.items[lo:hi]
            if rg.mode == "skip":
                out.append(Range(rg.upper, "skip"))
            elif rg.mode == "fp":
                if fingerprint(i[1] for i in mine) == rg.fingerprint:
                    out.append(Range(rg.upper, "skip"))
                else:
                    out += self._summarise(lo, hi, rg.upper, split=True)
            else:
                theirs = set(rg.ids)
                mine_short = {i[1][:16] for i in mine}
                need += [i for i in rg.ids if i not in mine_short]
                have += [i[1] for i in mine if i[1][:16] not in theirs]
                out.append(Range(rg.upper, "skip"))
            lo = hi
        merged = []
        for r in out:
            if r.mode == "skip" and merged and merged[-1].mode == "skip":
                merged[-1].upper = r.upper
            else:
                merged.append(r)
        if all(r.mode == "skip" for r in merged):
            return None, need, have
        return merged, need, have


# --------------------------------------------------------------------------------------------
# A peer connection
# --------------------------------------------------------------------------------------------


class PeerConnection:
    """One link to a node: a socket, a session and convenience methods. Every wait has a timeout."""

    def __init__(self, sock: socket.socket, identity: Identity, network: str):
        self.sock = sock
        self.identity = identity
        self.network = network
        self.session: Optional[Session] = None
        self.peer_hello: Optional[tuple] = None
        self.buffer = b""
        self.received: list[Msg] = []  # every decoded message, in order
        self.last_frame: Optional[bytes] = None  # the last frame we sent, for replay tests

    # ---- raw I/O ----

    @staticmethod
    def dial(host: str, port: int, timeout: float = 5.0) -> socket.socket:
        s = socket.create_connection((host, port), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out waiting for bytes")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError("timed out waiting for bytes") from e
            except (ConnectionResetError, BrokenPipeError) as e:
                raise ConnectionClosed(str(e)) from e
            if not chunk:
                raise ConnectionClosed("peer closed the connection")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def recv_frame(self, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        length = struct.unpack(">I", self._recv_exact(4, deadline))[0]
        if length == 0 or length > MAX_BODY:
            raise ConnectionClosed(f"peer sent a bad frame length {length}")
        return self._recv_exact(length, deadline)

    def send_frame(self, body: bytes) -> None:
        self.send_raw(struct.pack(">I", len(body)) + body)

    def wait_closed(self, timeout: float = 5.0) -> bool:
        """True when the peer closes the connection before the deadline (data received meanwhile is
        discarded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- handshake ----

    @classmethod
    def connect(cls, host: str, port: int, identity: Optional[Identity] = None, network: str = "testnet",
                listen_port: int = 0, user_agent: str = "soukpeer.py/0.1", timeout: float = 5.0,
                send_hello: bool = True) -> "PeerConnection":
        """Dials, completes the handshake as initiator and (by default) exchanges hello."""
        conn = cls(cls.dial(host, port, timeout), identity or Identity(), network)
        try:
            conn.handshake_initiator(timeout)
            if send_hello:
                conn.send(encode_hello(listen_port, user_agent))
                conn.expect_hello(timeout)
        except BaseException:
            conn.close()
            raise
        return conn

    def handshake_initiator(self, timeout: float = 5.0) -> Session:
        hs = InitiatorHandshake(self.identity, self.network)
        self.send_frame(hs.msg1())
        msg2 = self.recv_frame(timeout)
        msg3, session = hs.on_msg2(msg2)
        self.send_frame(msg3)
        self.session = session
        return session

    def handshake_responder(self, timeout: float = 5.0) -> Session:
        hs = ResponderHandshake(self.identity, self.network)
        msg1 = self.recv_frame(timeout)
        try:
            self.send_frame(hs.on_msg1(msg1))
        except HandshakeRefused:
            self.send_frame(refusal_message(f"network mismatch: this node is on {self.network}"))
            raise
        self.session = hs.on_msg3(self.recv_frame(timeout))
        return self.session

    def expect_hello(self, timeout: float = 5.0) -> tuple:
        m = self.recv(timeout)
        if m.type != HELLO:
            raise HandshakeFailed(f"first message was {m.name}, expected hello")
        self.peer_hello = m.hello
        return m.hello

    @property
    def peer_id(self) -> str:
        assert self.session
        return self.session.peer.hex()

    # ---- messages ----

    def send(self, plaintext: bytes) -> bytes:
        assert self.session, "handshake first"
        frame = self.session.seal(plaintext)
        self.last_frame = frame
        self.send_raw(frame)
        return frame

    def recv(self, timeout: float = 5.0, answer_pings: bool = True) -> Msg:
        """The next message; keep-alive pings are answered (and still returned)."""
        assert self.session, "handshake first"
        body = self.recv_frame(timeout)
        m = decode_message(self.session.open(body))
        self.received.append(m)
        if answer_pings and m.type == PING:
            self.send(encode_pong(m.nonce))
        return m

    def wait_for(self, predicate, timeout: float = 5.0) -> Msg:
        """Reads messages until one satisfies `predicate`; answers getaddr with an empty addr."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no matching message before the deadline")
            m = self.recv(left)
            if m.type == GETADDR:
                self.send(encode_addr([]))
            if predicate(m):
                return m

    def ping(self, n: int = 7, timeout: float = 5.0) -> None:
        self.send(encode_ping(n))
        self.wait_for(lambda m: m.type == PONG and m.nonce == n, timeout)

    def fetch(self, ids: list, timeout: float = 5.0) -> list:
        """Grafts ids and returns the envelopes that arrive for them."""
        self.send(encode_graft(ids))
        want = set(ids)
        got = []
        deadline = time.monotonic() + timeout
        while want:
            m = self.wait_for(lambda m: m.type == OBJECTS, max(0.01, deadline - time.monotonic()))
            for e in m.envelopes:
                oid = object_id(e)
                if oid in want:
                    want.discard(oid)
                    got.append(e)
        return got

    def reconcile_all(self, items: list, timeout: float = 10.0) -> list:
        """Runs reconciliation as initiator with our `items` [(timestamp, object id)]; returns the
        envelopes the node sent us (what it had and we lacked, in full or by getobjects)."""
        rec = Reconciler(items)
        self.send(encode_reconcile(rec.initial()))
        got = []
        deadline = time.monotonic() + timeout
        pending_short = set()
        done = False
        while not done or pending_short:
            m = self.recv(max(0.01, deadline - time.monotonic()))
            if m.type == GETADDR:
                self.send(encode_addr([]))
            elif m.type == OBJECTS:
                for e in m.envelopes:
                    got.append(e)
                    pending_short.discard(object_id(e)[:16])
            elif m.type == RECONCILE:
                if all(r.mode == "skip" for r in m.ranges):
                    done = True
                    continue
                reply, need, have = rec.process(m.ranges)
                if need:
                    pending_short.update(need)
                    self.send(encode_getobjects(need))
                assert not have, "this helper only reconciles from a node into an empty or subset store"
                if reply is None:
                    self.send(encode_reconcile([Range(INFINITY, "skip")]))
                    done = True
                else:
                    self.send(encode_reconcile(reply))
        return got
