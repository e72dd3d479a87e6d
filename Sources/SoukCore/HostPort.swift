/// A dialable `host:port`: the one parser and formatter of addresses (IPv6 literals in brackets).
public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    /// A host name or IP literal; an IPv6 literal without brackets.
    public let host: String
    public let port: Int

    /// - Precondition: `port` is 0...65535.
    public init(host: String, port: Int) {
        precondition((0...65_535).contains(port), "port \(port) outside 0...65535")
        self.host = host
        self.port = port
    }

    /// Parses `host:port` or `[v6]:port`; the port must be 1...65535 (0 is not dialable).
    /// - Returns: `nil` for anything else.
    public init?(_ text: String) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            host = parts[0]
            portText = parts[1]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" || $0.isNewline }),
            portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), let port = Int(portText),
            (1...65_535).contains(port)
        else { return nil }
        self.host = String(host)
        self.port = port
    }

    /// `host:port`, or `[host]:port` when the host is an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// True for loopback hosts: `127.0.0.0/8`, `::1`, `::ffff:127.x.x.x` and `localhost`.
    public static func isLoopback(_ host: String) -> Bool {
        host.hasPrefix("127.") || host == "::1" || host == "localhost" || host.hasPrefix("::ffff:127.")
            || host == "0:0:0:0:0:0:0:1"
    }
}
