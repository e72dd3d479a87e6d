"""Malformed and hostile traffic: each link is cut off, the node keeps serving RPC, and peers that
broke a rule after authenticating are banned."""

import os
import socket
import struct

import pytest

import soukpeer as sp
from conftest import Cluster, wait_until


@pytest.fixture(scope="module")
def node(souk_bin, tmp_path_factory):
    c = Cluster(souk_bin, tmp_path_factory.mktemp("malformed"))
    n = c.start("target")
    yield n
    c.stop_all()


def banned_targets(node) -> set:
    return {b["target"] for b in node.rpc("peer.bans")["bans"]}


def still_serving(node):
    info = node.info()
    assert info["node_id"] == node.node_id
    # A fresh, well-behaved peer can still connect.
    conn = sp.PeerConnection.connect("127.0.0.1", node.p2p_port)
    conn.ping(1)
    conn.close()


def raw(node) -> socket.socket:
    return sp.PeerConnection.dial("127.0.0.1", node.p2p_port)


def open_link(node) -> sp.PeerConnection:
    conn = sp.PeerConnection.connect("127.0.0.1", node.p2p_port)
    conn.ping(42)
    return conn


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",       # length prefix 0x47455420: far over any limit
    b"\x00\x00\x00\x20" + os.urandom(32),       # a small frame that is not a handshake
    b"\x00\x00\x00\x00",                        # a zero-length frame
    b"SOUK\x01\x07testnet" + os.urandom(32),    # a handshake message without its frame
], ids=["http", "random-frame", "zero-length", "unframed-hello"])
def test_raw_garbage_is_cut_off(node, garbage):
    s = raw(node)
    conn = sp.PeerConnection(s, sp.Identity(), "testnet")
    conn.send_raw(garbage)
    assert conn.wait_closed(5), "the node kept a link that sent garbage"
    conn.close()
    still_serving(node)


def test_huge_length_prefix_before_handshake(node):
    conn = sp.PeerConnection(raw(node), sp.Identity(), "testnet")
    conn.send_raw(b"\xff\xff\xff\xff" + b"\x00" * 64)
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_oversized_handshake_frame(node):
    """The first frames are held to the 256-byte handshake limit."""
    conn = sp.PeerConnection(raw(node), sp.Identity(), "testnet")
    conn.send_raw(struct.pack(">I", 257) + b"\x00" * 257)
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_huge_length_prefix_after_handshake(node):
    conn = open_link(node)
    conn.send_raw(b"\xff\xff\xff\xff")
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)
    wait_until(lambda: f"node:{conn.identity.hex}" in banned_targets(node), 5, what="the peer is banned")


def test_frame_just_over_the_maximum_after_handshake(node):
    conn = open_link(node)
    conn.send_raw(struct.pack(">I", sp.MAX_BODY + 1))
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_bad_tag_after_handshake(node):
    conn = open_link(node)
    frame = bytearray(conn.session.seal(sp.encode_ping(7)))
    frame[10] ^= 0x01  # a flipped ciphertext bit
    conn.send_raw(bytes(frame))
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)
    wait_until(lambda: f"node:{conn.identity.hex}" in banned_targets(node), 5, what="the peer is banned")


def test_replayed_frame(node):
    conn = open_link(node)
    frame = conn.send(sp.encode_ping(77))
    conn.wait_for(lambda m: m.type == sp.PONG and m.nonce == 77, 5)
    conn.send_raw(frame)  # the same bytes again: the receive counter has moved on
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_frame_before_handshake_finished_is_refused(node):
    """An encrypted-looking frame instead of handshake message 3."""
    conn = sp.PeerConnection(raw(node), sp.Identity(), "testnet")
    hs = sp.InitiatorHandshake(conn.identity, "testnet")
    conn.send_frame(hs.msg1())
    conn.recv_frame(5)
    conn.send_frame(os.urandom(112))
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_invalid_signature_gets_the_peer_banned(node):
    conn = open_link(node)
    me = conn.identity
    listing = sp.Listing(title="Forged", price_minor=100, currency="EUR", category="misc")
    env = bytearray(me.listing_envelope(listing))
    env[-1] ^= 0x80  # corrupt the signature
    lid = sp.listing_id(me.public, listing.salt).hex()
    conn.send(sp.encode_objects([bytes(env)]))
    assert conn.wait_closed(5), "a peer that sent a bad signature must be disconnected"
    conn.close()
    wait_until(lambda: f"node:{me.hex}" in banned_targets(node), 5, what="the peer appears in peer.bans")
    ban = next(b for b in node.rpc("peer.bans")["bans"] if b["target"] == f"node:{me.hex}")
    assert "signature" in ban["reason"]
    with pytest.raises(Exception, match="not found|-3"):
        node.rpc("listing.get", {"listing_id": lid})
    # The banned identity is refused when it comes back; another identity is welcome.
    with pytest.raises((sp.ConnectionClosed, sp.HandshakeRefused, TimeoutError)):
        again = sp.PeerConnection.connect("127.0.0.1", node.p2p_port, identity=me)
        again.ping(5, timeout=3)
    still_serving(node)


def test_unknown_mandatory_type_closes_the_link(node):
    conn = open_link(node)
    conn.send(bytes([0x7F, 1, 2, 3]))
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_unknown_optional_type_is_ignored(node):
    conn = open_link(node)
    conn.send(bytes([0x80]))
    conn.send(bytes([0xC3]) + os.urandom(100))
    conn.send(bytes([0xFF, 0x00]))
    conn.ping(31337)  # the link is still up and answering
    assert f"node:{conn.identity.hex}" not in banned_targets(node)
    conn.close()


def test_malformed_known_message_closes_the_link(node):
    conn = open_link(node)
    conn.send(bytes([sp.IHAVE]) + sp.varint(2) + os.urandom(32))  # promises 2 ids, carries 1
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_second_hello_closes_the_link(node):
    conn = open_link(node)
    conn.send(sp.encode_hello(0, "again"))
    assert conn.wait_closed(5)
    conn.close()
    still_serving(node)


def test_one_invalid_object_in_a_batch(node):
    """wire.md §10: the whole `objects` message is verified and stored in one transaction (valid
    objects before and after the invalid one are kept), then the link is closed and banned at the
    invalid one."""
    conn = open_link(node)
    me = conn.identity
    before = sp.Listing(title="Before the forgery", price_minor=100, currency="EUR", category="misc")
    forged = sp.Listing(title="Forged", price_minor=100, currency="EUR", category="misc")
    after = sp.Listing(title="After the forgery", price_minor=100, currency="EUR", category="misc")
    bad = bytearray(me.listing_envelope(forged))
    bad[-1] ^= 0x80
    conn.send(sp.encode_objects([me.listing_envelope(before), bytes(bad), me.listing_envelope(after)]))
    assert conn.wait_closed(5), "the invalid object closes the link"
    conn.close()
    wait_until(lambda: f"node:{me.hex}" in banned_targets(node), 5, what="the peer is banned")
    for listing in (before, after):
        got = node.rpc("listing.get", {"listing_id": sp.listing_id(me.public, listing.salt).hex()})
        assert got["title"] == listing.title
    with pytest.raises(Exception, match="not found|-3"):
        node.rpc("listing.get", {"listing_id": sp.listing_id(me.public, forged.salt).hex()})
    still_serving(node)
