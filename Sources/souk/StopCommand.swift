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
            let processGone = pid.map(Self.exited) ?? true
            if fileGone && processGone {
                options.printResult(["stopped": true]) { _ in "souk daemon stopped" }
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("the daemon did not stop within \(timeout) s")
    }

    /// Whether a process has exited: no such process, or a zombie its parent has not reaped yet
    /// (`kill(pid, 0)` still succeeds for those; `/proc/PID/stat` says `Z`).
    static func exited(_ pid: Int32) -> Bool {
        if kill(pid, 0) != 0 { return errno == ESRCH }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }
}
