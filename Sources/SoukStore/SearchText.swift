/// What people type into search, turned into an FTS5 expression (see `Specs/objects.md` is silent
/// on search; the rules are in the README's Search section and `listing.search` in openrpc.json).
///
/// - Words are runs of letters and digits, lower-cased; everything else separates them, so no FTS5
///   syntax leaks through. Words are AND-ed.
/// - `a OR b` matches either side (the upper-case word `OR` between two terms).
/// - `"road bike"` is a phrase: those words next to each other, in that order.
/// - `bik*` matches words starting with `bik` (at least 2 letters before the star). The prefix is
///   stemmed like any word, so one ending in `y` can miss (`bicy*` becomes `bici*`; `bicyc*` works).
/// - A word in the synonym table also matches its synonyms (`bike` finds "bicycle").
/// - The index stems English (FTS5 `porter` over `unicode61 remove_diacritics 2`), so `bikes`
///   finds "bike" and `velo` finds "vélo"; query words go through the same tokenizer.
/// - Text with no word at all (`"`, `((`, an emoji) is refused, never "everything".
public enum SearchText {
    /// At most this many terms are used.
    public static let maxTerms = 16

    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case noSearchableWords
        public var description: String {
            "the query has no word to search for (letters or digits); leave it empty to list by filters alone"
        }
    }

    private enum Token: Equatable {
        case word(String, prefix: Bool)
        case phrase([String])
        case or
    }

    /// The FTS5 MATCH expression for `text`; `nil` for empty or all-blank text.
    /// - Throws: `Failure.noSearchableWords` when the text has characters but no word.
    public static func expression(_ text: String) throws(Failure) -> String? {
        guard !text.allSatisfy(\.isWhitespace) else { return nil }
        let tokens = tokenize(text)
        var groups: [[String]] = []
        var joinNext = false
        for token in tokens {
            let term: String
            switch token {
            case .or:
                joinNext = !groups.isEmpty
                continue
            case .word(let w, let prefix):
                term = prefix ? "\"\(w)\"*" : synonymTerm(w)
            case .phrase(let words):
                term = "\"" + words.joined(separator: " ") + "\""
            }
            if joinNext, !groups.isEmpty {
                groups[groups.count - 1].append(term)
            } else {
                groups.append([term])
            }
            joinNext = false
            if groups.count >= maxTerms { break }
        }
        guard !groups.isEmpty else { throw .noSearchableWords }
        // FTS5 needs an explicit AND next to a parenthesised group.
        return groups.map { $0.count == 1 ? $0[0] : "(" + $0.joined(separator: " OR ") + ")" }
            .joined(separator: " AND ")
    }

    /// `"w"`, or `("w" OR "synonym" …)` when the word has synonyms.
    static func synonymTerm(_ word: String) -> String {
        guard let group = Synonyms.group(of: word) else { return "\"\(word)\"" }
        return "(" + ([word] + group.filter { $0 != word }).map { "\"\($0)\"" }.joined(separator: " OR ") + ")"
    }

    private static func tokenize(_ text: String) -> [Token] {
        var tokens: [Token] = []
        var word = ""
        var inPhrase = false
        var phrase: [String] = []
        func endWord(prefix: Bool = false) {
            guard !word.isEmpty else { return }
            if inPhrase {
                phrase.append(word)
            } else if word == "OR" {
                tokens.append(.or)
            } else {
                tokens.append(.word(word.lowercased(), prefix: prefix && word.count >= 2))
            }
            word = ""
        }
        for scalar in text.unicodeScalars {
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                word.unicodeScalars.append(scalar)
            } else if scalar == "*" && !inPhrase {
                endWord(prefix: true)
            } else if scalar == "\"" {
                endWord()
                if inPhrase, !phrase.isEmpty { tokens.append(.phrase(phrase.map { $0.lowercased() })) }
                phrase = []
                inPhrase.toggle()
            } else {
                endWord()
            }
        }
        endWord()
        if inPhrase, !phrase.isEmpty { tokens.append(.phrase(phrase.map { $0.lowercased() })) }
        return tokens
    }
}

/// A small table of words people use for the same thing in a marketplace, applied at query time
/// (the index is not changed). Stemming alone never makes `bike` find "bicycle"; this does. Groups
/// are English; every word in a group finds every other.
public enum Synonyms {
    public static let groups: [[String]] = [
        ["bike", "bicycle", "cycle"],
        ["motorbike", "motorcycle"],
        ["sofa", "couch", "settee"],
        ["tv", "television"],
        ["phone", "mobile", "smartphone", "cellphone"],
        ["laptop", "notebook"],
        ["fridge", "refrigerator"],
        ["pram", "stroller", "pushchair", "buggy"],
        ["wardrobe", "closet"],
        ["jumper", "sweater", "pullover"],
        ["trainers", "sneakers"],
        ["flat", "apartment"],
        ["car", "automobile"],
        ["headphones", "headset", "earphones"],
        ["cupboard", "cabinet"],
    ]

    private static let index: [String: [String]] = {
        var out: [String: [String]] = [:]
        for g in groups { for w in g { out[w] = g } }
        return out
    }()

    /// The group a word belongs to, or `nil`.
    public static func group(of word: String) -> [String]? { index[word] }
}
