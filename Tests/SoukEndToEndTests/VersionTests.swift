import Foundation
import Testing

/// `souk --version` names the release and the commit the binary was built from (recorded at build
/// time by Plugins/BuildInfoPlugin), so a bug report says exactly what ran.
@Suite("end to end: souk --version")
struct VersionTests {
    @Test func namesTheCommitOfThisCheckout() async throws {
        let result = try await Souk.run(["--version"])
        #expect(result.succeeded, "\(result)")
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let match = line.wholeMatch(of: /(\d+\.\d+\.\d+) \(commit ([0-9a-f]{12})(-dirty)?\)/)
        let parsed = try #require(match, "unexpected --version output: \(line)")
        // The binary under test is built from this checkout: its commit is HEAD here.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path),
            let head = Self.git(["-C", root.path, "rev-parse", "--short=12", "HEAD"])
        else { return }
        #expect(String(parsed.output.2) == head, "souk --version says \(line); this checkout is at \(head)")
    }

    static func git(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
