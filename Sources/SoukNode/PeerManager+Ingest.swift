import Logging
import SoukCore
import SoukStore
import SoukWire

extension PeerManager {
    /// Verifies (on all cores) and stores a batch of envelopes from a peer in one transaction, then
    /// acts on each by `IngestPolicy`: relay what changed the store, drop what is merely refused,
    /// keep what arrived early in the deferred pool, ban the peer for an invalid object. Objects
    /// before an invalid one in the batch are stored and relayed; the link closes at the invalid one.
    func receiveObjects(_ envelopes: [[UInt8]], from key: Int, now: Double) async {
        guard peers[key] != nil else { return }
        var batch: [[UInt8]] = []
        var origins: [(id: ObjectID, origin: IngestOrigin)] = []
        for bytes in envelopes {
            let id = Envelope.id(of: bytes)
            if bytes.count > 1, let kind = ObjectKind(rawValue: bytes[1]), kind.propagation == .addressed {
                // Addressed kinds travel only in sealed deliveries, never in `objects`.
                logger.debug("object dropped", metadata: ["object.id": "\(id)", "reason": "addressed kind by gossip"])
                router.discard(id)
                continue
            }
            var origin = IngestOrigin(peerReconciling: scheduler.isReconciling(key))
            origin.grafted = peers[key]!.requested.remove(id) != nil
            origin.fetched = peers[key]!.requestedShort.remove(ShortID(id)) != nil
            if let refusal = rateRefusal(bytes, now: now) {
                logger.debug("object dropped", metadata: ["object.id": "\(id)", "reason": "\(refusal)"])
                router.discard(id)
                continue
            }
            batch.append(bytes)
            origins.append((id, origin))
        }
        await ingest(batch, origins: origins, from: key, now: now)
    }

    /// Stores and routes verified-or-refused objects from `key` (a live link, or a pool entry's origin).
    func ingest(_ batch: [[UInt8]], origins: [(id: ObjectID, origin: IngestOrigin)], from key: Int, now: Double) async {
        let results: [MarketNode.IngestResult]
        do {
            results = try await node.ingestBatch(batch)
        } catch {
            for o in origins { router.discard(o.id) }
            logger.error("storing a peer's objects failed", metadata: ["error": "\(error)"])
            return
        }
        var released: [ObjectDependency] = []
        for ((id, origin), (bytes, result)) in zip(origins, zip(batch, results)) {
            switch IngestPolicy.decide(result, origin: origin, now: UInt64(now)) {
            case .ban(let reason):
                stats.objectsInvalid += 1
                closePeer(key, reason: reason, misbehaving: true)
                return
            case .drop(let reason):
                logger.debug("object dropped", metadata: ["object.id": "\(id)", "reason": "\(reason)"])
                router.discard(id)
                if case .applied(.rejected(let e), _) = result, e.code == .forkedLog {
                    Task { await self.node.publishForkProofs() }
                }
            case .wait(let dependency):
                router.discard(id)
                let added = deferred.add(id: id, envelope: bytes, from: key, waitingFor: dependency, now: now)
                logger.debug(
                    "object waits for its dependency",
                    metadata: ["object.id": "\(id)", "dependency": "\(dependency)", "pool": "\(added)"])
            case .notNew(let via):
                stats.objectsReceived += 1
                stats.objectsDuplicate += 1
                guard case .applied(_, let object) = result, peers[key] != nil else { continue }
                performRouter(router.received(id, from: key, via: via, isNew: false, tree: object.signer, now: now))
            case .relay(let via):
                guard case .applied(let outcome, let object) = result else { continue }
                stats.objectsReceived += 1
                stats.objectsNew += 1
                recordArrival(id, at: now)
                recentEnvelopes.insert(id, bytes)
                if case .updated = outcome { authorRates.record(kind: object.kind, signer: object.signer, now: now) }
                released += object.provides
                guard peers[key] != nil else { continue }
                peers[key]!.lastUseful = now
                performRouter(router.received(id, from: key, via: via, isNew: true, tree: object.signer, now: now))
            }
        }
        await retryDeferred(released, now: now)
    }

    /// Checks again the objects that were waiting for what was just stored.
    func retryDeferred(_ satisfied: [ObjectDependency], now: Double) async {
        guard !satisfied.isEmpty, deferred.count > 0 else { return }
        let ready = deferred.release(satisfied)
        guard !ready.isEmpty else { return }
        // Each goes back through the rules as if its peer had just sent it (a peer that is gone is
        // not banned: its link key is no longer known, so `closePeer` does nothing).
        for entry in ready {
            await ingest([entry.envelope], origins: [(entry.id, IngestOrigin())], from: entry.peer, now: now)
        }
    }

    /// The author rate limit of `AuthorRateLimit` for one envelope, before it is stored.
    func rateRefusal(_ bytes: [UInt8], now: Double) -> String? {
        // Most authors are far from their limit: decode the payload only for one that is at it.
        guard let envelope = try? Envelope(decoding: bytes),
            authorRates.isAtLimit(kind: envelope.kind, signer: envelope.signer, now: now),
            let payload = try? envelope.kind.payloadType.init(decoding: envelope.payload)
        else { return nil }
        return authorRates.refusal(
            kind: envelope.kind, signer: envelope.signer, version: payload.replaceableVersion, now: now)
    }

    func recordArrival(_ id: ObjectID, at time: Double) {
        guard arrivals[id] == nil else { return }
        arrivals[id] = time
        if let dropped = arrivalOrder.append(id) { arrivals[dropped] = nil }
    }
}
