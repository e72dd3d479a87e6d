/// Something an object needs held before it can be judged against stored state: another object
/// (a review's trade), or a key another object provides (log entry n − 1 of an author).
/// An object that arrives before its dependency waits in the node's deferred pool; its sender is
/// not punished (DESIGN invariant 9). Equality is by `key` alone.
public struct ObjectDependency: Hashable, Sendable, CustomStringConvertible {
    /// A namespace byte, then the bytes that name the dependency.
    public let key: [UInt8]
    /// For logs and errors.
    public let label: String

    public init(namespace: UInt8, bytes: [UInt8], label: String) {
        key = [namespace] + bytes
        self.label = label
    }

    /// The object with this id. Namespace 0; every stored object provides it.
    public static func object(_ id: ObjectID) -> ObjectDependency {
        ObjectDependency(namespace: 0, bytes: id.bytes, label: "object \(id)")
    }

    public static func == (a: ObjectDependency, b: ObjectDependency) -> Bool { a.key == b.key }
    public func hash(into hasher: inout Hasher) { hasher.combine(key) }
    public var description: String { label }
}
