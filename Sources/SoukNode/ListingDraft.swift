public import SoukCore

/// What a seller supplies to create a listing; the node adds salt, version and timestamps.
public struct ListingDraft: Sendable {
    public var title: String
    public var description: String
    public var price: Money
    public var category: String
    public var location: String
    public var country: String
    public var quantity: UInt64
    public var condition: ItemCondition
    public var tags: [String]
    /// 1...30; the listing expires this many days after each update.
    public var expiresInDays: Int

    public init(
        title: String, description: String = "", price: Money, category: String, location: String = "",
        country: String = "", quantity: UInt64 = 1, condition: ItemCondition = .good, tags: [String] = [],
        expiresInDays: Int = 30
    ) {
        self.title = title
        self.description = description
        self.price = price
        self.category = category
        self.location = location
        self.country = country
        self.quantity = quantity
        self.condition = condition
        self.tags = tags
        self.expiresInDays = expiresInDays
    }
}

/// Fields to change in `listing.update`; `nil` keeps the current value.
public struct ListingChanges: Sendable {
    public var title: String?
    public var description: String?
    public var price: Money?
    public var category: String?
    public var location: String?
    public var country: String?
    public var quantity: UInt64?
    public var condition: ItemCondition?
    public var tags: [String]?
    public var expiresInDays: Int?

    public init() {}
}
