import SoukCore
import Testing

@testable import SoukWire

@Suite("PeerLink randomness is injected")
struct InjectedRandomTests {
    /// The first keep-alive frame of an outbound link whose ping nonces come from `seed`.
    static func firstPing(seed: UInt64) -> [PeerLink.Action] {
        var settings = PeerLink.Settings()
        settings.pingInterval = 5
        var pair = LinkPair(settings: settings, random: SplitMix64(seed: seed))
        pair.connect()
        return pair.outbound.tick(now: pair.now + 5)
    }

    @Test("the ping nonce comes from the injected generator: same seed, same frame; other seed, other frame")
    func pingNonce() {
        let a = Self.firstPing(seed: 42)
        #expect(a.count == 1)
        #expect(a == Self.firstPing(seed: 42))
        #expect(a != Self.firstPing(seed: 43))
    }
}
