import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small blocking JSON-RPC client over HTTP/1.1 for the CLI and tests. One request per
/// connection (`Connection: close`), so the response ends at EOF.
public struct RPCClient: Sendable {
    public let host: String
    public let port: Int
    public let credentials: String?
    public var timeoutSeconds: Int = 60

    public init(host: String, port: Int, credentials: String?) {
        self.host = host
        self.port = port
        self.credentials = credentials
    }

    /// Why a call failed before a JSON-RPC answer came back.
    public enum ClientError: Error, Sendable, CustomStringConvertible {
        case noDaemon(host: String, port: Int)
        case unauthorized(host: String, port: Int)
        case http(status: Int, body: String)
        case badResponse(String)

        public var description: String {
            switch self {
            case .noDaemon(let h, let p): return "no daemon at \(h):\(p) — start it with `souk daemon`"
            case .unauthorized(let h, let p):
                return "the daemon at \(h):\(p) refused our credentials — is --datadir the daemon's data dir?"
            case .http(let s, let b): return "HTTP \(s) from the daemon: \(b)"
            case .badResponse(let s): return "unexpected response from the daemon: \(s)"
            }
        }
    }

    /// Calls `method` and returns its `result`.
    /// - Throws: `RPCError` for a JSON-RPC error response, `ClientError` for transport failures.
    public func call(_ method: String, params: JSONValue = .object([:])) throws -> JSONValue {
        let request: JSONValue = ["jsonrpc": "2.0", "id": 1, "method": .string(method), "params": params]
        let (status, body) = try post(request.serialized)
        switch status {
        case 200: break
        case 401: throw ClientError.unauthorized(host: host, port: port)
        default: throw ClientError.http(status: status, body: String(decoding: body, as: UTF8.self))
        }
        guard let json = JSONValue.parse(body) else { throw ClientError.badResponse("body is not JSON") }
        if let error = json["error"], let code = error["code"]?.intValue {
            throw RPCError(
                code: Int(code), message: error["message"]?.stringValue ?? "unknown error", data: error["data"])
        }
        guard let result = json["result"] else { throw ClientError.badResponse("no result") }
        return result
    }

    /// Sends one raw HTTP POST / and returns the status and body.
    public func post(_ body: [UInt8], extraHeaders: [String] = []) throws -> (status: Int, body: [UInt8]) {
        var head = "POST / HTTP/1.1\r\nHost: \(host):\(port)\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n"
        if let credentials { head += "Authorization: \(RPCAuth.header(credentials: credentials))\r\n" }
        for h in extraHeaders { head += h + "\r\n" }
        head += "\r\n"
        let raw = try exchange(Array(head.utf8) + body)
        return try RPCClient.parseResponse(raw)
    }

    /// Writes `bytes` to a fresh connection and reads until the server closes it.
    public func exchange(_ bytes: [UInt8]) throws -> [UInt8] {
        let fd = try connectSocket()
        defer { close(fd) }
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            // The server may answer and close early (401, 413): stop writing and read its answer.
            if n <= 0 { break }
            off += n
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    private func connectSocket() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &res) == 0, let first = res else {
            throw ClientError.noDaemon(host: host, port: port)
        }
        defer { freeaddrinfo(res) }
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype, a.pointee.ai_protocol)
            if fd >= 0 {
                var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                if connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                close(fd)
            }
            ai = a.pointee.ai_next
        }
        throw ClientError.noDaemon(host: host, port: port)
    }

    static func parseResponse(_ raw: [UInt8]) throws -> (status: Int, body: [UInt8]) {
        let sep: [UInt8] = [13, 10, 13, 10]
        var headerEnd: Int?
        var i = 0
        while i + 4 <= raw.count {
            if Array(raw[i..<i + 4]) == sep {
                headerEnd = i
                break
            }
            i += 1
        }
        guard let end = headerEnd else { throw ClientError.badResponse("no HTTP header (connection closed?)") }
        var head = String(decoding: raw[0..<end], as: UTF8.self)
        var rest = Array(raw[(end + 4)...])
        // Skip an interim 100 Continue response: the real one follows it.
        if head.hasPrefix("HTTP/1.1 100") || head.hasPrefix("HTTP/1.0 100") { return try parseResponse(rest) }
        let statusLine = head.split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw ClientError.badResponse("bad status line") }
        head = head.lowercased()
        if let range = head.range(of: "content-length:") {
            let value = head[range.upperBound...].prefix { $0 != "\r" }.trimmingCharacters(in: .whitespaces)
            if let n = Int(value), n <= rest.count { rest = Array(rest[0..<n]) }
        }
        return (status, rest)
    }
}
