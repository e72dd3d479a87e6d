import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Errors of the end-to-end harness itself (not of the code under test).
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The built `souk` executable the end-to-end tests run as real processes.
enum SoukBinary {
    /// Where `souk` is: `$SOUK_BINARY`, else next to the test bundle (same scratch path, same
    /// configuration), else `<package>/.build/debug/souk`.
    static func url() throws -> URL {
        var candidates: [URL] = []
        if let explicit = ProcessInfo.processInfo.environment["SOUK_BINARY"] {
            candidates.append(URL(fileURLWithPath: explicit))
        }
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.appendingPathComponent("souk"))
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("souk"))
        if let executable = Bundle.main.executableURL {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent("souk"))
        }
        for test in Bundle.allBundles where test.bundlePath.hasSuffix(".xctest") {
            candidates.append(test.bundleURL.deletingLastPathComponent().appendingPathComponent("souk"))
        }
        // Walk up from this file to the package root.
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                candidates.append(dir.appendingPathComponent(".build/debug/souk"))
                break
            }
            dir = dir.deletingLastPathComponent()
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate.standardizedFileURL
        }
        throw HarnessError(
            "the souk binary was not found (looked at: \(candidates.map(\.path).joined(separator: ", "))). "
                + "Run `swift build` before `swift test`, or set SOUK_BINARY to its path.")
    }
}

/// What a finished `souk` command did.
struct CommandResult: CustomStringConvertible {
    let arguments: [String]
    let status: Int32
    let signaled: Bool
    let stdout: String
    let stderr: String
    let seconds: Double

    var succeeded: Bool { !signaled && status == 0 }

    /// The one-line error message a failed command printed, without the `Error: ` prefix.
    var errorLine: String {
        let line = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.hasPrefix("Error: ") ? String(line.dropFirst("Error: ".count)) : line
    }

    var description: String {
        "souk \(arguments.joined(separator: " ")) → \(signaled ? "signal" : "exit") \(status) in "
            + String(format: "%.2f", seconds) + " s\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
    }
}

/// A scratch directory for one test; removed by `remove()`.
struct Scratch {
    let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("souk-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// A path inside the scratch directory (not created).
    func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// Writes a file and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Runs `souk` commands and daemons.
enum Souk {
    /// The longest any single command may take before the test fails.
    static let commandTimeout: Double = 30
    /// The longest a daemon may take to print its ready line, or to exit after a signal.
    static let daemonTimeout: Double = 20

    /// Runs `souk ARGS` to completion (stdin is /dev/null, so nothing can prompt).
    static func run(_ arguments: [String], timeout: Double = commandTimeout) async throws -> CommandResult {
        let started = Date()
        let out = try Output()
        defer { out.remove() }
        let process = Process()
        process.executableURL = try SoukBinary.url()
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out.stdoutHandle
        process.standardError = out.stderrHandle
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw HarnessError(
                    "souk \(arguments.joined(separator: " ")) did not finish within \(Int(timeout)) s; "
                        + "stderr: \(out.stderr())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        return CommandResult(
            arguments: arguments, status: process.terminationStatus,
            signaled: process.terminationReason == .uncaughtSignal, stdout: out.stdout(), stderr: out.stderr(),
            seconds: Date().timeIntervalSince(started))
    }

    /// Runs a command that must succeed and decodes its `--json` output.
    static func json<T: Decodable>(_ type: T.Type, _ arguments: [String]) async throws -> T {
        let result = try await run(arguments)
        guard result.succeeded else { throw HarnessError("command failed:\n\(result)") }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: Data(result.stdout.utf8))
        } catch {
            throw HarnessError("cannot decode \(T.self) from the output (\(error)):\n\(result)")
        }
    }

    /// Runs a command that must fail with a one-line `Error: …` on stderr; returns the result.
    static func failure(_ arguments: [String]) async throws -> CommandResult {
        let result = try await run(arguments)
        #expect(!result.succeeded, "expected a failure:\n\(result)")
        #expect(!result.signaled, "a refusal is an exit, not a crash:\n\(result)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "exactly one stderr line expected:\n\(result)")
        #expect(result.stderr.hasPrefix("Error: "), "\(result)")
        return result
    }

    /// A port nobody listens on right now: bind 127.0.0.1:0, read the port, close.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw HarnessError("bind(127.0.0.1:0) failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw HarnessError("getsockname failed") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// Temporary files that receive a child's stdout and stderr (pipes could fill up and block it).
final class Output: @unchecked Sendable {
    let stdoutURL: URL
    let stderrURL: URL
    let stdoutHandle: FileHandle
    let stderrHandle: FileHandle

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("souk-e2e-out-\(UUID().uuidString)")
        stdoutURL = base.appendingPathExtension("stdout")
        stderrURL = base.appendingPathExtension("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        stdoutHandle = try FileHandle(forWritingTo: stdoutURL)
        stderrHandle = try FileHandle(forWritingTo: stderrURL)
    }

    func stdout() -> String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    func stderr() -> String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

    func remove() {
        try? stdoutHandle.close()
        try? stderrHandle.close()
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
    }
}

/// A running `souk daemon` process. `stop()` (also called on deinit) kills it if it still runs,
/// so a failing test never leaves a daemon behind.
final class Daemon: @unchecked Sendable {
    let process: Process
    let output: Output
    let datadir: String
    /// From the ready line.
    let nodeID: String
    let port: Int
    let startupSeconds: Double

