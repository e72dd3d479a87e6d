/// A first-in first-out set of unique elements with O(1) append, pop and membership; removal of an
/// arbitrary element is lazy (skipped when it reaches the front). The one bounded queue the node
/// uses for "forget the oldest" memories.
public struct BoundedFIFO<Element: Hashable & Sendable>: Sendable {
    private var items: [Element] = []
    private var head = 0
    private var members: Set<Element> = []
    /// When set, appending past it drops the oldest element.
    public let capacity: Int?

    public init(capacity: Int? = nil) { self.capacity = capacity }

    public var count: Int { members.count }
    public func contains(_ e: Element) -> Bool { members.contains(e) }

    /// Appends `e` (no-op if present).
    /// - Returns: the element dropped to stay within `capacity`, if any.
    @discardableResult
    public mutating func append(_ e: Element) -> Element? {
        guard members.insert(e).inserted else { return nil }
        items.append(e)
        if let capacity, members.count > capacity { return popFirst() }
        return nil
    }

    /// Removes and returns the oldest element.
    public mutating func popFirst() -> Element? {
        while head < items.count {
            let e = items[head]
            head += 1
            if members.remove(e) != nil {
                compact()
                return e
            }
        }
        compact()
        return nil
    }

    /// Forgets `e`.
    public mutating func remove(_ e: Element) {
        members.remove(e)
        compact()
    }

    /// Drops consumed slots once they are most of the storage, so memory follows `count`.
    private mutating func compact() {
        if members.isEmpty {
            items.removeAll(keepingCapacity: items.count < 1_024)
            head = 0
        } else if head > 1_024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        } else if items.count > 4 * members.count + 1_024 {
            items = items[head...].filter { members.contains($0) }
            head = 0
        }
    }
}
