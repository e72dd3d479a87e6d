import Foundation
import SoukCore
import SoukCrypto
import SoukStore

/// Builders for signed, verified objects and small helpers shared by the store tests.
enum Fixture {
    /// The tests' clock: a fixed instant in 2025, so every timestamp below is deterministic.
    static let now: UInt64 = 1_750_000_000

    /// A deterministic seller key; different `n` give different keys.
    static func key(_ n: UInt8) -> SigningKey {
        try! SigningKey(seed: [UInt8](repeating: n, count: 32))
    }

    /// A deterministic 16-byte salt; different `n` give different listing ids.
    static func salt(_ n: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0xA5, count: ListingID.saltBytes)
        withUnsafeBytes(of: UInt64(n).littleEndian) { for (i, b) in $0.enumerated() { out[i] = b } }
        return out
    }

    /// A signed and verified listing. `updatedAt` defaults to `createdAt + version - 1` and
    /// `expiresAt` to seven days after `updatedAt`.
    static func listing(
        key: SigningKey, salt: [UInt8], version: UInt64 = 1, createdAt: UInt64 = now - 86_400,
        updatedAt: UInt64? = nil, expiresAt: UInt64? = nil, title: String = "Item", description: String = "",
        price: UInt64 = 1_000, currency: String = "EUR", category: String = "misc", location: String = "",
        country: String = "", quantity: UInt64 = 1, condition: ItemCondition = .good, tags: [String] = [],
        verifiedAt: UInt64 = now
    ) throws -> VerifiedObject {
        let updated = updatedAt ?? (createdAt + version - 1)
        let listing = Listing(
            salt: salt, version: version, createdAt: createdAt, updatedAt: updated,
            expiresAt: expiresAt ?? (updated + 7 * 86_400), title: title, description: description,
            price: Money(minorUnits: price, currency: Currency(code: currency)!), category: category,
            location: location, country: country, quantity: quantity, condition: condition, tags: tags)
        let envelope = Envelope(kind: .listing, payload: listing.encoded(), signingKey: key)
        return try VerifiedObject(envelope: envelope, now: verifiedAt)
    }

    /// A signed and verified retraction of the listing `(key, salt)`.
    static func retraction(key: SigningKey, salt: [UInt8], retractedAt: UInt64 = now) throws -> VerifiedObject {
        let payload = ListingRetraction(salt: salt, retractedAt: retractedAt).encoded()
        return try VerifiedObject(
            envelope: Envelope(kind: .listingRetraction, payload: payload, signingKey: key), now: now)
    }

    /// The titles of a page's hits, in order.
    static func titles(_ page: SearchPage) -> [String] { page.hits.map(\.listing.listing.title) }

    /// A text query with the given words.
    static func query(
        _ text: String = "", sort: SearchQuery.Sort = .relevance, limit: Int = 100,
        _ configure: (inout SearchQuery) -> Void = { _ in }
    ) -> SearchQuery {
        var q = SearchQuery()
        q.text = text
        q.sort = sort
        q.limit = limit
        // Prices sort within one currency; the fixtures' listings are in EUR unless a test says otherwise.
        if sort == .priceAsc || sort == .priceDesc { q.currency = Currency(code: "EUR") }
        configure(&q)
        return q
    }

    /// Follows `nextCursor` until the end (at most `maxPages` pages) and returns every page.
    static func allPages(
        _ db: SoukDatabase, _ query: SearchQuery, now: UInt64 = now,
        bounds: SoukDatabase.SearchBounds = SoukDatabase.SearchBounds(), maxPages: Int = 50
    ) throws -> [SearchPage] {
        var pages: [SearchPage] = []
        var q = query
        for _ in 0..<maxPages {
            let page = try db.search(q, now: now, bounds: bounds)
            pages.append(page)
            guard let next = page.nextCursor else { return pages }
            q.cursor = next
        }
        return pages
    }

    /// URL-safe base64 without padding, to forge cursors.
    static func base64url(_ s: String) -> String {
        Data(s.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// A fresh empty directory under the system temp directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("souk-store-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

extension VerifiedObject {
    /// The listing a listing or a tombstone is about (the tests' shorthand).
    var listingID: ListingID {
        if let l = payload(as: Listing.self) { return l.id(seller: signer) }
        return payload(as: ListingRetraction.self)!.id(seller: signer)
    }
}
