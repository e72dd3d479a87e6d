import Foundation
public import SoukCore
import SoukCrypto

/// The files of one node, under one directory (mode 0700):
/// `identity.key`, `souk.conf`, `souk.sqlite` (+ `-wal`, `-shm`), `rpc.cookie` (while the daemon
/// runs) and `daemon.lock`.
public struct DataDir: Sendable {
    public let path: String

    public init(path: String) {
        self.path = DataDir.expandTilde(path)
    }

    /// `$SOUK_DATADIR`, else `~/.souk`.
    public static var defaultPath: String {
        ProcessInfo.processInfo.environment["SOUK_DATADIR"] ?? "~/.souk"
    }

    public var keyFile: String { path + "/identity.key" }
    public var configFile: String { path + "/souk.conf" }
    public var databaseFile: String { path + "/souk.sqlite" }
    public var cookieFile: String { path + "/rpc.cookie" }
    public var lockFile: String { path + "/daemon.lock" }
    /// Written by the daemon once it is ready, removed when it stops: where its RPC (and P2P)
    /// listeners are, so clients find it without being told the port (as kubo's `api` file).
    public var apiFile: String { path + "/api" }
    /// The running daemon's process id, while it runs.
    public var pidFile: String { path + "/souk.pid" }

    public var exists: Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    public var hasIdentity: Bool { FileManager.default.fileExists(atPath: keyFile) }

    /// Refuses, in one sentence, a data dir that exists but this user cannot use (typically one
    /// that belongs to another user): without this check its files would look absent and the
    /// user would be told to run `souk init`.
    /// - Parameter write: whether the caller writes into it (the daemon, `init`) or only reads.
    public func checkAccess(write: Bool = false) throws(NodeError) {
        guard exists, access(path, R_OK | X_OK | (write ? W_OK : 0)) != 0 else { return }
        var info = stat()
        var owner = "another user"
        if stat(path, &info) == 0 {
            if let pw = getpwuid(info.st_uid), let name = pw.pointee.pw_name {
                owner = String(cString: name)
            } else {
                owner = "uid \(info.st_uid)"
            }
        }
        let mode = String(info.st_mode & 0o777, radix: 8)
        throw .io(
            "cannot use the data dir \(path): permission denied (it belongs to \(owner), mode \(mode)) — "
                + "run souk as \(owner), or choose another --datadir")
    }

