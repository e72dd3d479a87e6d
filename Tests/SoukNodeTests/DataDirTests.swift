import Foundation
import SoukCrypto
import SoukNode
import Testing

@Suite("data dir: files, cookie, lock")
struct DataDirTests {
    @Test func layoutAndCreateMode() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root + "/node")
        #expect(!dir.exists)
        try dir.create()
        #expect(dir.exists)
        #expect(try NodeFixture.mode(dir.path) == 0o700)
        #expect(dir.keyFile == dir.path + "/identity.key")
        #expect(dir.configFile == dir.path + "/souk.conf")
        #expect(dir.databaseFile == dir.path + "/souk.sqlite")
        #expect(dir.cookieFile == dir.path + "/rpc.cookie")
        #expect(dir.lockFile == dir.path + "/daemon.lock")
        // A regular file is not a data dir.
        #expect(!DataDir(path: dir.configFile).exists)
    }

    @Test func tildeExpandsToHome() throws {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
        #expect(DataDir(path: "~/.souk").path == home + "/.souk")
        #expect(DataDir(path: "~").path == home)
        #expect(DataDir(path: "/srv/souk").path == "/srv/souk")
        #expect(DataDir(path: "~other/x").path == "~other/x")
    }

    @Test func identityIsWrittenOnceAndLoadedBack() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        #expect(!dir.hasIdentity)
        #expect(throws: NodeError.noIdentity(datadir: root)) { try dir.loadKeyFile() }
        #expect(NodeError.noIdentity(datadir: root).description.contains("souk init"))

        let key = NodeFixture.key(3)
        try dir.writeKeyFile(try KeyFile(key: key, passphrase: nil))
        #expect(dir.hasIdentity)
        #expect(try dir.loadKeyFile().unlock(passphrase: nil).publicKey == key.publicKey)
        // Never overwritten.
        #expect(throws: NodeError.identityExists(datadir: root)) {
            try dir.writeKeyFile(try KeyFile(key: NodeFixture.key(4), passphrase: nil))
        }
        #expect(try dir.loadKeyFile().unlock(passphrase: nil).publicKey == key.publicKey)
    }

    @Test func damagedKeyFileIsMalformed() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        try "{ not json".write(toFile: dir.keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dir.keyFile)
        #expect(throws: KeyFileError.malformed("not valid JSON")) { try dir.loadKeyFile() }
        // Written with the umask's 0644 it is refused first: it would be readable by other users.
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir.keyFile)
        #expect(throws: NodeError.self) { try dir.loadKeyFile() }
    }

    @Test func lockRefusesASecondHolderUntilReleased() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        let fd = try dir.lock()
        #expect(fd >= 0)
        #expect(throws: NodeError.dataDirInUse(datadir: root)) { try dir.lock() }
        // Another DataDir value for the same path is refused too.
        #expect(throws: NodeError.dataDirInUse(datadir: root)) { try DataDir(path: root).lock() }
        #expect(NodeError.dataDirInUse(datadir: root).description.contains("already using"))
        close(fd)
        let again = try dir.lock()
        #expect(again >= 0)
        close(again)
    }

    @Test func cookieIsPrivateAndFreshEachWrite() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        #expect(throws: NodeError.noCookie(path: dir.cookieFile)) { try dir.readCookie() }

        let first = try dir.writeCookie()
        #expect(try NodeFixture.mode(dir.cookieFile) == 0o600)
        #expect(try dir.readCookie() == first)
        #expect(try String(contentsOfFile: dir.cookieFile, encoding: .utf8) == first)
        #expect(first.hasPrefix("__cookie__:"))
        let secret = first.dropFirst("__cookie__:".count)
        #expect(secret.count == 64)
        #expect(Hex.decode(String(secret))?.count == 32)

        // Even if someone loosened the old file's mode, the new cookie is a new 0600 file.
        chmod(dir.cookieFile, 0o644)
        let second = try dir.writeCookie()
        #expect(second != first)
        #expect(try dir.readCookie() == second)
        #expect(try NodeFixture.mode(dir.cookieFile) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: dir.cookieFile + ".tmp"))

        dir.removeCookie()
        #expect(!FileManager.default.fileExists(atPath: dir.cookieFile))
        #expect(throws: NodeError.noCookie(path: dir.cookieFile)) { try dir.readCookie() }
        dir.removeCookie()  // idempotent
    }

    @Test func emptyCookieFileCountsAsNone() throws {
        let root = try NodeFixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = DataDir(path: root)
        try "\n".write(toFile: dir.cookieFile, atomically: true, encoding: .utf8)
        #expect(throws: NodeError.noCookie(path: dir.cookieFile)) { try dir.readCookie() }
    }
}
