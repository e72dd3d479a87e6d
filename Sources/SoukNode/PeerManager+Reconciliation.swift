import Logging
import SoukCore
import SoukStore
import SoukWire

extension PeerManager {
    /// Sends the first round of a reconciliation the scheduler started with `key`.
    func startReconciliation(with key: Int) {
        guard peers[key]?.ready == true else {
            if let next = scheduler.finished(key, now: now()) { startReconciliation(with: next) }
            return
        }
        sendMessage(.reconcile(reconciler(for: key).initialMessage()), to: key)
    }

    /// The reconciled set shared with this peer: the stored objects of the gossiped kinds both
    /// support, read from the store (whole-set fingerprints from running totals, ranges on demand).
    func reconciler(for key: Int) -> Reconciler {
        let kinds = ObjectRegistry.kinds.filter { peers[key]?.kinds.contains($0.rawValue) ?? false }
        return Reconciler(set: StoreReconSet(database: node.database, kinds: kinds))
    }

    /// One received `reconcile` round.
    func reconcile(_ message: ReconMessage, from key: Int, now: Double) async {
        switch scheduler.received(from: key, isDone: message.isDone, now: now) {
        case .ignore:
            // Only the end of a reconciliation we are in counts; a bare "done" proves nothing.
            return
        case .finished:
            finishedReconciliation(with: key, now: now)
            return
        case .answerDone:
            // One at a time in either role: a second peer starting one now would push us the same
            // missing objects again. Anti-entropy comes back later.
            sendMessage(.reconcile(.done), to: key)
            return
        case .process:
            break
        }
        let outcome = reconciler(for: key).process(message)
        // Never ask twice for what another peer is already sending.
        let outstanding = peers.values.reduce(into: Set<ShortID>()) { $0.formUnion($1.requestedShort) }
        let need = outcome.need.filter { !outstanding.contains($0) }
        if !need.isEmpty {
            peers[key]?.requestedShort.formUnion(need)
            for chunk in stride(from: 0, to: need.count, by: PeerMessage.Limits.maxIDs) {
                sendMessage(
                    .getObjects(Array(need[chunk..<min(chunk + PeerMessage.Limits.maxIDs, need.count)])), to: key)
            }
        }
        if !outcome.have.isEmpty { serve((try? node.database.envelopes(outcome.have)) ?? [], to: key) }
        if let reply = outcome.reply {
            sendMessage(.reconcile(reply), to: key)
        } else {
            sendMessage(.reconcile(.done), to: key)
            finishedReconciliation(with: key, now: now)
        }
    }

    func finishedReconciliation(with key: Int, now: Double) {
        reconciliationsFinished += 1
        if reconciliationsFinished == 1 { Task { await node.markLogSynced() } }
        if let id = peers[key]?.nodeID {
            reconciledPeers[id] = now
            logger.debug("reconciled with peer", metadata: ["peer.id": "\(id)"])
        }
        // Then reconcile with outbound peers that connected meanwhile; by now they should mostly match.
        if let next = scheduler.finished(key, now: now) { startReconciliation(with: next) }
    }
}

/// The node's reconciled set over its store (`SoukDatabase.reconTotals` / `reconItems`).
struct StoreReconSet: ReconSet {
    let database: SoukDatabase
    let kinds: [ObjectKind]

    func summary(from lower: ReconBound, to upper: ReconBound) -> (fingerprint: [UInt8], count: Int) {
        if lower == .zero && upper == .infinity {
            let totals = (try? database.reconTotals(kinds: kinds)) ?? ObjectTotals()
            return (Reconciler.fingerprint(sum: totals.sum, count: Int(totals.count)), Int(totals.count))
        }
        let items = self.items(from: lower, to: upper)
        return (Reconciler.fingerprint(items[...]), items.count)
    }

    func items(from lower: ReconBound, to upper: ReconBound) -> [ReconItem] {
        let rows = try? database.reconItems(
            kinds: kinds, from: (lower.timestamp, lower.prefix),
            to: upper == .infinity ? nil : (upper.timestamp, upper.prefix))
        return (rows ?? []).map { ReconItem(timestamp: $0.timestamp, id: $0.id) }
    }
}
