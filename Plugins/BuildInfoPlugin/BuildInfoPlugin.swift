import Foundation
import PackagePlugin

/// Records the commit the `souk` executable is built from, for `souk --version`.
///
/// A build command writes `BuildInfo.swift` from `git rev-parse --short=12 HEAD` (with `-dirty`
/// when tracked files differ from it; `$SOUK_BUILD_COMMIT` instead when set at build time, for
/// builds from a source archive; `unknown` without either). Its inputs are the git files that
/// change with every commit, checkout or staging (`.git/HEAD`, `.git/index`, the current branch's
/// ref, `packed-refs`), so a new commit rewrites one file and relinks, and nothing else rebuilds.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo.swift")
        let git = package.appending(path: ".git")
        var inputs: [URL] = []
        for name in ["HEAD", "index", "packed-refs"] {
            let url = git.appending(path: name)
            if FileManager.default.fileExists(atPath: url.path) { inputs.append(url) }
        }
        if let head = try? String(contentsOf: git.appending(path: "HEAD"), encoding: .utf8),
            head.hasPrefix("ref: ")
        {
            let ref = git.appending(path: head.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines))
            if FileManager.default.fileExists(atPath: ref.path) { inputs.append(ref) }
        }
        let script = """
            c="$SOUK_BUILD_COMMIT"
            if [ -z "$c" ]; then
                c=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null) || c=""
                if [ -n "$c" ] && [ -n "$(git -C "$1" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
                    c="$c-dirty"
                fi
            fi
            case "$c" in ''|*[!0-9a-zA-Z.-]*) c=unknown ;; esac
            printf '// Generated at build time by Plugins/BuildInfoPlugin; do not edit.\\nenum BuildInfo {\\n    /// The commit this binary was built from.\\n    static let commit = "%s"\\n}\\n' "$c" > "$2"
            """
        var environment: [String: String] = [:]
        if let given = ProcessInfo.processInfo.environment["SOUK_BUILD_COMMIT"] { environment["SOUK_BUILD_COMMIT"] = given }
        if let path = ProcessInfo.processInfo.environment["PATH"] { environment["PATH"] = path }
        return [
            .buildCommand(
                displayName: "Recording the commit for souk --version",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "sh", package.path, output.path],
                environment: environment,
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}