    /// Creates the directory (0700) if missing.
    public func create() throws {
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// Loads `identity.key`.
    /// - Throws: `NodeError.noIdentity` when there is none, `KeyFileError` when it cannot be unlocked.
    /// - Throws: `NodeError` in one sentence: no identity, a key file other users can read (it holds
    /// the secret key; refused until `chmod 600`), or one this user cannot read.
    public func loadKeyFile() throws -> KeyFile {
        try checkAccess()
        guard hasIdentity else { throw NodeError.noIdentity(datadir: path) }
        var info = stat()
        if stat(keyFile, &info) == 0, info.st_mode & 0o077 != 0 {
            throw NodeError.io(
                "\(keyFile) can be read by other users (mode \(String(info.st_mode & 0o777, radix: 8))); "
                    + "it holds the node's secret key: run `chmod 600 \(keyFile)`")
        }
        guard let data = FileManager.default.contents(atPath: keyFile) else {
            throw NodeError.io(
                "cannot read \(keyFile): permission denied (does the data dir belong to another user?)")
        }
        do {
            return try JSONDecoder().decode(KeyFile.self, from: data)
        } catch {
            throw KeyFileError.malformed("not valid JSON")
        }
    }

    /// Writes `identity.key` with mode 0600; refuses to overwrite an existing identity.
    public func writeKeyFile(_ keyFile: KeyFile) throws {
        guard !hasIdentity else { throw NodeError.identityExists(datadir: path) }
        try Self.writeKeyFile(keyFile, to: self.keyFile)
    }

    /// Replaces the identity's key file with another sealing of the same key (a new passphrase):
    /// written to a temporary file (0600), fsynced, then renamed over the old one.
    /// - Throws: `NodeError.noIdentity`, or `.conflict` when `keyFile` holds another key.
    public func replaceKeyFile(_ keyFile: KeyFile) throws {
        let current = try loadKeyFile()
        guard current.publicKey == keyFile.publicKey else {
            throw NodeError.conflict("the new key file holds another identity; refusing to replace \(self.keyFile)")
        }
        try Self.writeKeyFile(keyFile, to: self.keyFile)
    }

    /// Writes a key file (mode 0600) at any path, for example a backup.
    public static func writeKeyFile(_ keyFile: KeyFile, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DataDir(path: (path as NSString).deletingLastPathComponent).writePrivate(encoder.encode(keyFile), to: path)
    }

    /// Writes a fresh RPC cookie `__cookie__:<64 hex>` (mode 0600) and returns the full line.
    public func writeCookie() throws -> String {
        let line = "__cookie__:" + Hex.encode(secureRandomBytes(32))
        try writePrivate(Data(line.utf8), to: cookieFile)
        return line
    }

    /// Reads the cookie line the daemon wrote.
    public func readCookie() throws -> String {
        guard let data = FileManager.default.contents(atPath: cookieFile),
            let s = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty
        else { throw NodeError.noCookie(path: cookieFile) }
        return s
    }

    public func removeCookie() { try? FileManager.default.removeItem(atPath: cookieFile) }

    /// Where a running daemon listens, as the `api` file says.
    public struct APIAddress: Sendable, Equatable {
        public var rpc: HostPort
        public var p2p: HostPort?
        public var pid: Int32

        public init(rpc: HostPort, p2p: HostPort?, pid: Int32) {
            self.rpc = rpc
            self.p2p = p2p
            self.pid = pid
        }
    }

    /// Writes the `api` file (`rpc HOST:PORT`, `p2p HOST:PORT`, `pid N`, one per line) and the pid
    /// file. Files a crashed daemon left behind are replaced.
    public func writeRunFiles(_ address: APIAddress) throws {
        var text = "rpc \(address.rpc)\npid \(address.pid)\n"
        if let p2p = address.p2p { text += "p2p \(p2p)\n" }
        try writePrivate(Data(text.utf8), to: apiFile)
        try writePrivate(Data("\(address.pid)\n".utf8), to: pidFile)
    }

    /// Removes the `api` and pid files (on shutdown).
    public func removeRunFiles() {
        try? FileManager.default.removeItem(atPath: apiFile)
        try? FileManager.default.removeItem(atPath: pidFile)
    }

    /// The daemon's addresses from the `api` file, or `nil` when there is none, it does not parse,
    /// or the process it names is gone (a stale file from a crash).
    public func readAPIFile() -> APIAddress? {
        guard let data = FileManager.default.contents(atPath: apiFile), let text = String(data: data, encoding: .utf8)
        else { return nil }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let rpc = fields["rpc"].flatMap(HostPort.init), let pid = fields["pid"].flatMap(Int32.init), pid > 0,
            kill(pid, 0) == 0 || errno == EPERM
        else { return nil }
        return APIAddress(rpc: rpc, p2p: fields["p2p"].flatMap(HostPort.init), pid: pid)
    }

    /// Creates the file with mode 0600 before any secret is written into it.
    func writePrivate(_ data: Data, to file: String) throws {
        let tmp = file + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw NodeError.io("cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let ok = data.withUnsafeBytes { buf -> Bool in
            var off = 0
            while off < buf.count {
                let n = write(fd, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { return false }
                off += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(tmp, file) == 0 else {
            unlink(tmp)
            throw NodeError.io("cannot write \(file): \(String(cString: strerror(errno)))")
        }
    }

    /// Takes an exclusive lock so two daemons never share a data dir. Keep the descriptor open.
    /// - Returns: the lock's file descriptor.
    public func lock() throws -> Int32 {
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeError.io("cannot open \(lockFile): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw NodeError.dataDirInUse(datadir: path)
        }
        return fd
    }

    static func expandTilde(_ p: String) -> String {
        guard p == "~" || p.hasPrefix("~/") else { return p }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        return home + p.dropFirst()
    }
}
