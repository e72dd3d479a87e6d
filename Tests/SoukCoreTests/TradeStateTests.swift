import SoukCore
import SoukCrypto
import Testing

/// The trade fold (`Specs/trade.md` §5–§8): every phase, the conflict rules, who may sign what,
/// and that the state is a pure function of the set of steps whatever their order.
@Suite("trades: the state fold")
struct TradeStateTests {
    typealias F = TradeFixture

    @Test func happyPathPhasesInOrder() {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        #expect(f.fold([]).phase == .ordered)
        let expected: [TradeState.Phase] = [
            .accepted, .arbiterAcknowledged, .paymentClaimed, .paymentConfirmed, .fulfilled,
        ]
        for (n, want) in expected.enumerated() {
            #expect(f.fold(Array(steps.prefix(n + 1))).phase == want, "after \(n + 1) steps")
        }
        let release = f.resolution(.release)
        let one = f.fold(steps, [f.sign(release, F.buyerKey)])
        #expect(one.phase == .fulfilled, "one signature never settles")
        #expect(one.proposals.count == 1 && one.proposals[0].roles == [.buyer])
        let two = f.fold(steps, [f.sign(release, F.buyerKey), f.sign(release, F.sellerKey)])
        #expect(two.phase == .settled)
        #expect(two.settlement?.resolution == release && two.settlement?.roles == [.buyer, .seller])
        #expect(release.sellerAmount == 12_000 - 240 && release.arbiterFee == 240 && release.buyerAmount == 0)
    }

    @Test func theSameSignerTwiceIsOneSignature() {
        let f = TradeFixture()
        let r = f.resolution(.refund)
        let s = f.fold(f.throughFulfilment(), [f.sign(r, F.buyerKey), f.sign(r, F.buyerKey)])
        #expect(s.phase == .fulfilled)
        // Primary and fallback arbiter are one role: never two signatures.
        let both = f.fold(f.throughFulfilment(), [f.sign(r, F.arbiterKey), f.sign(r, F.fallbackKey)])
        #expect(both.phase == .fulfilled)
    }

    @Test func cancelRacingAcceptCancelWinsUntilPaymentIsClaimed() {
        let f = TradeFixture()
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let cancel = f.step(.cancel, by: F.buyerKey, at: 210, text: "found another")
        #expect(f.fold([accept, cancel]).phase == .cancelled)
        #expect(f.fold([cancel, accept]).phase == .cancelled)
        // A cancel signed after the buyer's own payment claim does not count...
        var steps = f.throughFulfilment()
        let late = f.step(.cancel, by: F.buyerKey, at: 450, text: "changed my mind")
        steps.append(late)
        let s = f.fold(steps)
        #expect(s.phase == .fulfilled)
        #expect(s.timeline.first { $0.step.id == late.id }?.void != nil)
        // ...and a payment claim outweighs a cancel however the cancel is dated: a back-dated
        // cancel cannot undo a paid trade.
        #expect(f.fold(f.throughFulfilment() + [cancel]).phase == .fulfilled)
    }

    /// An expiry closes unpaid trades only, judged at its own time.
    @Test func anExpiryNeverClosesAPaidFulfilledOrDisputedTrade() {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        let expire = f.step(.expire, by: F.sellerKey, at: 300 + 10 * F.hour)
        #expect(f.fold(steps + [expire]).phase == .fulfilled, "payment was claimed before it")
        // Pay on delivery: fulfilled without a claim; an expiry afterwards does not close it.
        let noClaim = [steps[0], steps[1], f.step(.fulfil, by: F.sellerKey, at: 350, parents: [steps[1].id])]
        #expect(f.fold(noClaim + [expire]).phase == .fulfilled)
        // A claim dated after the expiry does not reopen the expired trade.
        let lateClaim = f.step(.paymentClaim, by: F.buyerKey, at: 300 + 11 * F.hour, parents: [steps[1].id])
        #expect(f.fold([steps[0], steps[1], expire, lateClaim]).phase == .expired)
        // A fallback arbiter that has not taken over cannot expire the trade.
        let fallbackExpire = f.step(.expire, by: F.fallbackKey, at: 100 + 10 * F.hour)
        let s = f.fold([fallbackExpire])
        #expect(s.phase == .ordered && s.timeline.last?.void == "the fallback arbiter had not taken over")
    }

