import SoukCore
import SoukCrypto
import SoukNode
import SoukStore

extension NodeRPC {
    static let profileFields = ["display_name", "avatar_hash", "addresses", "mailboxes", "arbiters", "languages"]

    /// `profile.get` and `profile.set` (schema `Profile` in `Specs/openrpc.json`).
    var profileMethods: [RPCMethod] {
        let node = self.node
        return [
            RPCMethod("profile.get", parameters: ["node_id"]) { p in
                let id = try Self.optionalNodeID(p, "node_id")
                return try await Self.mapNodeErrors { Self.json(try await node.profile(of: id)) }
            },
            RPCMethod("profile.set", parameters: Self.profileFields) { p in
                let changes = try Self.profileChanges(p)
                return try await Self.mapNodeErrors { Self.json(try await node.setProfile(changes)) }
            },
        ]
    }

    static func optionalNodeID(_ p: RPCParams, _ field: String) throws(RPCError) -> NodeID? {
        guard let hex = try p.optionalString(field) else { return nil }
        guard let id = NodeID(hex: hex) else {
            throw .invalidParams("\(field) must be 64 hex digits (a node id)", reason: "invalid_node_id", field: field)
        }
        return id
    }

    static func profileChanges(_ p: RPCParams) throws(RPCError) -> ProfileChanges {
        var c = ProfileChanges()
        c.displayName = try p.optionalString("display_name")
        if let hex = try p.optionalString("avatar_hash") {
            guard hex.isEmpty || (hex.count == 64 && Hex.decode(hex) != nil) else {
                throw .invalidParams(
                    "avatar_hash must be 64 hex digits, or \"\" to remove it", reason: "invalid_profile",
                    field: "avatar_hash")
            }
            c.avatarHash = Hex.decode(hex) ?? []
        }
        if let list = try p.optionalStringArray("addresses") {
            c.addresses = try list.map { (text: String) throws(RPCError) -> HostPort in
                guard let hp = HostPort(text) else {
                    throw .invalidParams(
                        "address \"\(text)\" must be HOST:PORT or [IPv6]:PORT", reason: "invalid_profile",
                        field: "addresses")
                }
                return hp
            }
        }
        c.mailboxes = try nodeIDs(p, "mailboxes")
        c.arbiters = try nodeIDs(p, "arbiters")
        c.languages = try p.optionalStringArray("languages")
        let anything =
            c.displayName != nil || c.avatarHash != nil || c.addresses != nil || c.mailboxes != nil
            || c.arbiters != nil || c.languages != nil
        guard anything else { throw .invalidParams("nothing to set: give at least one profile field") }
        return c
    }

    static func nodeIDs(_ p: RPCParams, _ field: String) throws(RPCError) -> [NodeID]? {
        try p.optionalStringArray(field)?.map { (hex: String) throws(RPCError) -> NodeID in
            guard let id = NodeID(hex: hex) else {
                throw .invalidParams(
                    "\(field) must hold node ids (64 hex digits each)", reason: "invalid_node_id", field: field)
            }
            return id
        }
    }

    /// The JSON shape of a profile.
    static func json(_ s: StoredProfile) -> JSONValue {
        let p = s.profile
        return [
            "node_id": .string(s.signer.hex),
            "object_id": .string(s.objectID.hex),
            "version": .int(Int64(p.version)),
            "display_name": .string(p.displayName),
            "avatar_hash": p.avatarHash.isEmpty ? .null : .string(Hex.encode(p.avatarHash)),
            "addresses": .array(p.addresses.map { .string($0.description) }),
            "mailboxes": .array(p.mailboxes.map { .string($0.hex) }),
            "arbiters": .array(p.arbiters.map { .string($0.hex) }),
            "languages": .array(p.languages.map(JSONValue.string)),
            "updated_at": .int(Int64(p.updatedAt)),
            "expires_at": .int(Int64(p.expiresAt)),
            "envelope": .string(Hex.encode(s.envelope)),
        ]
    }
}
