import Foundation

/// The OpenRPC document shipped with the node (`Specs/openrpc.json`), served by `rpc.discover`.
public enum OpenRPC {
    /// Parses the bundled document.
    /// - Throws: `RPCError.internalError` if the bundle is missing or the file is not JSON.
    /// The document is compiled into the binary (`.embedInCode`), so an installed `souk` needs no
    /// resource bundle beside it.
    public static func document() throws -> JSONValue {
        guard let json = JSONValue.parse(PackageResources.openrpc_json) else {
            throw RPCError.internalError("the OpenRPC document compiled into this build is not JSON")
        }
        return json
    }

    /// The method names the document describes.
    public static func methodNames() throws -> Set<String> {
        let doc = try document()
        return Set(doc["methods"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
    }
}