    /// A decline counts only while the seller has not accepted: after an accept, payment may follow,
    /// and a decline signed next to it must not reopen or close the trade behind the buyer's back.
    @Test func aDeclineCountsOnlyBeforeAnAccept() {
        let f = TradeFixture()
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let decline = f.step(.decline, by: F.sellerKey, at: 250)
        #expect(f.fold([decline]).phase == .declined)
        let s = f.fold([accept, decline])
        #expect(s.phase == .accepted && s.timeline.first { $0.step.id == decline.id }?.void != nil)
    }

    /// A step dated before a step it follows does not count: a back-dated fulfilment cannot start
    /// the inspection window early.
    @Test func aStepDatedBeforeItsParentDoesNotCount() {
        let f = TradeFixture()
        var steps = Array(f.throughFulfilment().prefix(4))
        let backdated = f.step(.fulfil, by: F.sellerKey, at: 450, parents: [steps[1].id, steps[3].id])
        steps.append(backdated)
        #expect(f.fold(steps).phase == .paymentConfirmed)
    }

    /// An expiry that closed a trade stays closed when a step dated after it arrives later.
    @Test func aClosedExpiryIsNotReopenedByALaterAcknowledgement() {
        let f = TradeFixture()
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let expire = f.step(.expire, by: F.buyerKey, at: 200 + 10 * F.hour)
        let lateAck = f.step(.arbiterAck, by: F.arbiterKey, at: 200 + 11 * F.hour, parents: [accept.id])
        #expect(f.fold([accept, expire]).phase == .expired)
        #expect(f.fold([accept, expire, lateAck]).phase == .expired)
    }

    @Test func onlyTheEntitledRoleMaySignAStep() {
        let f = TradeFixture()
        // The buyer cannot accept, the seller cannot claim payment, a stranger cannot do anything.
        let fake = f.step(.accept, by: F.buyerKey, at: 200)
        #expect(f.fold([fake]).phase == .ordered)
        let stranger = f.step(.accept, by: F.strangerKey, at: 200)
        #expect(f.fold([stranger]).timeline.count == 1, "a non-party's step is not part of the trade")
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let earlyClaim = f.step(.paymentClaim, by: F.buyerKey, at: 210, parents: [accept.id])
        #expect(f.fold([accept, earlyClaim]).phase == .accepted, "no payment before the arbiter acknowledged")
    }

    @Test func aStepWaitsForItsParents() {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        // Without the acknowledgement, everything after it waits.
        let withoutAck = steps.filter { $0.step.type != .arbiterAck }
        let s = f.fold(withoutAck)
        #expect(s.phase == .accepted)
        #expect(s.timeline.filter { $0.void == "waits for a parent step" }.count == 3)
        #expect(f.fold(steps).phase == .fulfilled)
    }

    @Test func aStepOfAnotherTradeIsNotPartOfThisOne() {
        let f = TradeFixture()
        let g = TradeFixture(nonce: Array(repeating: 9, count: 16))
        let other = g.step(.accept, by: F.sellerKey, at: 200)
        #expect(f.fold([other]).phase == .ordered)
        // A step naming this trade but a parent from the other trade waits forever.
        let mixed = f.step(.arbiterAck, by: F.arbiterKey, at: 300, parents: [other.id])
        #expect(f.fold([other, mixed]).phase == .ordered)
    }

