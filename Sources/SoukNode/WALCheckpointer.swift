import Dispatch
public import Logging
public import ServiceLifecycle
public import SoukStore

/// Checkpoints the database's WAL every `period` on a thread of its own, so the copy and the fsync
/// never delay a write (see `SoukDatabase.checkpoint()`), until graceful shutdown.
public struct WALCheckpointer: Service {
    let database: SoukDatabase
    let period: Duration
    let logger: Logger
    private let queue = DispatchQueue(label: "souk.checkpointer", qos: .utility)

    public init(database: SoukDatabase, period: Duration = .seconds(1), logger: Logger) {
        self.database = database
        self.period = period
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let database = self.database
            let result: Result<(walFrames: Int, checkpointed: Int), any Error> = await withCheckedContinuation {
                continuation in
                queue.async { continuation.resume(returning: Result { try database.checkpoint() }) }
            }
            switch result {
            case .success(let frames) where frames.walFrames > 0:
                logger.trace("wal checkpoint", metadata: ["frames": "\(frames.walFrames)", "done": "\(frames.checkpointed)"])
            case .success:
                break
            case .failure(let error):
                logger.warning("wal checkpoint failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }
}
