public import ServiceLifecycle
public import Logging

/// Prunes expired listings and old tombstones on a fixed period until graceful shutdown.
public struct ExpirySweeper: Service {
    let node: MarketNode
    let period: Duration
    let logger: Logger

    public init(node: MarketNode, period: Duration = .seconds(60), logger: Logger) {
        self.node = node
        self.period = period
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await node.pruneExpired()
            } catch {
                logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
            }
            // The sleep ends early on graceful shutdown; a sweep in progress always completes.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }
}
