import Dispatch
public import Logging
public import ServiceLifecycle
public import SoukStore

/// Runs `work` every `period` until graceful shutdown: the sleep ends early on shutdown, a round in
/// progress always completes. The node's expiry sweeper and WAL checkpointer are two of these.
public struct PeriodicService: Service {
    let period: Duration
    let work: @Sendable () async -> Void

    public init(period: Duration, work: @escaping @Sendable () async -> Void) {
        self.period = period
        self.work = work
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await work()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }

    /// Prunes expired objects (and re-signs this node's profile when due) every `period`.
    public static func expirySweeper(node: MarketNode, period: Duration = .seconds(60), logger: Logger)
        -> PeriodicService
    {
        PeriodicService(period: period) {
            do {
                try await node.pruneExpired()
            } catch {
                logger.error("expiry sweep failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Checkpoints the database's WAL every `period` on a thread of its own, so the copy and the
    /// fsync never delay a write (see `SoukDatabase.checkpoint()`).
    public static func walCheckpointer(database: SoukDatabase, period: Duration = .seconds(1), logger: Logger)
        -> PeriodicService
    {
        let queue = DispatchQueue(label: "souk.checkpointer", qos: .utility)
        return PeriodicService(period: period) {
            let result: Result<(walFrames: Int, checkpointed: Int), any Error> = await withCheckedContinuation {
                continuation in
                queue.async { continuation.resume(returning: Result { try database.checkpoint() }) }
            }
            switch result {
            case .success(let frames) where frames.walFrames > 0:
                logger.trace(
                    "wal checkpoint", metadata: ["frames": "\(frames.walFrames)", "done": "\(frames.checkpointed)"])
            case .success:
                break
            case .failure(let error):
                logger.warning("wal checkpoint failed", metadata: ["error": "\(error)"])
            }
        }
    }
}