    @Test func expiryCountsOnlyAfterTheDeadlineItInvokes() {
        let f = TradeFixture()
        let early = f.step(.expire, by: F.buyerKey, at: 100 + 5 * F.hour)
        #expect(f.fold([early]).phase == .ordered)
        let due = f.step(.expire, by: F.arbiterKey, at: 100 + 10 * F.hour)
        #expect(f.fold([due]).phase == .expired)
        // Once accepted, the arbiter's deadline counts from the accept.
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        #expect(f.fold([accept, due]).phase == .accepted)
        let later = f.step(.expire, by: F.sellerKey, at: 200 + 10 * F.hour)
        #expect(f.fold([accept, later]).phase == .expired)
    }

    @Test func releaseRacingDisputeWhateverSettlesWins() {
        let f = TradeFixture()
        var steps = f.throughFulfilment()
        let ack = steps[1]
        steps.append(f.step(.dispute, by: F.buyerKey, at: 700, parents: [ack.id], text: "scratched"))
        let release = f.resolution(.release)
        let s = f.fold(steps, [f.sign(release, F.buyerKey), f.sign(release, F.sellerKey)])
        #expect(s.phase == .settled)
        #expect(s.timeline.first { $0.step.step.type == .dispute }?.void == "the trade is settled")
    }

    @Test func aLateRulingAfterBuyerAndSellerSettledIsIgnored() {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        let deal = f.resolution(.split, buyerShare: 5_000)
        let ruling = f.resolution(.refund)
        let s = f.fold(
            steps, [f.sign(deal, F.buyerKey), f.sign(deal, F.sellerKey), f.sign(ruling, F.arbiterKey)])
        #expect(s.phase == .settled && s.settlement?.resolution == deal)
        #expect(s.proposals.map(\.resolution) == [ruling], "the ruling stays a lone proposal")
    }

    @Test func twoSettledResolutionsAreAConflictNamingTheKeyThatSignedBoth() {
        let f = TradeFixture()
        let release = f.resolution(.release)
        let refund = f.resolution(.refund)
        let s = f.fold(
            f.throughFulfilment(),
            [
                f.sign(release, F.sellerKey), f.sign(release, F.arbiterKey), f.sign(refund, F.buyerKey),
                f.sign(refund, F.arbiterKey),
            ])
        #expect(s.phase == .conflict)
        #expect(s.settled.count == 2 && s.equivocators == [.arbiter])
    }

    /// With the fallback in, the primary's and the fallback's signatures both count for the
    /// arbiter role: two settlements can then arise without any key signing twice, and the state
    /// says so (no equivocator) instead of accusing the arbiter.
    @Test func aConflictAcrossPrimaryAndFallbackAccusesNobody() {
        let f = TradeFixture()
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let takeover = f.step(.arbiterAck, by: F.fallbackKey, at: 200 + 10 * F.hour, parents: [accept.id])
        let release = f.resolution(.release)
        let refund = f.resolution(.refund)
        let s = f.fold(
            [accept, takeover],
            [
                f.sign(release, F.buyerKey), f.sign(release, F.arbiterKey), f.sign(refund, F.sellerKey),
                f.sign(refund, F.fallbackKey),
            ])
        #expect(s.phase == .conflict && s.equivocators.isEmpty)
    }

    @Test func resolutionsThatDoNotFitTheOrderNeverCount() {
        let f = TradeFixture()
        var greedy = f.resolution(.release)
        greedy.sellerAmount += 1
        let s = f.fold(f.throughFulfilment(), [f.sign(greedy, F.sellerKey), f.sign(greedy, F.arbiterKey)])
        #expect(s.phase == .fulfilled && s.ignoredResolutions.count == 2)
        var other = f.resolution(.release)
        other.network = "main"
        let t = f.fold(f.throughFulfilment(), [f.sign(other, F.sellerKey), f.sign(other, F.arbiterKey)])
        #expect(t.phase == .fulfilled, "a resolution for another network is not this trade's")
    }

