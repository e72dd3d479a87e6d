import SoukCrypto
import Testing

@testable import SoukCore

@Suite("Object model: kinds, node profile, shared values")
struct ObjectModelTests {
    static let now: UInt64 = 1_767_232_800

    static func profile(_ edit: (inout NodeProfile) -> Void = { _ in }) -> NodeProfile {
        var p = NodeProfile(
            version: 1, updatedAt: now, expiresAt: now + 86_400, displayName: "Zoë's stall",
            addresses: [HostPort("203.0.113.7:7421")!, HostPort("[2001:db8::1]:7421")!],
            mailboxes: [NodeID(publicKey: [UInt8](repeating: 2, count: 32))!],
            arbiters: [NodeID(publicKey: [UInt8](repeating: 3, count: 32))!], languages: ["en", "de-CH"])
        edit(&p)
        return p
    }

    static func code(_ p: NodeProfile, now: UInt64 = now) -> ValidationError.Code? {
        let envelope = Envelope(kind: .nodeProfile, payload: p.encoded(), signingKey: Fixture.keyA)
        do {
            _ = try VerifiedObject(envelope: envelope, now: now)
            return nil
        } catch {
            return error.code
        }
    }

    @Test("the registry knows every kind once, by byte, with its limits and propagation")
    func registry() {
        #expect(ObjectRegistry.kinds.map(\.rawValue) == [1, 2, 3, 4, 5, 6, 7, 8, 9])
        #expect(
            ObjectRegistry.kinds.map(\.name) == [
                "listing", "listing-retraction", "node-profile", "arbiter-profile", "trade-step", "trade-resolution",
                "chat-message", "log-entry", "fork-proof",
            ])
        #expect(ObjectKind(rawValue: 3) == .nodeProfile && ObjectKind(rawValue: 10) == nil)
        #expect(ObjectKind.nodeProfile.maxPayloadBytes == 4_096)
        // Listings, tombstones and profiles spread to everyone; trade objects and chat only to their parties.
        #expect(
            ObjectRegistry.kinds.filter { $0.propagation == .gossip }.map(\.rawValue) == [1, 2, 3, 4, 8, 9])
        #expect(ObjectKind.tradeStep.maxPayloadBytes == 24 * 1024)
        #expect(ObjectRegistry.kinds.allSatisfy { $0.maxPayloadBytes <= Envelope.maxPayloadBytes })
        #expect(String(decoding: ObjectKind.nodeProfile.domainTag, as: UTF8.self) == "souk/sig/v1/node-profile\0")
    }

    @Test("a node profile round-trips and verifies; its timestamp, retention and version come from its fields")
    func profileRoundTrip() throws {
        let p = Self.profile()
        #expect(try NodeProfile(decoding: p.encoded()) == p)
        #expect(Self.code(p) == nil)
        #expect(p.timestamp == Self.now && p.retainUntil == Self.now + 86_400 && p.replaceableVersion == 1)
        let envelope = Envelope(kind: .nodeProfile, payload: p.encoded(), signingKey: Fixture.keyA)
        let verified = try VerifiedObject(bytes: envelope.bytes, now: Self.now)
        #expect(verified.payload(as: NodeProfile.self) == p && verified.payload(as: Listing.self) == nil)
        #expect(verified.provides == [.object(verified.id)])
    }

    @Test("profile refusals, each with its code")
    func profileRefusals() {
        let cases: [(NodeProfile, ValidationError.Code)] = [
            (Self.profile { $0.displayName = "" }, .invalidProfile),
            (Self.profile { $0.displayName = " Zoë" }, .invalidProfile),
            (Self.profile { $0.displayName = "a\u{202E}b" }, .invalidProfile),
            (Self.profile { $0.displayName = String(repeating: "é", count: 65) }, .invalidProfile),
            (Self.profile { $0.avatarHash = [1, 2, 3] }, .invalidProfile),
            (Self.profile { $0.languages = ["english"] }, .invalidProfile),
            (Self.profile { $0.languages = ["en", "en"] }, .invalidProfile),
            (Self.profile { $0.arbiters += $0.arbiters }, .invalidProfile),
            (Self.profile { $0.version = 0 }, .invalidVersion),
            (Self.profile { $0.expiresAt = $0.updatedAt }, .invalidTimestamps),
            (Self.profile { $0.expiresAt = $0.updatedAt + NodeProfile.Limits.maxLifetime + 1 }, .invalidTimestamps),
            (
                Self.profile {
                    $0.updatedAt = 1_000
                    $0.expiresAt = 2_000
                }, .invalidTimestamps
            ),
        ]
        for (p, code) in cases { #expect(Self.code(p) == code, "\(p)") }
        #expect(Self.code(Self.profile(), now: Self.now - 601) == .fromTheFuture)
        #expect(Self.code(Self.profile(), now: Self.now + 86_400) == .expired)
        // Over-long lists are refused while decoding, before the items are read.
        var w = ByteWriter()
        w.writeByte(1)
        for v: UInt64 in [1, Self.now, Self.now + 10] { w.writeVarint(v) }
        w.writeString("x")
        w.writeLengthPrefixed([])
        w.writeVarint(9)  // 9 addresses, at most 8
        #expect(throws: ValidationError.self) { try NodeProfile(decoding: w.bytes) }
    }

    @Test("blame: only clock and unknown-kind refusals are not the sender's fault")
    func misbehaving() {
        for code in [ValidationError.Code.expired, .fromTheFuture, .unknownKind] {
            #expect(!ValidationError(code, "").misbehaving)
        }
        for code in [ValidationError.Code.malformed, .badSignature, .invalidProfile, .invalidTimestamps, .wrongKind] {
            #expect(ValidationError(code, "").misbehaving)
        }
    }

    @Test("host:port: one parser and formatter, IPv6 in brackets, ports 1-65535")
    func hostPort() {
        #expect(HostPort("127.0.0.1:7421")?.description == "127.0.0.1:7421")
        #expect(HostPort("[::1]:7421")?.host == "::1")
        #expect(HostPort(host: "2001:db8::1", port: 7).description == "[2001:db8::1]:7")
        for bad in [
            "", "host", "host:", ":80", "host:0", "host:65536", "host:99999", "a:b:c", "[::1]", "[::1]7", "h st:1",
            "host:+1",
        ] {
            #expect(HostPort(bad) == nil, "\(bad)")
        }
        #expect(
            HostPort.isLoopback("127.8.0.1") && HostPort.isLoopback("::1") && HostPort.isLoopback("::ffff:127.0.0.1"))
        #expect(!HostPort.isLoopback("10.0.0.1") && !HostPort.isLoopback("128.0.0.1"))
    }

    @Test("bounded FIFO: unique members, oldest dropped past capacity, removal, memory follows the count")
    func boundedFIFO() {
        var q = BoundedFIFO<Int>(capacity: 3)
        #expect(q.append(1) == nil && q.append(2) == nil && q.append(2) == nil && q.append(3) == nil)
        #expect(q.append(4) == 1)
        #expect(!q.contains(1) && q.count == 3)
        q.remove(2)
        #expect(q.popFirst() == 3 && q.popFirst() == 4 && q.popFirst() == nil)
        var big = BoundedFIFO<Int>()
        for i in 0..<10_000 { big.append(i) }
        for _ in 0..<9_999 { _ = big.popFirst() }
        #expect(big.count == 1 && big.contains(9_999))
    }

    @Test("SplitMix64 replays from its seed")
    func splitMix() {
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
    }
}

@Suite("Listing titles that show nothing")
struct InvisibleTitleTests {
    @Test("a zero-width-only or BOM-carrying title is refused; visible text with inner joiners is fine")
    func invisibleTitles() throws {
        func code(_ title: String) -> ValidationError.Code? {
            var l = try! Listing(decoding: Fixture.listing().encoded())
            l.title = title
            do {
                try l.validateFields()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code("\u{200B}") == .invalidTitle)
        #expect(code("\u{200B}\u{2060}\u{200D}") == .invalidTitle)
        #expect(code("\u{FEFF}Bicycle") == .invalidTitle)
        #expect(code("Bi\u{FEFF}cycle") == .invalidTitle)
        #expect(code("Bi\u{200D}cycle") == nil)
        #expect(code("👨‍👩‍👧") == nil)
    }
}
