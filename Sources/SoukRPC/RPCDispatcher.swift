/// JSON-RPC 2.0 request handling, independent of HTTP: bytes in, bytes (or nothing) out.
///
/// Implements the whole of the specification: string/number/null ids, by-name and positional
/// params, notifications (no response), batches (an empty batch is one Invalid Request; each
/// element is answered on its own; a batch of only notifications gets no response).
public struct RPCDispatcher: Sendable {
    /// Largest batch answered; a bigger one is one Invalid Request error.
    public static let maxBatchSize = 1_000

    public let methods: [String: RPCMethod]
    private let onError: @Sendable (String, any Error) -> Void

    /// - Parameter onError: called with the method name for every unexpected (non-`RPCError`) failure.
    public init(methods: [RPCMethod], onError: @escaping @Sendable (String, any Error) -> Void = { _, _ in }) {
        self.methods = Dictionary(methods.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.onError = onError
    }

    /// Handles one HTTP body.
    /// - Returns: the response body, or `nil` when nothing must be sent (notifications only).
    public func handle(body: [UInt8]) async -> [UInt8]? {
        guard let json = JSONValue.parse(body) else {
            return RPCDispatcher.response(id: .null, error: .parseError("the body is not valid JSON")).serialized
        }
        if case .array(let batch) = json {
            guard !batch.isEmpty else {
                return RPCDispatcher.response(id: .null, error: .invalidRequest("empty batch")).serialized
            }
            guard batch.count <= RPCDispatcher.maxBatchSize else {
                return RPCDispatcher.response(
                    id: .null, error: .invalidRequest("batch of \(batch.count) exceeds \(RPCDispatcher.maxBatchSize)")
                ).serialized
            }
            var responses: [JSONValue] = []
            for element in batch {
                if let r = await handle(request: element) { responses.append(r) }
            }
            return responses.isEmpty ? nil : JSONValue.array(responses).serialized
        }
        return await handle(request: json)?.serialized
    }

    /// Handles one request object; `nil` for a notification.
    public func handle(request: JSONValue) async -> JSONValue? {
        guard case .object(let obj) = request else {
            return RPCDispatcher.response(id: .null, error: .invalidRequest("a request must be a JSON object"))
        }
        let idValue = obj["id"]
        let isNotification = idValue == nil
        let id: JSONValue
        switch idValue {
        case nil, .null?: id = .null
        case .string?, .int?, .bigInt?, .double?: id = idValue!
        default:
            return RPCDispatcher.response(id: .null, error: .invalidRequest("id must be a string, number or null"))
        }
        guard obj["jsonrpc"] == .string("2.0") else {
            return RPCDispatcher.response(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
        }
        guard case .string(let name)? = obj["method"] else {
            return RPCDispatcher.response(id: id, error: .invalidRequest("\"method\" must be a string"))
        }
        if let extra = obj.keys.first(where: { !["jsonrpc", "method", "params", "id"].contains($0) }) {
            return RPCDispatcher.response(id: id, error: .invalidRequest("unexpected member \"\(extra)\""))
        }
        let result: Result<JSONValue, RPCError>
        do {
            guard let method = methods[name] else { throw RPCError.methodNotFound(name) }
            let params = try RPCDispatcher.normalise(obj["params"], for: method)
            result = .success(try await method.handler(params))
        } catch let e as RPCError {
            result = .failure(e)
        } catch {
            onError(name, error)
            result = .failure(.internalError("\(error)"))
        }
        if isNotification { return nil }
        switch result {
        case .success(let value): return ["jsonrpc": "2.0", "id": id, "result": value]
        case .failure(let e): return RPCDispatcher.response(id: id, error: e)
        }
    }

    static func normalise(_ params: JSONValue?, for method: RPCMethod) throws(RPCError) -> RPCParams {
        switch params {
        case nil:
            return RPCParams([:])
        case .object(let o)?:
            if let unknown = o.keys.sorted().first(where: { !method.parameters.contains($0) }) {
                throw .invalidParams(
                    "unknown parameter \"\(unknown)\" for \(method.name)"
                        + (method.parameters.isEmpty
                            ? " (it takes none)" : " (takes: \(method.parameters.joined(separator: ", ")))"),
                    reason: "unknown_parameter", field: unknown)
            }
            return RPCParams(o)
        case .array(let a)?:
            guard a.count <= method.parameters.count else {
                throw .invalidParams("\(method.name) takes at most \(method.parameters.count) positional parameters")
            }
            return RPCParams(Dictionary(uniqueKeysWithValues: zip(method.parameters, a)))
        default:
            throw .invalidRequest("params must be an object (by name) or an array (by position)")
        }
    }

    static func response(id: JSONValue, error: RPCError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "error": error.json]
    }
}
