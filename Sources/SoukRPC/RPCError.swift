/// A JSON-RPC error object. Standard codes are the JSON-RPC 2.0 ones; application codes start
/// at -32000 and go down (see `Specs/openrpc.json`, `x-error-codes`).
public struct RPCError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: Int
    public let message: String
    public let data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public static func parseError(_ detail: String) -> RPCError {
        RPCError(code: -32700, message: "Parse error: \(detail)")
    }
    public static func invalidRequest(_ detail: String) -> RPCError {
        RPCError(code: -32600, message: "Invalid Request: \(detail)")
    }
    public static func methodNotFound(_ name: String) -> RPCError {
        RPCError(
            code: -32601, message: "Method not found: \(name) (rpc.discover lists the methods)",
            data: ["method": .string(name)])
    }
    public static func invalidParams(_ detail: String, reason: String = "invalid_params", field: String? = nil)
        -> RPCError
    {
        var data: [String: JSONValue] = ["reason": .string(reason)]
        if let field { data["field"] = .string(field) }
        return RPCError(code: -32602, message: "Invalid params: \(detail)", data: .object(data))
    }
    public static func internalError(_ detail: String) -> RPCError {
        RPCError(code: -32603, message: "Internal error: \(detail)")
    }

    /// Application error codes.
    public enum AppCode {
        public static let nodeError = -32000
        public static let listingNotFound = -32001
        public static let listingRetracted = -32002
        public static let listingExpired = -32003
        public static let notSeller = -32004
        public static let quotaExceeded = -32005
        public static let conflict = -32006
        public static let peerNotFound = -32007
        public static let profileNotFound = -32008
        public static let deliveryNotFound = -32009
        public static let tradeNotFound = -32010
        public static let arbiterNotFound = -32011
        /// The trade's state or the caller's role does not allow the step.
        public static let tradeActionRefused = -32012
        /// This node signed another resolution for the trade and never signs a second one.
        public static let alreadySignedOther = -32013
    }

    public var json: JSONValue {
        var o: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let data { o["data"] = data }
        return .object(o)
    }

    public var description: String { "\(message) (code \(code))" }
}
