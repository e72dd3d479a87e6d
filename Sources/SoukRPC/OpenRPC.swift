import Foundation

/// The OpenRPC document shipped with the node (`Specs/openrpc.json`), served by `rpc.discover`.
public enum OpenRPC {
    /// Parses the bundled document.
    /// - Throws: `RPCError.internalError` if the bundle is missing or the file is not JSON.
    public static func document() throws -> JSONValue {
        guard let url = Bundle.module.url(forResource: "openrpc", withExtension: "json"),
            let data = try? Data(contentsOf: url), let json = JSONValue.parse([UInt8](data))
        else { throw RPCError.internalError("the OpenRPC document is missing from this build") }
        return json
    }

    /// The method names the document describes.
    public static func methodNames() throws -> Set<String> {
        let doc = try document()
        return Set(doc["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
    }
}
