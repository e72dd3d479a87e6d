/// Reads one kind's payload the way every kind lays it out: a format byte, the fields, and nothing
/// after them. Decoding errors become `malformed`; a field rule's own `ValidationError` passes through.
enum PayloadReader {
    /// - Parameters:
    ///   - kind: names the payload in messages.
    ///   - format: the only format byte accepted.
    ///   - fields: reads the fields after the format byte.
    static func read<T>(
        _ payload: [UInt8], kind: ObjectKind, format: UInt8, _ fields: (inout ByteReader) throws -> T
    ) throws(ValidationError) -> T {
        do {
            var r = ByteReader(payload)
            let found = try r.readByte("\(kind.name) format")
            guard found == format else { throw DecodingError.unsupportedVersion(what: kind.name, version: found) }
            let value = try fields(&r)
            try r.expectEnd(kind.name)
            return value
        } catch let e as ValidationError {
            throw e
        } catch {
            throw ValidationError(.malformed, "malformed \(kind.name): \(error)")
        }
    }
}
