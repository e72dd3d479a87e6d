import SoukCore
import Synchronization

/// Counts bytes queued for one peer: the actor adds, the writer task subtracts.
final class QueueMeter: Sendable {
    private let bytes = Atomic<Int>(0)

    /// Adds `n` and returns the new total.
    func add(_ n: Int) -> Int { bytes.add(n, ordering: .relaxed).newValue }
}

/// Bytes and counts by message type, for `node.stats` and the testnet measurements.
struct TrafficStats {
    var bytesIn: [String: Int] = [:]
    var bytesOut: [String: Int] = [:]
    var objectsReceived = 0
    var objectsNew = 0
    var objectsDuplicate = 0
    var objectsInvalid = 0

    mutating func add(inbound name: String, bytes: Int) { bytesIn[name, default: 0] += bytes }
    mutating func add(outbound name: String, bytes: Int) { bytesOut[name, default: 0] += bytes }
}

/// The last `capacity` envelopes by object id (oldest forgotten first).
struct RecentEnvelopes {
    private var bytes: [ObjectID: [UInt8]] = [:]
    private var order: BoundedFIFO<ObjectID>

    init(capacity: Int) { order = BoundedFIFO(capacity: capacity) }

    subscript(id: ObjectID) -> [UInt8]? { bytes[id] }

    mutating func insert(_ id: ObjectID, _ envelope: [UInt8]) {
        guard bytes.updateValue(envelope, forKey: id) == nil else { return }
        if let dropped = order.append(id) { bytes[dropped] = nil }
    }
}
