import GRDB
import SoukCore

/// How many objects of one kind are held and the sum of their ids, kept in `object_totals` and
/// changed in the same transaction as `objects`, so a whole set's fingerprint and count cost one
/// row read however large the store is.
///
/// The sum is eight 32-bit little-endian limbs summed without carrying: each limb stays below
/// 2^63 for fewer than 2^31 objects, and removing an object subtracts exactly what adding it added.
public struct ObjectTotals: Sendable, Equatable {
    public var count: Int64 = 0
    var limbs = [Int64](repeating: 0, count: 8)

    public init() {}

    mutating func add(_ id: ObjectID, sign: Int64 = 1) {
        count += sign
        id.bytes.withUnsafeBufferPointer { b in
            for i in 0..<8 {
                let v =
                    Int64(b[4 * i]) | Int64(b[4 * i + 1]) << 8 | Int64(b[4 * i + 2]) << 16 | Int64(b[4 * i + 3]) << 24
                limbs[i] += sign * v
            }
        }
    }

    mutating func remove(_ id: ObjectID) { add(id, sign: -1) }

    static func + (a: ObjectTotals, b: ObjectTotals) -> ObjectTotals {
        var out = a
        out.count += b.count
        for i in 0..<8 { out.limbs[i] += b.limbs[i] }
        return out
    }

    /// The sum of the ids modulo 2^256, as 32 little-endian bytes.
    public var sum: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var carry: UInt64 = 0
        for i in 0..<8 {
            let v = UInt64(bitPattern: limbs[i]) &+ carry
            for b in 0..<4 { out[4 * i + b] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(b))) }
            carry = v >> 32
        }
        return out
    }

    /// Adds this delta to the kind's row.
    func save(kind: Int, db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO object_totals (kind, count, l0, l1, l2, l3, l4, l5, l6, l7)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(kind) DO UPDATE SET count = count + excluded.count,
                    l0 = l0 + excluded.l0, l1 = l1 + excluded.l1, l2 = l2 + excluded.l2, l3 = l3 + excluded.l3,
                    l4 = l4 + excluded.l4, l5 = l5 + excluded.l5, l6 = l6 + excluded.l6, l7 = l7 + excluded.l7
                """
        ).execute(arguments: StatementArguments([kind, count] + limbs))
    }

    static func load(_ row: Row) -> ObjectTotals {
        var t = ObjectTotals()
        t.count = row["count"]
        for i in 0..<8 { t.limbs[i] = row["l\(i)"] }
        return t
    }
}
