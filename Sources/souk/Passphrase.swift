import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a passphrase from `--passphrase-file`, or asks on the terminal.
enum Passphrase {
    /// - Returns: the file's first line, or what was typed; `nil` when neither applies.
    static func obtain(file: String?, prompt: String, confirm: Bool) throws -> [UInt8]? {
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError("cannot read passphrase file \(file)")
            }
            // The first line, without its line ending: LF, or CRLF (one Character in Swift) from a
            // file saved on Windows.
            let line =
                String(decoding: data, as: UTF8.self).split(
                    omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
                ).first.map(String.init) ?? ""
            guard !line.isEmpty else { throw CLIError("passphrase file \(file) is empty") }
            return Array(line.utf8)
        }
        guard isatty(STDIN_FILENO) == 1 else { return nil }
        guard let first = readSecret(prompt) else { return nil }
        if first.isEmpty { return nil }
        if confirm {
            guard readSecret("Repeat passphrase: ") == first else { throw CLIError("passphrases do not match") }
        }
        return Array(first.utf8)
    }

    private static func readSecret(_ prompt: String) -> String? {
        guard let p = getpass(prompt) else { return nil }
        return String(cString: p)
    }
}
