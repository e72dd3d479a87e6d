#!/usr/bin/env python3
"""Computes the node-profile test vector of Specs/vectors/objects.json from objects.md alone
(PyNaCl for Ed25519 and BLAKE2b). Prints the vector as JSON; `--write` puts it into objects.json."""
import json
import sys
from pathlib import Path

import nacl.bindings
import nacl.hashlib


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: str) -> bytes:
    b = s.encode()
    return varint(len(b)) + b


SEED = bytes(range(1, 33))
pk, sk = nacl.bindings.crypto_sign_seed_keypair(SEED)
arbiter = bytes([0xA1] * 32)
mailbox = bytes([0xB2] * 32)
avatar = nacl.hashlib.blake2b(b"avatar.png bytes", digest_size=32).digest()
profile = {
    "format": 1, "version": 3, "updated_at": 1767225600, "expires_at": 1767225600 + 90 * 86400,
    "display_name": "Amélie's bikes", "avatar_hash": avatar.hex(),
    "addresses": ["203.0.113.7:7421", "[2001:db8::7]:7421", "souk.example.org:7421"],
    "mailboxes": [mailbox.hex()], "arbiters": [arbiter.hex()], "languages": ["fr", "de-CH"],
}
payload = (
    bytes([1]) + varint(profile["version"]) + varint(profile["updated_at"]) + varint(profile["expires_at"])
    + string(profile["display_name"]) + varint(32) + avatar
    + varint(len(profile["addresses"])) + b"".join(string(a) for a in profile["addresses"])
    + varint(1) + mailbox + varint(1) + arbiter
    + varint(len(profile["languages"])) + b"".join(string(l) for l in profile["languages"])
)
tag = b"souk/sig/v1/node-profile\x00"
signature = nacl.bindings.crypto_sign(tag + payload, sk)[:64]
envelope = bytes([1, 3]) + varint(len(payload)) + payload + pk + signature
vector = {
    "name": "node-profile", "kind": "node-profile",
    "comment": "A node profile, version 3, with every field set (objects.md §9a).",
    "seed": SEED.hex(), "public_key": pk.hex(), "profile": profile, "payload": payload.hex(),
    "signed_message": (tag + payload).hex(), "signature": signature.hex(), "envelope": envelope.hex(),
    "object_id": nacl.hashlib.blake2b(envelope, digest_size=32).hexdigest(), "now": 1767232800,
}
domain_tag = {"hex": tag.hex(), "kind": "node-profile", "kind_byte": 3}
if "--write" in sys.argv:
    path = Path(__file__).resolve().parent.parent / "vectors" / "objects.json"
    data = json.loads(path.read_text())
    data["valid"] = [v for v in data["valid"] if v["name"] != "node-profile"] + [vector]
    data["domain_tags"] = [t for t in data["domain_tags"] if t["kind_byte"] != 3] + [domain_tag]
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False).replace('": ', '" : ') + "\n")
else:
    print(json.dumps({"vector": vector, "domain_tag": domain_tag}, indent=2, ensure_ascii=False))
