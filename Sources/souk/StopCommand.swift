import ArgumentParser
import Foundation
import SoukNode
import SoukRPC

/// `souk stop`: asks the daemon of this data dir to shut down (as `bitcoin-cli stop`), and waits
/// until it has.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop", abstract: "Stop the running daemon of this data dir and wait until it has exited.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Seconds to wait for the daemon to exit.")
    var timeout: Int = 30

    func run() async throws {
        let dir = options.dataDir
        let pid = dir.readAPIFile()?.pid
        _ = try options.call("node.stop")
        let deadline = Date().addingTimeInterval(Double(timeout))
        // Gone when its api file is removed (and, if we know its pid, the process has exited).
        while Date() < deadline {
            let fileGone = !FileManager.default.fileExists(atPath: dir.apiFile)
            let processGone = pid.map { kill($0, 0) != 0 && errno == ESRCH } ?? true
            if fileGone && processGone {
                options.printResult(["stopped": true]) { _ in "souk daemon stopped" }
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("the daemon did not stop within \(timeout) s")
    }
}
