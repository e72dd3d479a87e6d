import Foundation
import Logging
import Synchronization

/// The daemon's log file: every line also goes here, besides stderr. When it passes `maxBytes` it
/// is renamed to `<path>.1` (replacing the previous one) and a new file is started, so it never
/// grows without bound. `reopen()` (on SIGHUP) starts writing to the path anew, for logrotate.
final class LogFile: Sendable {
    let path: String
    let maxBytes: Int
    private let state: Mutex<(handle: FileHandle?, size: Int)>

    init(path: String, maxBytes: Int = 10 * 1024 * 1024) throws {
        self.path = path
        self.maxBytes = maxBytes
        state = Mutex((nil, 0))
        try reopen()
    }

    /// Closes the file and opens `path` again (creating it, mode 0600), appending.
    func reopen() throws {
        try state.withLock { s in
            try s.handle?.close()
            if !FileManager.default.fileExists(atPath: path) {
                guard
                    FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
                else { throw CLIError("cannot create the log file \(path)") }
            }
            guard let handle = FileHandle(forWritingAtPath: path) else {
                throw CLIError("cannot open the log file \(path) for writing")
            }
            s.size = Int(try handle.seekToEnd())
            s.handle = handle
        }
    }

    func write(_ line: String) {
        let data = Data(line.utf8)
        state.withLock { s in
            if s.size + data.count > maxBytes, s.size > 0 {
                try? s.handle?.close()
                try? FileManager.default.removeItem(atPath: path + ".1")
                try? FileManager.default.moveItem(atPath: path, toPath: path + ".1")
                FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600])
                s.handle = FileHandle(forWritingAtPath: path)
                s.size = 0
            }
            try? s.handle?.write(contentsOf: data)
            s.size += data.count
        }
    }
}

/// A log handler that writes each line to stderr and to the log file.
struct TeeLogHandler: LogHandler {
    var stderr: StreamLogHandler
    let file: LogFile
    let label: String

    /// A daemon started by `--detach` logs to its file only.
    static let detached = ProcessInfo.processInfo.environment["SOUK_DETACHED"] == "1"

    init(label: String, file: LogFile) {
        self.label = label
        self.file = file
        stderr = StreamLogHandler.standardError(label: label)
    }

    var logLevel: Logger.Level {
        get { stderr.logLevel }
        set { stderr.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { stderr.metadata }
        set { stderr.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { stderr[metadataKey: key] }
        set { stderr[metadataKey: key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String,
        function: String, line: UInt
    ) {
        if !Self.detached {
            stderr.log(
                level: level, message: message, metadata: metadata, source: source, file: file, function: function,
                line: line)
        }
        let merged = self.metadata.merging(metadata ?? [:]) { _, new in new }
        let meta =
            merged.isEmpty
            ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let time = ISO8601DateFormatter().string(from: Date())
        self.file.write("\(time) \(level) \(label):\(meta) \(message)\n")
    }
}
