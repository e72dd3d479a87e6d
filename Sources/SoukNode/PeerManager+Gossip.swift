import Logging
public import SoukCore
import SoukCrypto
import SoukStore
import SoukWire

extension PeerManager {
    /// A locally published object: gossip it.
    public func published(_ object: VerifiedObject) {
        guard object.kind.propagation == .gossip else {
            // Addressed objects (trades, chat) were queued for their recipients: send them now.
            Task { await self.flushOutbox() }
            return
        }
        let id = object.id
        recentEnvelopes.insert(id, object.envelope.bytes)
        recordArrival(id, at: now())
        performRouter(router.published(id, tree: node.identity.publicKey))
        scheduleFlush()
    }

    func performRouter(_ actions: [GossipRouter.Action]) {
        for action in actions {
            switch action {
            case .push(let k, let ids):
                // Bodies just received or published are pushed from memory, not read back.
                let cached = ids.compactMap { recentEnvelopes[$0] }
                if cached.count == ids.count {
                    sendObjects(cached, to: k)
                } else {
                    let found = (try? node.database.envelopes(ids)) ?? []
                    sendObjects(found.map(\.envelope), to: k)
                }
            case .announce(let k, let ids):
                let wanted = knowsAllKinds(k) ? ids : ids.filter { id in peerKnowsKind(of: id, k) }
                if !wanted.isEmpty { sendMessage(.ihave(wanted), to: k) }
            case .graft(let k, let ids):
                if (peers[k]?.requested.count ?? 0) > 20_000 { peers[k]?.requested.removeAll() }
                peers[k]?.requested.formUnion(ids)
                sendMessage(.graft(ids), to: k)
            case .prune(let k):
                sendMessage(.prune, to: k)
            case .pruneTrees(let k, let trees):
                sendMessage(.pruneTrees(trees), to: k)
            }
        }
    }

    /// Sends envelopes of the kinds the peer supports, in as few `objects` messages as the frame and
    /// count limits allow.
    func sendObjects(_ envelopes: [[UInt8]], to key: Int) {
        guard let kinds = peers[key]?.kinds else { return }
        var batch: [[UInt8]] = []
        var size = 16
        for e in envelopes where e.count > 1 && kinds.contains(e[1]) {
            if batch.count == PeerMessage.Limits.maxObjects || size + e.count + 4 > FrameCodec.maxPlaintextBytes {
                sendMessage(.objects(batch), to: key)
                batch = []
                size = 16
            }
            batch.append(e)
            size += e.count + 4
        }
        if !batch.isEmpty { sendMessage(.objects(batch), to: key) }
    }

    /// Whether the peer supports every kind this node does (then nothing needs filtering).
    func knowsAllKinds(_ key: Int) -> Bool { (peers[key]?.kinds.count ?? 0) == ObjectRegistry.payloadTypes.count }

    /// Whether the peer supports the kind of a held object (the kind byte is an envelope's second byte).
    func peerKnowsKind(of id: ObjectID, _ key: Int) -> Bool {
        let envelope = recentEnvelopes[id] ?? (try? node.database.envelopes([id]))?.first?.envelope
        guard let envelope, envelope.count > 1 else { return false }
        return peers[key]?.kinds.contains(envelope[1]) ?? false
    }

    /// Answers `getobjects` and `graft`: held gossiped objects of the kinds the peer supports.
    func serve(_ found: [(id: ObjectID, envelope: [UInt8])], to key: Int) {
        router.markKnown(found.map(\.id), to: key)
        sendObjects(found.map(\.envelope), to: key)
    }
}
