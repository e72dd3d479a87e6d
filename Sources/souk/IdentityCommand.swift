import ArgumentParser
import Foundation
import SoukCrypto
import SoukNode
import SoukRPC

/// `souk identity`: change or add the passphrase of the identity key, export an encrypted backup,
/// import one into a new data dir (as `walletpassphrasechange` / `lncli changepassword`).
struct IdentityCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "identity", abstract: "Manage the node's identity key: passphrase, backup, restore.",
        subcommands: [PassphraseChange.self, Export.self, Import.self])

    /// The key of this data dir, unlocked with `--passphrase-file` (or a prompt) when encrypted.
    static func unlock(_ dir: DataDir, passphraseFile: String?) throws -> SigningKey {
        let file: KeyFile
        do { file = try dir.loadKeyFile() } catch { throw CLIError("\(error)") }
        let passphrase =
            file.isEncrypted
            ? try Passphrase.obtain(file: passphraseFile, prompt: "Current passphrase: ", confirm: false) : nil
        do {
            return try file.unlock(passphrase: passphrase)
        } catch {
            throw CLIError("\(error)", kind: .refused)
        }
    }

    struct PassphraseChange: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passphrase",
            abstract: "Change, add or remove the identity key's passphrase (the node id stays the same).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The current passphrase, from this file's first line (if the key is encrypted).")
        var passphraseFile: String?
        @Option(help: "The new passphrase, from this file's first line.") var newPassphraseFile: String?
        @Flag(help: "Store the key without a passphrase.") var removePassphrase = false

        func run() async throws {
            let dir = options.dataDir
            let key = try IdentityCommand.unlock(dir, passphraseFile: passphraseFile)
            let new =
                removePassphrase
                ? nil : try Passphrase.obtain(file: newPassphraseFile, prompt: "New passphrase: ", confirm: true)
            if !removePassphrase && new == nil {
                throw CLIError(
                    "give --new-passphrase-file, type one on a terminal, or --remove-passphrase", kind: .refused)
            }
            do {
                try dir.replaceKeyFile(try KeyFile(key: key, passphrase: new))
            } catch {
                throw CLIError("\(error)")
            }
            options.printResult(["node_id": .string(Hex.encode(key.publicKey)), "encrypted": .bool(new != nil)]) { _ in
                new == nil ? "identity key stored without a passphrase" : "identity key passphrase changed"
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an encrypted backup of the identity key (always sealed with a backup passphrase).")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The current passphrase, from this file's first line (if the key is encrypted).")
        var passphraseFile: String?
        @Option(help: "The backup's passphrase, from this file's first line.") var backupPassphraseFile: String?
        @Option(help: "Where to write the backup (refused if it exists).") var out: String

        func run() async throws {
            let key = try IdentityCommand.unlock(options.dataDir, passphraseFile: passphraseFile)
            guard
                let backup = try Passphrase.obtain(
                    file: backupPassphraseFile, prompt: "Backup passphrase: ", confirm: true)
            else { throw CLIError("a backup is always encrypted: give --backup-passphrase-file", kind: .refused) }
            guard !FileManager.default.fileExists(atPath: out) else {
                throw CLIError("\(out) exists; refusing to overwrite it", kind: .refused)
            }
            do {
                try DataDir.writeKeyFile(try KeyFile(key: key, passphrase: backup), to: out)
            } catch {
                throw CLIError("cannot write \(out): \(error)")
            }
            options.printResult(["node_id": .string(Hex.encode(key.publicKey)), "backup": .string(out)]) { _ in
                "encrypted backup of node \(Hex.encode(key.publicKey)) written to \(out)"
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore an identity from a backup into a data dir without one (then `souk daemon`).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The backup file.") var backupFile: String
        @Option(help: "The backup's passphrase, from this file's first line.") var backupPassphraseFile: String?
        @Option(help: "Passphrase for the restored key, from this file's first line (default: none).")
        var passphraseFile: String?

        func run() async throws {
            let dir = options.dataDir
            guard !dir.hasIdentity else {
                throw CLIError("\(NodeError.identityExists(datadir: dir.path))", kind: .refused)
            }
            guard let data = FileManager.default.contents(atPath: backupFile),
                let file = try? JSONDecoder().decode(KeyFile.self, from: data)
            else { throw CLIError("\(backupFile) is not a readable key file backup", kind: .refused) }
            let passphrase =
                file.isEncrypted
                ? try Passphrase.obtain(file: backupPassphraseFile, prompt: "Backup passphrase: ", confirm: false) : nil
            let key: SigningKey
            do { key = try file.unlock(passphrase: passphrase) } catch { throw CLIError("\(error)", kind: .refused) }
            let newPassphrase = try passphraseFile.flatMap {
                try Passphrase.obtain(file: $0, prompt: "", confirm: false)
            }
            do {
                try dir.create()
                try dir.writeKeyFile(try KeyFile(key: key, passphrase: newPassphrase))
            } catch {
                throw CLIError("\(error)")
            }
            options.printResult(["node_id": .string(Hex.encode(key.publicKey)), "datadir": .string(dir.path)]) { _ in
                "identity \(Hex.encode(key.publicKey)) restored in \(dir.path)"
            }
        }
    }
}
