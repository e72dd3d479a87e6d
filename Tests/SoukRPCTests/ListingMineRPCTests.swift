import Foundation
import SoukCore
import SoukRPC
import Testing

@Suite("listing.mine over HTTP")
struct ListingMineRPCTests {
    @Test func listingMinePages() async throws {
        try await withLiveServer { s in
            var ids: [JSONValue] = []
            for i in 0..<5 {
                ids.append(
                    try await s.call("listing.create", bikeParams(["title": .string("Bike \(i)")]))["listing_id"]!)
            }
            var seen: [JSONValue] = []
            var cursor: JSONValue = .null
            for _ in 0..<5 {
                var params: [String: JSONValue] = ["limit": 2]
                if cursor != .null { params["cursor"] = cursor }
                let page = try await s.call("listing.mine", .object(params))
                seen += page["listings"]?.arrayValue?.compactMap { $0["listing_id"] } ?? []
                cursor = page["next_cursor"] ?? .null
                if cursor == .null { break }
            }
            #expect(seen == ids.reversed(), "newest first, every listing once")
            let bad = try await s.callError("listing.mine", ["cursor": "v1.relevance.0.0"])
            #expect(bad.code == -32602 && bad.data?["reason"] == "invalid_cursor")
            let zero = try await s.callError("listing.mine", ["limit": 0])
            #expect(zero.code == -32602)
        }
    }
}
