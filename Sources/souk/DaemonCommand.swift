import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SoukCore
import SoukCrypto
import SoukNode
import SoukRPC
import SoukStore
import UnixSignals

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

    @Option(help: "P2P port to listen on (default: souk.conf, else 7421; testnet 17421; 0 picks a free port).")
    var p2pPort: Int?

    mutating func validate() throws {
        if let p2pPort, !(0...65_535).contains(p2pPort) {
            throw CLIError("--p2p-port must be 0 to 65535, got \(p2pPort)")
        }
        for (flag, value) in [("--max-inbound", maxInbound), ("--outbound-target", outboundTarget)] {
            if let value, !(0...10_000).contains(value) { throw CLIError("\(flag) must be 0 to 10000, got \(value)") }
        }
    }

    @Option(help: "Address the P2P listener binds (default 0.0.0.0).")
    var p2pBind: String?

    @Option(name: .customLong("connect"), help: "Peer HOST:PORT to keep connected (repeatable).")
    var connect: [String] = []

    @Option(help: "Most inbound peers (default 64).")
    var maxInbound: Int?

    @Option(help: "Outbound peers to keep (default 8).")
    var outboundTarget: Int?

    @Flag(
        help:
            "Only dial --connect / config peers: not addresses learned from other peers, nor neighbours on the local network."
    )
    var noDiscover = false

    @Flag(
        help:
            "Do not announce this node on the local network or dial neighbours that announce themselves (on by default on main, off on testnet)."
    )
    var noLocalDiscovery = false

    @Flag(name: .customLong("no-p2p"), help: "Run without networking (no P2P listener, no peers).")
    var noP2P = false

    @Option(help: "Network to join: main or testnet (default: souk.conf, else main).")
    var network: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(
        help:
            "Also log to this file (default <datadir>/souk.log; size-capped: past 10 MiB it moves to .1). SIGHUP reopens it."
    )
    var logFile: String?

    @Option(help: "Size of the log file, in KiB, past which it moves to <log file>.1 (default 10240).")
    var logMaxKib: Int = 10_240

    @Flag(help: "Start in the background and return once the daemon is ready (its log goes to the log file).")
    var detach = false

    @Flag(
        help:
            "Serve as an arbiter: acknowledge orders that name this node and sign due default exits (publish terms with `souk arbiter register`)."
    )
    var arbiter = false

    @Flag(
        help: "Offer mailbox service: hold deliveries for nodes that are offline and hand them over when they connect.")
    var mailbox = false

    @Flag(help: "As an arbiter, do not sign due default exits by yourself (souk.conf: arbiter-auto-defaults = false).")
    var noAutoDefaults = false

    @Option(help: "Testnet only: shift this node's clock by SECONDS (negative: behind), to test deadlines and skew.")
    var clockOffset: Int?

    func run() async throws {
        // Trap SIGTERM/SIGINT before anything else: a signal that arrives while the node starts is
        // buffered and shuts it down cleanly as soon as the services run.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        do { try options.dataDir.checkAccess(write: true) } catch { throw CLIError("\(error)") }
        if detach { return try await Self.runDetached(options.dataDir) }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw CLIError(
                "unknown --log-level \(logLevel); valid: \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))",
                kind: .refused)
        }
        let dir = options.dataDir
        guard dir.exists else {
            throw CLIError("no data dir at \(dir.path) — run `souk init --datadir \(dir.path)` first")
        }
        guard logMaxKib >= 1 else { throw CLIError("--log-max-kib must be at least 1", kind: .refused) }
        let logFile = try LogFile(path: self.logFile ?? dir.path + "/souk.log", maxBytes: logMaxKib * 1024)
        LoggingSystem.bootstrap { label in
            var handler = TeeLogHandler(label: label, file: logFile)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "souk")
        let config = try effectiveConfig(dir)
        let (identity, encrypted) = try unlockIdentity(dir)
        let lockFD: Int32
        do { lockFD = try dir.lock() } catch { throw CLIError("\(error)") }
        defer { close(lockFD) }

        if !HostPort.isLoopback(config.rpcBind) {
            guard config.rpcAllowRemote else {
                throw CLIError(
                    "refusing to bind JSON-RPC to non-loopback \(config.rpcBind): pass --rpc-allow-remote if you mean it"
                )
            }
            logger.warning(
                "JSON-RPC is bound to a non-loopback address by operator choice",
                metadata: ["rpc.bind": "\(config.rpcBind)"])
        }
        let assembly: NodeAssembly
        let offset = Int64(clockOffset ?? 0)
        let systemClock = MarketNode.systemClock
        let clock: @Sendable () -> UInt64 = { UInt64(max(0, Int64(systemClock()) + offset)) }
        do {
            assembly = try await NodeAssembly.assemble(
                config: config, identity: identity, databasePath: dir.databaseFile, networking: !noP2P, clock: clock,
                logger: logger)
        } catch {
            throw CLIError(error.description)
        }
        let node = assembly.node
        let peerManager = assembly.peers
        let p2pAddress = assembly.p2pAddress
        let rpcHost = config.rpcBind
        let rpcPortHolder = PortHolder()
        // `node.stop` (souk stop) shuts down like SIGTERM does.
        let (stopRequests, stopContinuation) = AsyncStream.makeStream(of: Void.self)
        let info: @Sendable () async -> [String: JSONValue] = {
            [
                "p2p": p2pAddress.map { ["host": .string($0.host), "port": .int(Int64($0.port))] } ?? .null,
                "rpc": ["host": .string(rpcHost), "port": .int(Int64(rpcPortHolder.port))],
                "datadir": .string(dir.path),
                "identity_encrypted": .bool(encrypted),
            ]
        }
        let nodeRPC = NodeRPC(node: node, peers: peerManager, stop: { _ = stopContinuation.yield() }, info: info)
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
            throw CLIError(
                NodeError.listenFailure(
                    error, what: "JSON-RPC", address: HostPort(host: config.rpcBind, port: config.effectiveRPCPort),
                    flag: "--rpc-port"))
        }
        rpcPortHolder.port = server.port
        let group = ServiceGroup(services: [server] + assembly.services, gracefulShutdownSignals: [], logger: logger)
        logger.info(
            "souk daemon ready",
            metadata: [
                "node.id": "\(node.nodeID)", "network": "\(config.network.rawValue)",
                "rpc.address": "\(config.rpcBind):\(server.port)", "datadir": "\(dir.path)",
            ])
        // Scripts wait for this exact line on stdout.
        do {
            try dir.writeRunFiles(
                DataDir.APIAddress(
                    rpc: HostPort(host: config.rpcBind, port: server.port), p2p: p2pAddress, pid: getpid()))
        } catch {
            throw CLIError("\(error)")
        }
        defer { dir.removeRunFiles() }
        if let peerManager, let hint = await peerManager.noPeersHint() { logger.warning("\(hint)") }
        FileHandle.standardOutput.write(
            Data(
                ("souk daemon ready: node \(node.nodeID) rpc \(config.rpcBind):\(server.port)"
                    + (p2pAddress.map { " p2p \($0.host):\($0.port)" } ?? "") + "\n").utf8))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            tasks.addTask {
                for await signal in signals {
                    logger.info("signal received; shutting down", metadata: ["signal": "\(signal)"])
                    await group.triggerGracefulShutdown()
                }
            }
            tasks.addTask {
                // SIGHUP reopens the log file (after logrotate moved it); it does not stop the node.
                for await _ in hangups {
                    do {
                        try logFile.reopen()
                        logger.info("SIGHUP: log file reopened", metadata: ["log.file": "\(logFile.path)"])
                    } catch {
                        logger.error("SIGHUP: cannot reopen the log file", metadata: ["error": "\(error)"])
                    }
                }
            }
            tasks.addTask {
                for await _ in stopRequests {
                    logger.info("stop requested over JSON-RPC; shutting down")
                    await group.triggerGracefulShutdown()
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
        logger.info("souk daemon stopped")
    }

    /// `--detach`: starts this same command without `--detach` in the background (its output to
    /// /dev/null; the log file has it), waits until its `api` file names it, prints the ready line
    /// and returns. A daemon that fails to start is reported with the last lines of its log.
    static func runDetached(_ dir: DataDir) async throws {
        let arguments = CommandLine.arguments.dropFirst().filter { $0 != "--detach" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        if !FileManager.default.fileExists(atPath: process.executableURL!.path) {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        }
        process.arguments = Array(arguments)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        // The child logs to its log file only; what it prints before that (a refusal) lands here.
        let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("souk-detach-\(getpid()).err")
            .path
        FileManager.default.createFile(atPath: errorPath, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        process.standardError = FileHandle(forWritingAtPath: errorPath)
        var environment = ProcessInfo.processInfo.environment
        environment["SOUK_DETACHED"] = "1"
        process.environment = environment
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let api = dir.readAPIFile(), api.pid == process.processIdentifier {
                print(
                    "souk daemon started in the background: pid \(api.pid), rpc \(api.rpc)"
                        + (api.p2p.map { ", p2p \($0)" } ?? ""))
                return
            }
            if !process.isRunning {
                let text = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
                let last = text.split(separator: "\n").last.map(String.init) ?? "exit \(process.terminationStatus)"
                throw CLIError(last.hasPrefix("Error: ") ? String(last.dropFirst(7)) : last)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("the daemon did not become ready within 60 s (see its log file)")
    }

    /// `souk.conf` with the command-line flags applied on top.
    private func effectiveConfig(_ dir: DataDir) throws -> NodeConfig {
        var config: NodeConfig
        do { config = try NodeConfig.load(from: dir) } catch { throw CLIError("\(error)") }
        if let network {
            guard let n = NodeConfig.Network(rawValue: network) else {
                throw CLIError(
                    "unknown --network \(network); valid: \(NodeConfig.Network.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            config.network = n
        }
        if let p = options.rpcPort { config.rpcPort = p }
        if let b = rpcBind { config.rpcBind = b }
        if rpcAllowRemote { config.rpcAllowRemote = true }
        if let p = p2pPort { config.p2pPort = p }
        if let b = p2pBind { config.p2pBind = b }
        if let m = maxInbound { config.maxInbound = m }
        if let o = outboundTarget { config.outboundTarget = o }
        if noDiscover { config.discover = false }
        if noLocalDiscovery { config.localDiscovery = false }
        if arbiter { config.arbiter = true }
        if mailbox { config.mailbox = true }
        if noAutoDefaults { config.arbiterAutoDefaults = false }
        if let clockOffset {
            guard config.network != .main else {
                throw CLIError(
                    "--clock-offset is for testnet only; the main network runs on the real clock", kind: .refused)
            }
            guard abs(clockOffset) <= 365 * 86_400 else {
                throw CLIError("--clock-offset must be within a year, got \(clockOffset)", kind: .refused)
            }
        }
        for c in connect {
            guard HostPort(c) != nil else { throw CLIError("--connect must be HOST:PORT, got \"\(c)\"") }
        }
        config.peers += connect
        return config
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
