import SoukCore
import Testing

@testable import SoukNode

@Suite("RecentEnvelopes")
struct RecentEnvelopesTests {
    static func id(_ n: UInt8) -> ObjectID { ObjectID(bytes: [UInt8](repeating: n, count: 32)) }

    @Test("keeps the last `capacity` envelopes and forgets the oldest first")
    func evictsOldest() {
        var cache = RecentEnvelopes(capacity: 3)
        for n in UInt8(1)...3 { cache.insert(Self.id(n), [n]) }
        #expect(cache[Self.id(1)] == [1] && cache[Self.id(3)] == [3])
        cache.insert(Self.id(4), [4])
        #expect(cache[Self.id(1)] == nil, "the oldest went first")
        #expect(cache[Self.id(2)] == [2] && cache[Self.id(4)] == [4])
        cache.insert(Self.id(5), [5])
        cache.insert(Self.id(6), [6])
        #expect(cache[Self.id(2)] == nil && cache[Self.id(3)] == nil)
        #expect([4, 5, 6].allSatisfy { cache[Self.id(UInt8($0))] == [UInt8($0)] })
    }

    @Test("inserting a held id again neither duplicates nor evicts")
    func reinsertIsANoOp() {
        var cache = RecentEnvelopes(capacity: 2)
        cache.insert(Self.id(1), [1])
        cache.insert(Self.id(2), [2])
        cache.insert(Self.id(1), [1])
        #expect(cache[Self.id(1)] == [1] && cache[Self.id(2)] == [2])
        cache.insert(Self.id(3), [3])
        #expect(cache[Self.id(1)] == nil && cache[Self.id(2)] == [2] && cache[Self.id(3)] == [3])
    }
}
