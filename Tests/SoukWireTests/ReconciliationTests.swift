import SoukCore
import SoukCrypto
import Testing

@testable import SoukWire

/// Runs reconciliation between two sets the way two linked nodes would, counting bytes.
struct ReconciliationHarness {
    var a: Set<ReconItem>
    var b: Set<ReconItem>
    var bytes = 0
    var rounds = 0

    mutating func run() {
        var sender = Reconciler(items: Array(a))
        var receiver = Reconciler(items: Array(b))
        var message: ReconMessage? = sender.initialMessage()
        var senderIsA = true
        while let m = message, rounds < 64 {
            let wire = PeerMessage.reconcile(m).encoded()
            bytes += wire.count
            guard case .reconcile(let decoded) = try! PeerMessage(decoding: wire) else { fatalError() }
            let outcome = receiver.process(decoded)
            // Receiver fetches `need` from the sender and pushes `have` to it.
            let senderSet = senderIsA ? a : b
            let byShort = Dictionary(uniqueKeysWithValues: senderSet.map { (ShortID($0.id), $0) })
            let fetched = outcome.need.compactMap { byShort[$0] }
            let receiverSet = senderIsA ? b : a
            let pushed = receiverSet.filter { outcome.have.contains($0.id) }
            bytes += outcome.need.count * ShortID.byteCount
            if senderIsA {
                b.formUnion(fetched)
                a.formUnion(pushed)
            } else {
                a.formUnion(fetched)
                b.formUnion(pushed)
            }
            rounds += 1
            message = outcome.reply
            swap(&sender, &receiver)
            senderIsA.toggle()
        }
    }
}

func randomItems(_ n: Int, start: UInt64 = 1_767_225_600) -> [ReconItem] {
    (0..<n).map { i in
        ReconItem(timestamp: start + UInt64(i / 3), id: ObjectID(bytes: secureRandomBytes(32)))
    }
}

@Suite struct ReconciliationTests {
    @Test(arguments: [0, 1, 1000])
    func differencesOfSize(_ missing: Int) {
        let shared = randomItems(2000)
        let extra = randomItems(missing, start: 1_767_300_000)
        var h = ReconciliationHarness(a: Set(shared + extra), b: Set(shared))
        h.run()
        #expect(h.a == h.b)
        #expect(h.a.count == 2000 + missing)
    }

    @Test func allItemsDifferent() {
        var h = ReconciliationHarness(a: Set(randomItems(1000)), b: Set(randomItems(1000)))
        h.run()
        #expect(h.a == h.b)
        #expect(h.a.count == 2000)
    }

    @Test func emptySides() {
        var h = ReconciliationHarness(a: [], b: Set(randomItems(500)))
        h.run()
        #expect(h.a == h.b && h.a.count == 500)
        var e = ReconciliationHarness(a: [], b: [])
        e.run()
        #expect(e.a.isEmpty && e.rounds == 1)
    }

    @Test func equalSetsCostOneFingerprint() {
        let items = Set(randomItems(10_000))
        var h = ReconciliationHarness(a: items, b: items)
        h.run()
        #expect(h.rounds == 1)
        #expect(h.bytes < 64)
    }

    @Test func costScalesWithDifference() {
        let shared = randomItems(10_000)
        let extra = randomItems(100, start: 1_767_400_000)
        var h = ReconciliationHarness(a: Set(shared), b: Set(shared + extra))
        h.run()
        #expect(h.a == h.b)
        // 2 KB + 40 B per missing item is the catch-up budget.
        #expect(h.bytes <= 2048 + 40 * 100, "reconciliation used \(h.bytes) bytes")
    }
}
