import ArgumentParser
import Foundation
import SoukCrypto
import SoukNode
import SoukRPC

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a data dir with a new Ed25519 identity and a config file; prints the node id.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Encrypt the identity key with the passphrase on this file's first line.")
    var passphraseFile: String?

    @Option(help: "Network: main or testnet.")
    var network: String = "main"

    @Option(help: "P2P port written to souk.conf.")
    var p2pPort: Int?

    mutating func validate() throws {
        if let p2pPort, !(0...65_535).contains(p2pPort) {
            throw CLIError("--p2p-port must be 0 to 65535, got \(p2pPort)")
        }
    }

    func run() async throws {
        guard let net = NodeConfig.Network(rawValue: network) else {
            throw CLIError("--network must be main or testnet")
        }
        let dir = options.dataDir
        do { try dir.checkAccess(write: true) } catch { throw CLIError("\(error)") }
        guard !dir.hasIdentity else { throw CLIError(NodeError.identityExists(datadir: dir.path).description) }
        let passphrase = try Passphrase.obtain(
            file: passphraseFile, prompt: "Passphrase to encrypt the key (empty for none): ", confirm: true)
        try dir.create()
        let key = SigningKey.generate()
        try dir.writeKeyFile(try KeyFile(key: key, passphrase: passphrase))
        if !FileManager.default.fileExists(atPath: dir.configFile) {
            var config = NodeConfig()
            config.network = net
            config.rpcPort = options.rpcPort
            config.p2pPort = p2pPort
            try Data(config.rendered.utf8).write(to: URL(fileURLWithPath: dir.configFile))
        }
        let nodeID = Hex.encode(key.publicKey)
        if options.json {
            let result: JSONValue = [
                "node_id": .string(nodeID), "datadir": .string(dir.path), "encrypted": .bool(passphrase != nil),
                "network": .string(net.rawValue),
            ]
            print(result.pretty)
        } else {
            print(nodeID)
            FileHandle.standardError.write(
                Data(
                    "identity created in \(dir.path) (\(passphrase == nil ? "unencrypted, mode 0600" : "encrypted"))\n"
                        .utf8))
        }
    }
}
