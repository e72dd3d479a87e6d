import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import SoukCore
import SoukCrypto
import SoukNode
import SoukRPC
import SoukStore

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the node in the foreground until SIGINT or SIGTERM.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Read the identity passphrase from this file's first line.")
    var passphraseFile: String?

    @Option(help: "Address the JSON-RPC server binds (default 127.0.0.1).")
    var rpcBind: String?

    @Flag(help: "Allow --rpc-bind to a non-loopback address (logged as a warning).")
    var rpcAllowRemote = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw CLIError("unknown --log-level \(logLevel)") }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "souk")
        let dir = options.dataDir
        guard dir.exists else {
            throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
        }
        var config: NodeConfig
        do { config = try NodeConfig.load(from: dir) } catch { throw CLIError("\(error)") }
        if let p = options.rpcPort { config.rpcPort = p }
        if let b = rpcBind { config.rpcBind = b }
        if rpcAllowRemote { config.rpcAllowRemote = true }

        let (identity, encrypted) = try unlockIdentity(dir)
        let lockFD: Int32
        do { lockFD = try dir.lock() } catch { throw CLIError("\(error)") }
        defer { close(lockFD) }

        let database: SoukDatabase
        do { database = try SoukDatabase.open(path: dir.databaseFile) } catch { throw CLIError("\(error)") }
        let node = MarketNode(identity: identity, database: database, network: config.network, logger: logger)

        if !Self.isLoopback(config.rpcBind) {
            guard config.rpcAllowRemote else {
                throw CLIError(
                    "refusing to bind JSON-RPC to non-loopback \(config.rpcBind): pass --rpc-allow-remote if you mean it")
            }
            logger.warning(
                "JSON-RPC is bound to a non-loopback address by operator choice",
                metadata: ["rpc.bind": "\(config.rpcBind)"])
        }
        let rpcHost = config.rpcBind
        let rpcPortHolder = PortHolder()
        let nodeRPC = NodeRPC(node: node) {
            [
                "rpc": ["host": .string(rpcHost), "port": .int(Int64(rpcPortHolder.port))],
                "datadir": .string(dir.path),
                "identity_encrypted": .bool(encrypted),
            ]
        }
        let rpcLogger = logger
        let dispatcher = RPCDispatcher(methods: nodeRPC.methods) { method, error in
            rpcLogger.error("rpc method failed", metadata: ["rpc.method": "\(method)", "error": "\(error)"])
        }
        let cookie: String
        do { cookie = try dir.writeCookie() } catch { throw CLIError("\(error)") }
        defer { dir.removeCookie() }
        let server: RPCServer
        do {
            server = try await RPCServer.bind(
                host: config.rpcBind, port: config.effectiveRPCPort, dispatcher: dispatcher,
                auth: RPCAuth(credentials: cookie), logger: logger)
        } catch {
            throw CLIError("cannot listen for JSON-RPC on \(config.rpcBind):\(config.effectiveRPCPort): \(error)")
        }
        rpcPortHolder.port = server.port
        let sweeper = ExpirySweeper(node: node, logger: logger)
        let group = ServiceGroup(
            services: [server, sweeper], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        logger.info(
            "souk daemon ready",
            metadata: [
                "node.id": "\(node.nodeID)", "network": "\(config.network.rawValue)",
                "rpc.address": "\(config.rpcBind):\(server.port)", "datadir": "\(dir.path)",
            ])
        // Scripts wait for this exact line on stdout.
        FileHandle.standardOutput.write(
            Data("souk daemon ready: node \(node.nodeID) rpc \(config.rpcBind):\(server.port)\n".utf8))
        try await group.run()
        logger.info("souk daemon stopped")
    }

    private func unlockIdentity(_ dir: DataDir) throws -> (SigningKey, encrypted: Bool) {
        let file: KeyFile
        do { file = try dir.loadKeyFile() } catch { throw CLIError("\(error)") }
        var passphrase: [UInt8]? = nil
        if file.isEncrypted {
            passphrase = try Passphrase.obtain(file: passphraseFile, prompt: "Passphrase: ", confirm: false)
        }
        do {
            return (try file.unlock(passphrase: passphrase), file.isEncrypted)
        } catch {
            throw CLIError("\(error)")
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }
}

/// The RPC port is known only after binding; `node.info` reads it later.
final class PortHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    var port: Int {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}
