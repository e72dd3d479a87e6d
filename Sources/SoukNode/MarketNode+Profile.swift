import Logging
public import SoukCore
public import SoukStore

/// What `profile.set` may change; `nil` keeps the current value.
public struct ProfileChanges: Sendable, Equatable {
    public var displayName: String?
    public var avatarHash: [UInt8]?
    public var addresses: [HostPort]?
    public var mailboxes: [NodeID]?
    public var arbiters: [NodeID]?
    public var languages: [String]?

    public init(
        displayName: String? = nil, avatarHash: [UInt8]? = nil, addresses: [HostPort]? = nil,
        mailboxes: [NodeID]? = nil, arbiters: [NodeID]? = nil, languages: [String]? = nil
    ) {
        self.displayName = displayName
        self.avatarHash = avatarHash
        self.addresses = addresses
        self.mailboxes = mailboxes
        self.arbiters = arbiters
        self.languages = languages
    }
}

extension MarketNode {
    /// A profile is re-signed once less than this is left of its lifetime, so it never lapses
    /// while the node runs.
    public static let profileRefreshMargin: UInt64 = 30 * 24 * 3600

    /// The profile held for a node key (this node's own by default).
    /// - Throws: `NodeError.profileNotFound`.
    public func profile(of id: NodeID? = nil) throws -> StoredProfile {
        let who = id ?? nodeID
        guard let stored = try database.profile(of: who), stored.profile.expiresAt > now() else {
            throw NodeError.profileNotFound(who)
        }
        return stored
    }

    /// Signs and publishes the next version of this node's profile with `changes` applied (the
    /// first version needs a display name).
    /// - Throws: `NodeError.invalid` for a rule the profile breaks.
    public func setProfile(_ changes: ProfileChanges) async throws -> StoredProfile {
        let now = now()
        let current = try database.profile(of: nodeID)?.profile
        guard let name = changes.displayName ?? current?.displayName else {
            throw NodeError.invalid(ValidationError(.invalidProfile, "a first profile needs a display name"))
        }
        var p = NodeProfile(
            version: (current?.version ?? 0) + 1, updatedAt: max(now, (current?.updatedAt ?? 0) + 1),
            expiresAt: 0, displayName: name, avatarHash: changes.avatarHash ?? current?.avatarHash ?? [],
            addresses: changes.addresses ?? current?.addresses ?? [],
            mailboxes: changes.mailboxes ?? current?.mailboxes ?? [],
            arbiters: changes.arbiters ?? current?.arbiters ?? [],
            languages: changes.languages ?? current?.languages ?? [])
        p.expiresAt = p.updatedAt + NodeProfile.Limits.maxLifetime
        do {
            try p.validateFields()
        } catch {
            throw NodeError.invalid(error)
        }
        _ = try await publishObject(p)
        logger.info("profile published", metadata: ["profile.version": "\(p.version)"])
        return try profile()
    }

    /// Re-signs this node's profile, unchanged, when less than `profileRefreshMargin` of it is left.
    func refreshProfileIfDue() async throws {
        guard let current = try database.profile(of: nodeID)?.profile,
            current.expiresAt < now() + Self.profileRefreshMargin
        else { return }
        _ = try await setProfile(ProfileChanges())
    }
}
