/// One entry of the method table: its name, its parameter names (in positional order) and the handler.
public struct RPCMethod: Sendable {
    public typealias Handler = @Sendable (RPCParams) async throws -> JSONValue

    public let name: String
    public let parameters: [String]
    public let handler: Handler

    public init(_ name: String, parameters: [String] = [], handler: @escaping Handler) {
        self.name = name
        self.parameters = parameters
        self.handler = handler
    }
}

/// By-name parameters after normalisation (positional arrays are mapped onto the declared names).
/// Typed getters throw `RPCError.invalidParams` naming the field and the expected type.
public struct RPCParams: Sendable {
    public let values: [String: JSONValue]

    public init(_ values: [String: JSONValue]) { self.values = values }

    public func has(_ name: String) -> Bool {
        if let v = values[name], v != .null { return true }
        return false
    }

    public func string(_ name: String) throws(RPCError) -> String {
        guard let v = try optionalString(name) else { throw .invalidParams("missing \"\(name)\"", field: name) }
        return v
    }

    public func optionalString(_ name: String) throws(RPCError) -> String? {
        guard let v = values[name], v != .null else { return nil }
        guard let s = v.stringValue else { throw .invalidParams("\"\(name)\" must be a string", field: name) }
        return s
    }

    public func optionalBool(_ name: String) throws(RPCError) -> Bool? {
        guard let v = values[name], v != .null else { return nil }
        guard let b = v.boolValue else { throw .invalidParams("\"\(name)\" must be true or false", field: name) }
        return b
    }

    public func optionalInt(_ name: String, range: ClosedRange<Int64>) throws(RPCError) -> Int64? {
        guard let v = values[name], v != .null else { return nil }
        guard let i = v.intValue else { throw .invalidParams("\"\(name)\" must be an integer", field: name) }
        guard range.contains(i) else {
            throw .invalidParams(
                "\"\(name)\" must be between \(range.lowerBound) and \(range.upperBound)", field: name)
        }
        return i
    }

    public func optionalStringArray(_ name: String) throws(RPCError) -> [String]? {
        guard let v = values[name], v != .null else { return nil }
        guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
            throw .invalidParams("\"\(name)\" must be an array of strings", field: name)
        }
        return a.compactMap(\.stringValue)
    }
}
