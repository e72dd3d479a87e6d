/// The release, reported by `node.info`, `souk --version` and the user agent in `hello`.
public enum SoukVersion {
    public static let string = "0.1.0"
}