    @Test func theFallbackArbiterCountsOnlyAfterThePrimaryLapsed() {
        let f = TradeFixture()
        let accept = f.step(.accept, by: F.sellerKey, at: 200)
        let early = f.step(.arbiterAck, by: F.fallbackKey, at: 300, parents: [accept.id])
        let s = f.fold([accept, early])
        #expect(!s.fallbackActive && s.phase == .accepted)
        let late = f.step(.arbiterAck, by: F.fallbackKey, at: 200 + 10 * F.hour, parents: [accept.id])
        let t = f.fold([accept, late])
        #expect(t.fallbackActive && t.phase == .arbiterAcknowledged)
        // Its resolution signature counts as the arbiter's once it took over.
        let refund = f.resolution(.refund)
        #expect(f.fold([accept, late], [f.sign(refund, F.fallbackKey), f.sign(refund, F.buyerKey)]).phase == .settled)
        #expect(
            f.fold([accept, early], [f.sign(refund, F.fallbackKey), f.sign(refund, F.buyerKey)]).phase == .accepted)
        // After a timely primary acknowledgement, only an unruled dispute lets it take over.
        let ack = f.step(.arbiterAck, by: F.arbiterKey, at: 300, parents: [accept.id])
        let dispute = f.step(.dispute, by: F.buyerKey, at: 400, parents: [ack.id])
        let takeover = f.step(.arbiterAck, by: F.fallbackKey, at: 400 + 10 * F.hour, parents: [accept.id])
        #expect(!f.fold([accept, ack, late]).fallbackActive)
        #expect(f.fold([accept, ack, dispute, takeover]).fallbackActive)
    }

    @Test func deadlinesAndDefaultExits() {
        let f = TradeFixture()
        let steps = f.throughFulfilment()
        let s = f.fold(steps)
        let due = try! #require(s.deadline)
        #expect(due.by == [.buyer] && due.end == F.t0 + 600 + 10 * F.hour)
        #expect(s.dueDefault(now: due.end - 1) == nil)
        #expect(s.dueDefault(now: due.end) == .release)
        #expect(
            s.nextActions(for: .seller, now: due.end).contains { $0.name == "propose" && $0.note.contains("release") })
        #expect(s.nextActions(for: .buyer, now: due.start).map(\.name).contains("release"))
        let paid = f.fold(Array(steps.prefix(3)))
        #expect(paid.dueDefault(now: F.t0 + 400 + 10 * F.hour) == .refund)
        #expect(f.fold([]).dueDefault(now: F.t0 + 100 + 10 * F.hour) == .expire)
        #expect(!s.stalled(now: due.end) && s.stalled(now: due.end + 10 * F.hour))
        #expect(abs(s.deadline!.elapsed(due.start + 5 * F.hour) - 0.5) < 1e-9)
    }

    /// The same set in any order, with duplicates, gives one state (three replicas, 200 rounds).
    @Test func anyOrderAndDuplicatesGiveOneState() {
        let f = TradeFixture()
        var steps = f.throughFulfilment()
        steps.append(f.step(.dispute, by: F.sellerKey, at: 650, parents: [steps[1].id]))
        steps.append(f.step(.cancel, by: F.buyerKey, at: 660))
        steps.append(f.step(.accept, by: F.strangerKey, at: 670))
        let split = f.resolution(.split, buyerShare: 4_000)
        let resolutions = [
            f.sign(split, F.arbiterKey), f.sign(split, F.sellerKey), f.sign(f.resolution(.refund), F.buyerKey),
        ]
        let reference = f.fold(steps, resolutions)
        #expect(reference.phase == .settled)
        var random = SplitMix64(seed: 42)
        for _ in 0..<200 {
            for _ in 0..<3 {
                var s = steps + steps.filter { _ in random.next() % 3 == 0 }
                var r = resolutions + resolutions.filter { _ in random.next() % 2 == 0 }
                s.shuffle(using: &random)
                r.shuffle(using: &random)
                #expect(f.fold(s, r) == reference)
            }
        }
        // Every subset is a state too, equal whatever its order.
        for mask in 0..<(1 << steps.count) where mask % 7 == 0 {
            let subset = steps.indices.filter { mask & (1 << $0) != 0 }.map { steps[$0] }
            #expect(f.fold(subset) == f.fold(subset.reversed()))
        }
    }
}