    var pid: Int32 { process.processIdentifier }
    var cookiePath: String { datadir + "/rpc.cookie" }

    private init(process: Process, output: Output, datadir: String, nodeID: String, port: Int, startupSeconds: Double) {
        self.process = process
        self.output = output
        self.datadir = datadir
        self.nodeID = nodeID
        self.port = port
        self.startupSeconds = startupSeconds
    }

    /// Starts `souk daemon --datadir D EXTRA…` and waits (bounded) for its ready line and cookie.
    /// - Throws: when the daemon exits first or is not ready within `Souk.daemonTimeout`.
    static func start(datadir: String, _ extra: [String] = []) async throws -> Daemon {
        let started = Date()
        let output = try Output()
        let process = Process()
        process.executableURL = try SoukBinary.url()
        // Local discovery off: daemons of concurrent tests on this host must not find each other.
        process.arguments = ["daemon", "--datadir", datadir, "--log-level", "info", "--no-local-discovery"] + extra
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output.stdoutHandle
        process.standardError = output.stderrHandle
        try process.run()
        let deadline = Date().addingTimeInterval(Souk.daemonTimeout)
        let prefix = "souk daemon ready: node "
        while true {
            let text = output.stdout()
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix(prefix) }),
                FileManager.default.fileExists(atPath: datadir + "/rpc.cookie")
            {
                // "souk daemon ready: node <id> rpc 127.0.0.1:<port>" (later fields, such as p2p, may follow)
                let words = line.split(separator: " ")
                guard words.count >= 7, words[3] == "node", words[5] == "rpc",
                    let port = words[6].split(separator: ":").last.flatMap({ Int($0) })
                else {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    throw HarnessError("unexpected ready line: \(line)")
                }
                return Daemon(
                    process: process, output: output, datadir: datadir, nodeID: String(words[4]), port: port,
                    startupSeconds: Date().timeIntervalSince(started))
            }
            if !process.isRunning {
                process.waitUntilExit()
                let stderr = output.stderr()
                output.remove()
                throw HarnessError(
                    "souk daemon exited with \(process.terminationStatus) before it was ready; stderr:\n\(stderr)")
            }
            if Date() > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let stderr = output.stderr()
                output.remove()
                throw HarnessError("souk daemon not ready within \(Int(Souk.daemonTimeout)) s; stderr:\n\(stderr)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var stdout: String { output.stdout() }
    var stderr: String { output.stderr() }

    /// Sends a signal and waits (bounded) for the process to end.
    /// - Returns: the exit status, and whether a signal ended the process.
    @discardableResult
    func signal(_ sig: Int32) async throws -> (status: Int32, signaled: Bool) {
        kill(pid, sig)
        let deadline = Date().addingTimeInterval(Souk.daemonTimeout)
        while process.isRunning {
            if Date() > deadline {
                kill(pid, SIGKILL)
                process.waitUntilExit()
                throw HarnessError("souk daemon did not exit within \(Int(Souk.daemonTimeout)) s of signal \(sig)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    /// Kills the daemon if it still runs and drops its output files.
    func stop() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        output.remove()
    }

    deinit { stop() }
}

/// One HTTP/1.1 exchange over a plain socket, so the 401 check needs neither curl nor the project's client.
enum RawHTTP {
    /// Sends `request` to 127.0.0.1:`port` and reads until the server closes (10 s timeout).
    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw HarnessError("cannot connect to 127.0.0.1:\(port)") }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { break }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// A JSON-RPC POST with an optional `Authorization` header.
    static func post(port: Int, body: String, authorization: String?) throws -> String {
        var request = "POST / HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: application/json\r\n"
        request += "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n"
        if let authorization { request += "Authorization: \(authorization)\r\n" }
        return try exchange(port: port, request + "\r\n" + body)
    }

    static func basic(_ credentials: String) -> String {
        "Basic " + Data(credentials.utf8).base64EncodedString()
    }

    /// The status code of a raw response.
    static func status(_ response: String) -> Int? {
        let first = response.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = first.split(separator: " ")
        return parts.count >= 2 ? Int(parts[1]) : nil
    }
}

/// The JSON shapes the CLI prints with `--json` (see `Specs/openrpc.json`).
struct ListingJSON: Decodable, Equatable {
    let listingId: String
    let objectId: String
    let seller: String
    let version: Int
    let title: String
    let description: String
    let price: String
    let priceMinor: Int
    let currency: String
    let category: String
    let location: String
    let country: String
    let quantity: Int
    let condition: String
    let tags: [String]
    let createdAt: Int
    let updatedAt: Int
    let expiresAt: Int
    let status: String
    let envelope: String
}

struct SearchJSON: Decodable {
    let results: [ListingJSON]
    let nextCursor: String?
    let truncated: Bool

    var titles: [String] { results.map(\.title) }
}

struct MineJSON: Decodable {
    let listings: [ListingJSON]
}

struct RetractJSON: Decodable {
    let listingId: String
    let objectId: String
    let retractedAt: Int
    let status: String
}

struct InitJSON: Decodable {
    let nodeId: String
    let datadir: String
    let encrypted: Bool
    let network: String
}

struct NodeInfoJSON: Decodable {
    struct Counts: Decodable {
        let active: Int
        let retracted: Int
    }
    struct RPC: Decodable {
        let host: String
        let port: Int
    }
    let nodeId: String
    let network: String
    let version: String
    let listings: Counts
    let rpc: RPC
    let datadir: String
    let identityEncrypted: Bool
    let uptimeSeconds: Int
}
