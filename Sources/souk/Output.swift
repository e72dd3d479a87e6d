import Foundation
import SoukRPC

/// Text renderings of RPC results.
enum Output {
    static func listing(_ l: JSONValue) -> String {
        let tags = l["tags"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ", ") ?? ""
        var lines = [
            "id:          \(l["listing_id"]?.stringValue ?? "?")",
            "title:       \(l["title"]?.stringValue ?? "")",
            "price:       \(l["price"]?.stringValue ?? "") \(l["currency"]?.stringValue ?? "")",
            "category:    \(l["category"]?.stringValue ?? "")",
            "location:    \(l["location"]?.stringValue ?? "")\(country(l))",
            "condition:   \(l["condition"]?.stringValue ?? "")   quantity: \(l["quantity"]?.intValue ?? 0)",
            "version:     \(l["version"]?.intValue ?? 0)   status: \(l["status"]?.stringValue ?? "")",
            "seller:      \(l["seller"]?.stringValue ?? "")",
            "expires:     \(time(l["expires_at"]))",
        ]
        if !tags.isEmpty { lines.append("tags:        \(tags)") }
        if let d = l["description"]?.stringValue, !d.isEmpty { lines.append("\n\(d)") }
        return lines.joined(separator: "\n")
    }

    /// A Unix time as local date and time with its UTC offset, e.g. `2026-12-07 21:30:05 +01:00`;
    /// `-` when absent. Text output never shows bare Unix seconds (`--json` does).
    static func time(_ value: JSONValue?) -> String {
        guard let seconds = value?.intValue else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss xxx"
        return formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
    }

    private static func country(_ l: JSONValue) -> String {
        guard let c = l["country"]?.stringValue, !c.isEmpty else { return "" }
        return " (\(c))"
    }

    /// One row per listing: id, price, title, location (and its status, for a seller's own).
    static func table(_ rows: [JSONValue], status: Bool = false) -> String {
        guard !rows.isEmpty else { return "no listings" }
        let cells = rows.map { r in
            [
                r["listing_id"]?.stringValue ?? "",
                "\(r["price"]?.stringValue ?? "") \(r["currency"]?.stringValue ?? "")",
                clip(r["title"]?.stringValue ?? "", 48),
                clip(r["location"]?.stringValue ?? "", 24),
            ] + (status ? [r["status"]?.stringValue ?? ""] : [])
        }
        return columns(["ID", "PRICE", "TITLE", "LOCATION"] + (status ? ["STATUS"] : []), cells)
    }

    /// Left-aligned columns separated by two spaces.
    static func columns(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        let render: ([String]) -> String = { row in
            row.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailing()
        }
        return ([render(header)] + rows.map(render)).joined(separator: "\n")
    }

    private static func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }
}

extension String {
    func trimmingTrailing() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
