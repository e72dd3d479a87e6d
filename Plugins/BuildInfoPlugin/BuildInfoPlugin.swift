import Foundation
import PackagePlugin

/// Records the commit the `souk` executable is built from, for `souk --version`.
///
/// On every build it asks git for the checkout's commit (`git rev-parse --short=12 HEAD`, with
/// `-dirty` when tracked files differ from it; `$SOUK_BUILD_COMMIT` instead when set, for builds
/// from a source archive; `unknown` when neither is available) and writes it to a stamp file in
/// its work directory, rewriting it only when it changed. A build command copies the stamp into
/// `BuildInfo.swift`, so a new commit recompiles one file and relinks, and an unchanged one
/// rebuilds nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let work = context.pluginWorkDirectoryURL
        let commit = Self.commit(in: context.package.directoryURL)
        let text = """
            // Generated at build time by Plugins/BuildInfoPlugin; do not edit.
            enum BuildInfo {
                /// The commit this binary was built from.
                static let commit = "\(commit)"
            }

            """
        let stamp = work.appending(path: "BuildInfo.stamp")
        if (try? String(contentsOf: stamp, encoding: .utf8)) != text {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            try text.write(to: stamp, atomically: true, encoding: .utf8)
        }
        let output = work.appending(path: "BuildInfo.swift")
        return [
            .buildCommand(
                displayName: "Recording commit \(commit) for souk --version",
                executable: URL(fileURLWithPath: "/bin/cp"),
                arguments: [stamp.path, output.path],
                inputFiles: [stamp],
                outputFiles: [output])
        ]
    }

    static func commit(in directory: URL) -> String {
        if let given = ProcessInfo.processInfo.environment["SOUK_BUILD_COMMIT"], !given.isEmpty,
            given.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })
        {
            return given
        }
        guard let head = git(["rev-parse", "--short=12", "HEAD"], in: directory), !head.isEmpty,
            head.allSatisfy(\.isHexDigit)
        else { return "unknown" }
        let status = git(["status", "--porcelain", "--untracked-files=no"], in: directory)
        return status?.isEmpty == false ? head + "-dirty" : head
    }

    static func git(_ arguments: [String], in directory: URL) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", directory.path] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
