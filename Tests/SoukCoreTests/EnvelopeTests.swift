import SoukCore
import SoukCrypto
import Testing

@Suite("Envelope: layout, signature, refusal of bad bytes")
struct EnvelopeTests {
    let listing = Fixture.listing()
    var payload: [UInt8] { listing.encoded() }
    var envelope: Envelope { Envelope(kind: .listing, payload: payload, signingKey: Fixture.keyA) }

    @Test("sign, encode, decode, verify round trip")
    func roundTrip() throws {
        let env = envelope
        #expect(env.hasValidSignature)
        let decoded = try Envelope(decoding: env.bytes)
        #expect(decoded == env)
        #expect(decoded.kind == .listing)
        #expect(decoded.payload == payload)
        #expect(decoded.signer == Fixture.keyA.publicKey)
        #expect(decoded.hasValidSignature)
        let verified = try VerifiedObject(bytes: env.bytes, now: Fixture.now)
        #expect(verified.content == .listing(listing))
        #expect(verified.listingID == listing.id(seller: Fixture.keyA.publicKey))
        #expect(verified.id == env.id)
    }

    @Test("layout: 0x01 | kind | varint length | payload | signer 32 | signature 64")
    func layout() {
        let env = envelope
        let p = payload
        #expect(p.count < 128)
        #expect(env.bytes.count == 2 + 1 + p.count + 32 + 64)
        #expect(env.bytes[0] == 0x01)
        #expect(env.bytes[1] == ObjectKind.listing.rawValue)
        #expect(env.bytes[2] == UInt8(p.count))
        #expect(Array(env.bytes[3..<3 + p.count]) == p)
        #expect(Array(env.bytes[3 + p.count..<3 + p.count + 32]) == Fixture.keyA.publicKey)
        #expect(Array(env.bytes.suffix(64)) == env.signature)
        // The signature covers domain tag || payload, and the id is BLAKE2b-256 of the whole envelope.
        #expect(
            Ed25519.verify(
                signature: env.signature, message: Array("souk/sig/v1/listing".utf8) + [0] + p,
                publicKey: Fixture.keyA.publicKey))
        #expect(env.id.bytes == Blake2b.hash(env.bytes, outputLength: 32))
        #expect(ObjectID(hex: env.id.hex) == env.id)
    }

    @Test("a payload of 128 bytes or more takes a multi-byte length prefix")
    func longPayloadLengthPrefix() throws {
        var l = listing
        l.description = String(repeating: "x", count: 300)
        let p = l.encoded()
        #expect(p.count >= 128 && p.count < 16_384)
        let env = Envelope(kind: .listing, payload: p, signingKey: Fixture.keyA)
        var w = ByteWriter()
        w.writeVarint(UInt64(p.count))
        #expect(w.bytes.count == 2)
        #expect(Array(env.bytes[2..<4]) == w.bytes)
        #expect(try VerifiedObject(bytes: env.bytes, now: Fixture.now).content == .listing(l))
    }

    @Test("signing is deterministic; different payloads give different ids")
    func deterministic() {
        #expect(envelope.bytes == envelope.bytes)
        var other = listing
        other.title = "Road bike!"
        #expect(Envelope(kind: .listing, payload: other.encoded(), signingKey: Fixture.keyA).id != envelope.id)
    }

    @Test("every single-bit flip anywhere in the envelope is refused")
    func everyBitFlip() {
        let bytes = envelope.bytes
        let payloadRange = 3..<3 + payload.count
        for i in bytes.indices {
            for bit in 0..<8 {
                var b = bytes
                b[i] ^= UInt8(1) << UInt8(bit)
                let code = verifyCode(b)
                if payloadRange.contains(i) || i >= payloadRange.upperBound {
                    // Payload, signer or signature: the signature check fails first.
                    #expect(code == .badSignature, "byte \(i) bit \(bit)")
                } else if i == 1 {
                    // The kind byte: an unknown kind, or another known kind whose domain tag the
                    // signature does not cover.
                    #expect(code == .unknownKind || code == .badSignature, "byte \(i) bit \(bit)")
                } else {
                    // Version or length prefix: the envelope no longer decodes.
                    #expect(code == .malformed, "byte \(i) bit \(bit)")
                }
            }
        }
    }

    @Test("a flipped signature bit fails Ed25519 verification")
    func flippedSignature() {
        let env = envelope
        var sig = env.signature
        sig[0] ^= 0x01
        let bytes = rawEnvelope(kind: 1, payload: env.payload, signer: env.signer, signature: sig)
        #expect(verifyCode(bytes) == .badSignature)
        #expect(try! Envelope(decoding: bytes).hasValidSignature == false)
    }

    @Test("a signature by another key is refused")
    func wrongKey() {
        let env = envelope
        // Signer field swapped for another key.
        let swapped = rawEnvelope(
            kind: 1, payload: env.payload, signer: Fixture.keyB.publicKey, signature: env.signature)
        #expect(verifyCode(swapped) == .badSignature)
        // Signed by B, claiming to be A.
        let forged = rawEnvelope(
            kind: 1, payload: env.payload, signer: Fixture.keyA.publicKey,
            signature: Fixture.keyB.sign(ObjectKind.listing.domainTag + env.payload))
        #expect(verifyCode(forged) == .badSignature)
        // All-zero signer key.
        let zero = rawEnvelope(
            kind: 1, payload: env.payload, signer: [UInt8](repeating: 0, count: 32), signature: env.signature)
        #expect(verifyCode(zero) == .badSignature)
    }

    @Test("a signature under another kind's domain tag is refused")
    func wrongDomainTag() {
        let p = payload
        let underRetractionTag = rawEnvelope(
            kind: ObjectKind.listing.rawValue, payload: p, signer: Fixture.keyA.publicKey,
            signature: Fixture.keyA.sign(ObjectKind.listingRetraction.domainTag + p))
        #expect(verifyCode(underRetractionTag) == .badSignature)

        let retraction = ListingRetraction(salt: Fixture.salt, retractedAt: Fixture.now).encoded()
        let underListingTag = rawEnvelope(
            kind: ObjectKind.listingRetraction.rawValue, payload: retraction, signer: Fixture.keyA.publicKey,
            signature: Fixture.keyA.sign(ObjectKind.listing.domainTag + retraction))
        #expect(verifyCode(underListingTag) == .badSignature)

        let noTag = rawEnvelope(
            kind: 1, payload: p, signer: Fixture.keyA.publicKey, signature: Fixture.keyA.sign(p))
        #expect(verifyCode(noTag) == .badSignature)

        let noNul = rawEnvelope(
            kind: 1, payload: p, signer: Fixture.keyA.publicKey,
            signature: Fixture.keyA.sign(Array("souk/sig/v1/listing".utf8) + p))
        #expect(verifyCode(noNul) == .badSignature)
    }

    @Test("the same valid signature cannot be moved to another kind byte")
    func kindByteBoundToSignature() {
        let retraction = ListingRetraction(salt: Fixture.salt, retractedAt: Fixture.now).encoded()
        let env = Envelope(kind: .listingRetraction, payload: retraction, signingKey: Fixture.keyA)
        var bytes = env.bytes
        bytes[1] = ObjectKind.listing.rawValue
        #expect(verifyCode(bytes) == .badSignature)
    }

    @Test("every truncation is refused without a crash")
    func truncatedAtEveryLength() {
        let bytes = envelope.bytes
        for n in 0..<bytes.count {
            let prefix = Array(bytes.prefix(n))
            let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: prefix) }
            guard case .truncated = error else {
                Issue.record("prefix of \(n) bytes: expected truncated, got \(String(describing: error))")
                continue
            }
            #expect(verifyCode(prefix) == .malformed, "prefix of \(n) bytes")
        }
    }

    @Test("trailing bytes after the signature are refused", arguments: [1, 2, 64, 1000])
    func trailingBytes(count: Int) {
        let bytes = envelope.bytes + [UInt8](repeating: 0, count: count)
        let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: bytes) }
        #expect(error == .trailingBytes(what: "envelope", count: count))
        #expect(verifyCode(bytes) == .malformed)
    }

    @Test("a length prefix over the kind's limit is refused before reading the payload")
    func oversizedLengthPrefix() {
        let sig = [UInt8](repeating: 0, count: 64)
        let pk = Fixture.keyA.publicKey
        for (kind, length): (UInt8, UInt64) in [
            (1, 16_385), (1, 1 << 20), (1, UInt64(Int.max)), (1, UInt64(Int.max) + 1), (1, UInt64.max), (2, 65),
            (2, 1 << 40),
        ] {
            var w = ByteWriter()
            w.writeVarint(length)
            let bytes = rawEnvelope(kind: kind, lengthPrefix: w.bytes, payload: [], signer: pk, signature: sig)
            let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: bytes) }
            guard case .tooLong(field: "payload", let limit, _) = error else {
                Issue.record("kind \(kind) length \(length): got \(String(describing: error))")
                continue
            }
            #expect(limit == (kind == 1 ? 16_384 : 64))
            #expect(verifyCode(bytes) == .malformed)
        }
    }

    @Test("a length prefix under the limit but past the end is truncated")
    func lengthPastEnd() {
        let bytes = rawEnvelope(kind: 1, lengthPrefix: [0x80, 0x40], payload: [1, 2, 3], signer: [], signature: [])
        let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: bytes) }
        #expect(error == .truncated(field: "payload"))
    }

    @Test("payloads at the size limits decode at the envelope level")
    func maximumPayloads() throws {
        let big = [UInt8](repeating: 0x41, count: Listing.maxPayloadBytes)
        let env = Envelope(kind: .listing, payload: big, signingKey: Fixture.keyA)
        #expect(env.bytes.count == 2 + 3 + Listing.maxPayloadBytes + 96)
        let decoded = try Envelope(decoding: env.bytes)
        #expect(decoded.payload == big)
        #expect(decoded.hasValidSignature)
        // The signature is fine but the payload is not a listing.
        #expect(verifyCode(env.bytes) == .malformed)

        let small = [UInt8](repeating: 0, count: 64)
        let r = Envelope(kind: .listingRetraction, payload: small, signingKey: Fixture.keyA)
        #expect(try Envelope(decoding: r.bytes).payload == small)

        // One byte over the kind's cap is refused by the kind's limit; past the largest envelope of
        // any kind, before the kind is even looked at.
        let overKind = Envelope(kind: .listing, payload: big + [0], signingKey: Fixture.keyA)
        let kindError = decodingFailure { () throws(DecodingError) in try Envelope(decoding: overKind.bytes) }
        #expect(kindError == .tooLong(field: "payload", limit: Listing.maxPayloadBytes, actual: big.count + 1))
        let largest = Envelope(
            kind: .tradeStep, payload: [UInt8](repeating: 0x41, count: Envelope.maxPayloadBytes),
            signingKey: Fixture.keyA)
        #expect(largest.bytes.count == Envelope.maxEncodedBytes)
        let tooBig = Envelope(
            kind: .tradeStep, payload: [UInt8](repeating: 0x41, count: Envelope.maxPayloadBytes + 1),
            signingKey: Fixture.keyA)
        #expect(tooBig.bytes.count == Envelope.maxEncodedBytes + 1)
        let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: tooBig.bytes) }
        #expect(error == .tooLong(field: "envelope", limit: Envelope.maxEncodedBytes, actual: tooBig.bytes.count))
    }

    @Test(
        "unknown format versions and kinds are refused",
        arguments: [(UInt8(0x00), UInt8(1)), (0x02, 1), (0xff, 1), (0x01, 0), (0x01, 0x0a), (0x01, 0x7f), (0x01, 0xff)])
    func unknownVersionOrKind(version: UInt8, kind: UInt8) {
        let env = envelope
        let bytes = rawEnvelope(
            version: version, kind: kind, payload: env.payload, signer: env.signer, signature: env.signature)
        let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: bytes) }
        if version != 0x01 {
            #expect(error == .unsupportedVersion(what: "envelope", version: version))
        } else {
            #expect(error == .unknownKind(kind))
        }
        // An unknown kind may come from a newer release: refused, but not the sender's fault.
        let code = verifyCode(bytes)
        #expect(code == (version == 0x01 ? .unknownKind : .malformed))
        #expect(code.map { ValidationError($0, "").misbehaving } == (version != 0x01))
    }

    @Test("a non-minimal length prefix is refused")
    func nonMinimalLength() {
        let env = envelope
        let bytes = rawEnvelope(
            kind: 1, lengthPrefix: [UInt8(env.payload.count) | 0x80, 0x00], payload: env.payload, signer: env.signer,
            signature: env.signature)
        let error = decodingFailure { () throws(DecodingError) in try Envelope(decoding: bytes) }
        #expect(error == .nonMinimalVarint(field: "payload"))
        #expect(verifyCode(bytes) == .malformed)
    }

    @Test("a validly signed payload must still decode and pass its rules")
    func signedGarbage() {
        #expect(verifyCode(Fixture.envelope([])) == .malformed)
        #expect(verifyCode(Fixture.envelope([0x02] + payload.dropFirst())) == .malformed)  // listing format 2
        #expect(verifyCode(Fixture.envelope(payload + [0])) == .malformed)
        #expect(verifyCode(Fixture.envelope(Array(payload.dropLast()))) == .malformed)
    }

    @Test("domain tags are exact")
    func domainTagBytes() {
        #expect(Hex.encode(ObjectKind.listing.domainTag) == "736f756b2f7369672f76312f6c697374696e6700")
        #expect(ObjectKind.listingRetraction.domainTag == Array("souk/sig/v1/listing-retraction".utf8) + [0])
        #expect(ObjectKind.listing.maxPayloadBytes == 16 * 1024)
        #expect(ObjectKind.listingRetraction.maxPayloadBytes == 64)
    }
}
