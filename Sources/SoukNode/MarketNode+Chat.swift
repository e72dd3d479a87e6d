public import SoukCore
public import SoukStore

extension MarketNode {
    /// Where a message goes: a trade's conversation, or a listing's (buyer and seller, before an order).
    public enum ChatTarget: Sendable, Equatable {
        case trade(ObjectID)
        /// `buyer` names the other party when the seller answers; a buyer leaves it `nil`.
        case listing(ListingID, buyer: NodeID?)
    }

    /// Signs a chat message and queues it for its recipients (sealed, acknowledged like trade steps).
    /// - Returns: the stored message and warnings for the sender (contact details: warned, never blocked).
    public func sendChat(_ target: ChatTarget, text: String) async throws -> (StoredMessage, warnings: [String]) {
        let (conversation, recipients) = try chatRoute(target)
        // Ordered per conversation by (created_at, id): a message is dated after every message of
        // the conversation this node holds, so an answer never sorts before what it answers.
        let latest = try database.messages(conversation: conversation, limit: 1).last?.message.createdAt ?? 0
        let m = ChatMessage(
            network: network.rawValue, createdAt: max(now(), latest + 1), conversation: conversation,
            recipients: recipients, text: text)
        do { _ = try ChatMessage(decoding: m.encoded()) } catch { throw NodeError.invalid(error) }
        let object = try await publishObject(m, to: recipients)
        let stored = StoredMessage(id: object.id, sender: nodeID, message: m, envelope: object.envelope.bytes)
        let found = ContactDetails.find(in: text)
        let warnings =
            found.isEmpty
            ? []
            : [
                "this message contains contact details (\(found.joined(separator: ", "))): a deal moved outside the trade "
                    + "loses the arbiter's protection"
            ]
        return (stored, warnings)
    }

    /// The conversation id and recipients of a target, as this node's role gives them.
    func chatRoute(_ target: ChatTarget) throws -> (conversation: [UInt8], recipients: [NodeID]) {
        switch target {
        case .trade(let id):
            let state = try trade(id).state
            let role = try myRole(state)
            let p = state.parties
            var recipients: [NodeID]
            switch role {
            case .buyer: recipients = [p.seller]
            case .seller: recipients = [p.buyer]
            case .arbiter, .fallbackArbiter: recipients = [p.buyer, p.seller]
            }
            if state.disputedAt != nil, role == .buyer || role == .seller {
                recipients.append(state.fallbackActive ? p.fallbackArbiter! : p.arbiter)
                recipients = Array(recipients.prefix(ChatMessage.Limits.maxRecipients))
            }
            return (id.bytes, recipients)
        case .listing(let listingID, let buyer):
            let l = try listing(listingID)
            let seller = NodeID(publicKey: l.seller)!
            if seller == nodeID {
                guard let buyer else {
                    throw NodeError.tradeActionRefused("you are the seller: name the buyer you answer (--to NODE_ID)")
                }
                return (ChatMessage.conversation(listing: listingID, buyer: buyer), [buyer])
            }
            return (ChatMessage.conversation(listing: listingID, buyer: nodeID), [seller])
        }
    }

    /// The messages of a target's conversation, oldest first.
    public func chat(_ target: ChatTarget) throws -> [StoredMessage] {
        try database.messages(conversation: chatRoute(target).conversation)
    }
}
