// souk-bench: Souk's ingest and search figures, measured side by side in one run.
//
//   swift run -c release --scratch-path .build-store souk-bench [--listings N] [--quick]
//
// Prints (a) raw libsodium Ed25519 verifies/s, (b) listing ingest/s (decode + verify + apply into a
// real temp-file SQLite database) per object and in batches, (c) ingest / raw-verify ratios, and
// (d) search latency p50/p99 over N generated listings. Every loop is bounded by a count.
// See Benchmarks/README.md for the figures measured on the reference machine.

import Dispatch
import Foundation
import SoukCore
import SoukCrypto
import SoukStore

#if canImport(Glibc)
    import Glibc
#endif

// MARK: - Options

struct Options {
    var listings = 100_000
    var verifySeconds = 2.0
    var searchRuns = 200
    var batchSize = 500
    /// How many listings each ingest path is measured on (at most a fifth of the corpus).
    var measuredIngest = 10_000
    /// `--make-store PATH`: only write a store of `listings` listings there (for node-level benchmarks).
    var makeStore: String?
    /// `--reputation`: only the trust score over a generated graph (identities, edges).
    var reputation: (identities: Int, edges: Int)?

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 0
        while i < args.count {
            switch args[i] {
            case "--listings":
                guard i + 1 < args.count, let n = Int(args[i + 1]), n >= 100, n <= 10_000_000 else {
                    fail("--listings needs a number between 100 and 10000000")
                }
                o.listings = n
                i += 1
            case "--batch":
                guard i + 1 < args.count, let n = Int(args[i + 1]), n >= 1, n <= 100_000 else {
                    fail("--batch needs a number between 1 and 100000")
                }
                o.batchSize = n
                i += 1
            case "--make-store":
                guard i + 1 < args.count else { fail("--make-store needs a path") }
                o.makeStore = args[i + 1]
                i += 1
            case "--reputation":
                o.reputation = (100_000, 1_000_000)
            case "--quick":
                o.listings = 3_000
                o.verifySeconds = 0.5
                o.searchRuns = 50
            case "-h", "--help":
                print(
                    "usage: souk-bench [--listings N (default 100000)] [--batch N] [--quick] [--make-store PATH] [--reputation]"
                )
                exit(0)
            default:
                fail("unknown option \(args[i]); try --help")
            }
            i += 1
        }
        return o
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("souk-bench: \(message)\n".utf8))
    exit(2)
}

// MARK: - Small helpers

extension SplitMix64 {
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Deterministic generator, so every run builds the same corpus.

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
    var milliseconds: Double { seconds * 1_000 }
}

/// CPU seconds used by the calling thread (or the whole process): unlike wall time, not inflated
/// when other processes compete for the cores.
func cpuSeconds(process: Bool = false) -> Double {
    var ts = timespec()
    clock_gettime(process ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func loadAverage() -> String {
    let raw = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
    return raw.split(separator: " ").prefix(3).joined(separator: " ")
}

final class Box<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

func format(_ x: Double, _ decimals: Int = 0) -> String { String(format: "%.\(decimals)f", x) }

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

// MARK: - Corpus

/// Word lists for realistic titles and descriptions.
enum Words {
    static let items: [(noun: String, category: String, minPrice: UInt64, maxPrice: UInt64)] = [
        ("road bicycle", "bikes", 8_000, 150_000), ("mountain bike", "bikes", 10_000, 250_000),
        ("city bicycle", "bikes", 5_000, 60_000), ("kids bicycle", "bikes", 2_000, 15_000),
        ("bicycle helmet", "bikes", 1_000, 8_000), ("cargo bike", "bikes", 50_000, 400_000),
        ("sofa", "furniture", 5_000, 120_000), ("dining table", "furniture", 4_000, 90_000),
        ("bookshelf", "furniture", 1_500, 30_000), ("office chair", "furniture", 2_000, 40_000),
        ("wardrobe", "furniture", 3_000, 60_000), ("desk lamp", "furniture", 500, 8_000),
        ("smartphone", "electronics", 5_000, 120_000), ("laptop", "electronics", 10_000, 250_000),
        ("tablet", "electronics", 5_000, 90_000), ("headphones", "electronics", 1_000, 40_000),
        ("camera", "electronics", 8_000, 300_000), ("monitor", "electronics", 3_000, 80_000),
        ("turntable", "electronics", 4_000, 100_000), ("guitar", "music", 5_000, 300_000),
        ("digital piano", "music", 15_000, 200_000), ("violin", "music", 8_000, 500_000),
        ("drum kit", "music", 10_000, 150_000), ("winter jacket", "clothing", 1_000, 30_000),
        ("leather boots", "clothing", 1_500, 25_000), ("wool sweater", "clothing", 800, 12_000),
        ("running shoes", "sports", 1_000, 15_000), ("tennis racket", "sports", 1_000, 20_000),
        ("snowboard", "sports", 5_000, 60_000), ("kayak", "sports", 15_000, 200_000),
        ("tent", "sports", 2_000, 50_000), ("coffee machine", "kitchen", 2_000, 150_000),
        ("stand mixer", "kitchen", 5_000, 60_000), ("cast iron pan", "kitchen", 1_000, 10_000),
        ("kettle", "kitchen", 500, 6_000), ("lego set", "toys", 1_000, 50_000),
        ("board game", "toys", 500, 8_000), ("pram", "baby", 5_000, 90_000),
        ("car seat", "baby", 3_000, 40_000), ("lawn mower", "garden", 5_000, 80_000),
        ("cordless drill", "tools", 2_000, 30_000), ("workbench", "tools", 3_000, 40_000),
    ]
    static let adjectives = [
        "vintage", "modern", "classic", "compact", "lightweight", "sturdy", "beautiful", "rare", "practical",
        "elegant", "robust", "retro", "handmade", "professional", "small", "large", "foldable", "wooden",
        "electric", "premium",
    ]
    static let brands = [
        "Peugeot", "Gazelle", "Trek", "Cube", "IKEA", "Samsung", "Apple", "Sony", "Canon", "Nikon", "Yamaha",
        "Fender", "Bosch", "Makita", "Lego", "Patagonia", "Fjallraven", "DeLonghi", "KitchenAid", "Stokke",
        "Thule", "Vitra", "Philips", "Garmin",
    ]
    static let colours = ["black", "white", "red", "blue", "green", "grey", "silver", "brown", "yellow", "orange"]
    static let places: [(city: String, country: String, currency: String)] = [
        ("Berlin Kreuzberg", "DE", "EUR"), ("Hamburg Altona", "DE", "EUR"), ("München", "DE", "EUR"),
        ("Köln", "DE", "EUR"), ("Paris 11e", "FR", "EUR"), ("Lyon", "FR", "EUR"), ("Madrid", "ES", "EUR"),
        ("Barcelona", "ES", "EUR"), ("Roma", "IT", "EUR"), ("Milano", "IT", "EUR"), ("Amsterdam", "NL", "EUR"),
        ("Wien", "AT", "EUR"), ("Warszawa", "PL", "PLN"), ("London Hackney", "GB", "GBP"), ("Manchester", "GB", "GBP"),
        ("Zürich", "CH", "CHF"), ("Stockholm", "SE", "SEK"), ("Praha", "CZ", "CZK"),
    ]
    static let tags = ["delivery", "negotiable", "pickup-only", "warranty", "bundle", "like-new", "repair-needed"]
    static let openings = [
        "Selling my %@ because I am moving abroad.", "Up for sale: a %@ that I no longer need.",
        "Our %@ is looking for a new home.", "Clearing out the flat, so this %@ has to go.",
        "Bought this %@ two years ago and barely used it.",
    ]
    static let conditionPhrases = [
        "It is in good condition with only light signs of use.", "Excellent condition, always kept indoors.",
        "Condition is as shown in the photos.", "Very good condition overall, fully working.",
        "Fair condition: a few scratches, nothing structural.",
    ]
    static let fillers = [
        "Comes with the original box and receipt.", "Smoke-free home, no pets.", "Price is negotiable within reason.",
        "Pick up in person preferred, shipping possible at the buyer's cost.", "Cash or bank transfer.",
        "Works perfectly, tested yesterday.", "Minor wear on the edges.", "Recently serviced.",
        "Happy to answer questions, just send a message.", "No returns, sold as seen.",
        "Includes a spare set of parts.", "Measurements available on request.",
    ]
    /// Appears in a handful of listings only.
    static let rare = "zeppelin"
    /// Appears in most descriptions (through `conditionPhrases`).
    static let common = "condition"
}

struct Corpus {
    var envelopes: [[UInt8]]
    var sellers: Int
    var rareListings: Int
    var commonListings: Int
    var payloadBytes: Int
}

/// Generates `n` signed listings, spread over the last 25 days in creation (= arrival) order.
func generateCorpus(n: Int, now: UInt64) -> Corpus {
    var rng = SplitMix64(seed: 0x50_0B)
    let sellerCount = max(1, n / 100)
    let keys = (0..<sellerCount).map { _ in try! SigningKey(seed: rng.bytes(32)) }
    let span: UInt64 = 25 * 86_400
    let rareEvery = max(1, n / 5)
    var envelopes: [[UInt8]] = []
    envelopes.reserveCapacity(n)
    var rareCount = 0
    var commonCount = 0
    var payloadBytes = 0
    for i in 0..<n {
        let item = Words.items[Int(rng.next() % UInt64(Words.items.count))]
        let adjective = Words.adjectives[Int(rng.next() % UInt64(Words.adjectives.count))]
        let brand = Words.brands[Int(rng.next() % UInt64(Words.brands.count))]
        let colour = Words.colours[Int(rng.next() % UInt64(Words.colours.count))]
        let place = Words.places[Int(rng.next() % UInt64(Words.places.count))]
        let isRare = i % rareEvery == rareEvery / 2
        var title = "\(adjective.capitalized) \(brand) \(item.noun), \(colour)"
        if isRare && rareCount % 2 == 0 { title += " with \(Words.rare.capitalized) print" }
        var sentences = [String(format: Words.openings[Int(rng.next() % UInt64(Words.openings.count))], item.noun)]
        if rng.next() % 100 < 85 {
            sentences.append(Words.conditionPhrases[Int(rng.next() % UInt64(Words.conditionPhrases.count))])
            commonCount += 1
        }
        for _ in 0..<(2 + Int(rng.next() % 4)) {
            sentences.append(Words.fillers[Int(rng.next() % UInt64(Words.fillers.count))])
        }
        if isRare {
            sentences.append("A small \(Words.rare) model is included as a gift.")
            rareCount += 1
        }
        var tags: [String] = []
        for _ in 0..<Int(rng.next() % 3) {
            let t = Words.tags[Int(rng.next() % UInt64(Words.tags.count))]
            if !tags.contains(t) { tags.append(t) }
        }
        let created = now - span + UInt64(i) * span / UInt64(n)
        let listing = Listing(
            salt: rng.bytes(ListingID.saltBytes), version: 1, createdAt: created, updatedAt: created,
            expiresAt: created + Listing.Limits.maxLifetime, title: title,
            description: sentences.joined(separator: " "),
            price: Money(
                minorUnits: item.minPrice + rng.next() % (item.maxPrice - item.minPrice),
                currency: Currency(code: place.currency)!),
            category: item.category, location: place.city, country: place.country,
            quantity: 1 + rng.next() % 2, condition: ItemCondition(rawValue: UInt8(rng.next() % 7))!, tags: tags)
        let payload = listing.encoded()
        payloadBytes += payload.count
        envelopes.append(Envelope(kind: .listing, payload: payload, signingKey: keys[i % sellerCount]).bytes)
    }
    return Corpus(
        envelopes: envelopes, sellers: sellerCount, rareListings: rareCount, commonListings: commonCount,
        payloadBytes: payloadBytes)
}

// MARK: - (a) raw verify

/// Verifies the corpus' own signatures (same messages, same sizes) for about `seconds`, single thread.
func rawVerifyRate(_ corpus: Corpus, seconds: Double) -> (rate: Double, cpuRate: Double, count: Int) {
    let sample = corpus.envelopes.prefix(2_000).map { bytes -> (sig: [UInt8], msg: [UInt8], pk: [UInt8]) in
        let e = try! Envelope(decoding: bytes)
        return (e.signature, e.kind.domainTag + e.payload, e.signer)
    }
    let clock = ContinuousClock()
    var count = 0
    let start = clock.now
    let cpuStart = cpuSeconds()
    for _ in 0..<10_000 {  // rounds; stops on time, bounded by count
        for s in sample {
            guard Ed25519.verify(signature: s.sig, message: s.msg, publicKey: s.pk) else { fail("verify failed") }
        }
        count += sample.count
        if (clock.now - start).seconds >= seconds { break }
    }
    let cpu = cpuSeconds() - cpuStart
    return (Double(count) / (clock.now - start).seconds, Double(count) / cpu, count)
}

// MARK: - (b) ingest

struct IngestResult {
    var name: String
    var count: Int
    var total: Duration
    /// CPU seconds: of the one thread, or of the whole process for the two-thread path.
    var cpu: Double
    var verifyCPU: Double
    var applyCPU: Double
    var rate: Double { Double(count) / total.seconds }
    var cpuRate: Double { Double(count) / cpu }
}

/// How an ingest variant writes.
struct IngestPath {
    enum Write {
        case perObject
        case batch
    }
    var name: String
    var write: Write
    /// Verify batch k+1 on a second thread while batch k is written.
    var pipelined = false
}

/// Many objects in one transaction: `SoukDatabase.applyBatch`, the node's ingest path.
func applyBatch(_ db: SoukDatabase, _ objects: [VerifiedObject], now: UInt64) throws {
    let outcomes = try db.applyBatch(objects, now: now)
    guard outcomes.allSatisfy({ $0 == .inserted }) else { fail("applyBatch did not insert every object") }
}

func verifyAll(_ chunk: ArraySlice<[UInt8]>, now: UInt64) -> [VerifiedObject] {
    chunk.map { bytes in
        do {
            return try VerifiedObject(bytes: bytes, now: now)
        } catch {
            fail("corpus object refused: \(error)")
        }
    }
}

/// Ingests `envelopes` into `db` along `path`; every object must be inserted.
func ingest(
    _ envelopes: ArraySlice<[UInt8]>, into db: SoukDatabase, path: IngestPath, now: UInt64, batch: Int
) throws -> IngestResult {
    let clock = ContinuousClock()
    var verifyCPU = 0.0
    var applyCPU = 0.0
    let start = clock.now
    let cpuStart = cpuSeconds(process: path.pipelined)
    switch path.write {
    case .perObject:
        // The real API: VerifiedObject(bytes:now:) then SoukDatabase.apply, one transaction each.
        for bytes in envelopes {
            let c0 = cpuSeconds()
            let object = try VerifiedObject(bytes: bytes, now: now)
            let c1 = cpuSeconds()
            let outcome = try db.apply(object, now: now)
            applyCPU += cpuSeconds() - c1
            verifyCPU += c1 - c0
            guard outcome == .inserted else { fail("unexpected outcome \(outcome)") }
        }
    case .batch:
        let starts = Array(stride(from: envelopes.startIndex, to: envelopes.endIndex, by: batch))
        let chunk = { (i: Int) in envelopes[starts[i]..<min(starts[i] + batch, envelopes.endIndex)] }
        let c0 = cpuSeconds()
        var current = verifyAll(chunk(0), now: now)
        verifyCPU += cpuSeconds() - c0
        for k in 0..<starts.count {
            let next = Box<[VerifiedObject]>([])
            let background = Box(0.0)
            let group = DispatchGroup()
            if k + 1 < starts.count {
                let slice = chunk(k + 1)
                if path.pipelined {
                    DispatchQueue.global().async(group: group) {
                        let c = cpuSeconds()
                        next.value = verifyAll(slice, now: now)
                        background.value = cpuSeconds() - c
                    }
                } else {
                    let c = cpuSeconds()
                    next.value = verifyAll(slice, now: now)
                    verifyCPU += cpuSeconds() - c
                }
            }
            let c1 = cpuSeconds()
            try applyBatch(db, current, now: now)
            applyCPU += cpuSeconds() - c1
            group.wait()
            verifyCPU += background.value
            current = next.value
        }
    }
    let cpu = cpuSeconds(process: path.pipelined) - cpuStart
    return IngestResult(
        name: path.name, count: envelopes.count, total: clock.now - start, cpu: cpu, verifyCPU: verifyCPU,
        applyCPU: applyCPU)
}

/// Runs `SoukDatabase.checkpoint()` every second on a thread of its own while ingest runs, as
/// the daemon's `WALCheckpointer` does.
final class Checkpointer: @unchecked Sendable {
    private let stopped = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(_ db: SoukDatabase) {
        Thread.detachNewThread { [stopped, finished] in
            while stopped.wait(timeout: .now() + 1) == .timedOut { _ = try? db.checkpoint() }
            finished.signal()
        }
    }

    func stop() {
        stopped.signal()
        finished.wait()
    }
}

/// Copies a closed database file (no WAL left behind) to `to`.
func copyDatabase(_ from: String, to: String) throws {
    try? FileManager.default.removeItem(atPath: to)
    try FileManager.default.copyItem(atPath: from, toPath: to)
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
}

// MARK: - (d) search

struct SearchResult {
    var name: String
    var runs: Int
    var p50: Double
    var p99: Double
    var hits: Int
    var truncated: Bool
    var reason: String?
}

/// Runs `query` `runs` times (fewer if they take more than `maxSeconds` in all) after a warm-up.
func measureSearch(
    _ db: SoukDatabase, _ name: String, _ query: SearchQuery, now: UInt64, runs: Int, maxSeconds: Double = 8
) throws -> SearchResult {
    let clock = ContinuousClock()
    var page = try db.search(query, now: now)
    for _ in 0..<3 { page = try db.search(query, now: now) }  // warm the page cache
    var samples: [Double] = []
    samples.reserveCapacity(runs)
    let start = clock.now
    for _ in 0..<runs {
        let t0 = clock.now
        page = try db.search(query, now: now)
        samples.append((clock.now - t0).milliseconds)
        if (clock.now - start).seconds > maxSeconds && samples.count >= 20 { break }
    }
    samples.sort()
    return SearchResult(
        name: name, runs: samples.count, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99),
        hits: page.hits.count,
        truncated: page.truncated, reason: page.truncationReason)
}

// MARK: - Run

/// Writes a store of `n` listings at `path` through the store's own API and exits: the starting
/// point of `Benchmarks/reconcile-at-scale.py`.
func makeStore(at path: String, listings n: Int) throws {
    let now = UInt64(Date().timeIntervalSince1970)
    let clock = ContinuousClock()
    let start = clock.now
    let corpus = generateCorpus(n: n, now: now)
    print(
        "souk-bench: signed \(n) listings by \(corpus.sellers) sellers in \(format((clock.now - start).seconds, 1)) s")
    let db = try SoukDatabase.open(path: path)
    let load = try ingest(
        corpus.envelopes[...], into: db, path: IngestPath(name: "make store", write: .batch, pipelined: true), now: now,
        batch: 2_000)
    try db.checkpoint()
    print(
        "souk-bench: stored them in \(path) in \(format(load.total.seconds, 1)) s "
            + "(\(format(Double(n) / load.total.seconds)) listings/s)")
    // What node.info asks the store: the running totals and the unswept-expired count.
    let runs = 1_000
    let t0 = clock.now
    for _ in 0..<runs { _ = try db.summary(now: now) }
    print("souk-bench: node.info's store reads: \(format((clock.now - t0).seconds / Double(runs) * 1e6, 1)) µs each")
}

/// The personal trust score of one viewer over a generated graph (`Specs/reputation.md` §5):
/// `identities` nodes, `edges` review edges (pairs reviewed once to a few times), each node's
/// out-degree varying; prints the time to build the graph, to compute the viewer's trust, to score
/// one subject with explanation, and the resident memory.
func reputationBench(identities: Int, edges: Int) {
    let clock = ContinuousClock()
    var rng = SplitMix64(seed: 7)
    func key(_ n: Int) -> NodeID {
        var b = [UInt8](repeating: 0x5a, count: 32)
        withUnsafeBytes(of: UInt64(n).bigEndian) { for (i, x) in $0.enumerated() { b[24 + i] = x } }
        return NodeID(publicKey: b)!
    }
    let keys = (0..<identities).map(key)
    var reviews: [(author: NodeID, subject: NodeID, rating: Int)] = []
    reviews.reserveCapacity(edges)
    for _ in 0..<edges {
        let a = Int(rng.next() % UInt64(identities))
        // Mostly local trading (nearby ids), some far: a graph with neighbourhoods.
        let near = rng.next() % 4 != 0
        let s = near ? (a + 1 + Int(rng.next() % 50)) % identities : Int(rng.next() % UInt64(identities))
        reviews.append((keys[a], keys[s], 1 + Int(rng.next() % 5)))
    }
    let t0 = clock.now
    let graph = TrustGraph.build(reviews: reviews, vouches: [])
    let built = clock.now - t0
    let t1 = clock.now
    let trust = TrustScore.trust(viewer: keys[0], graph: graph)
    let computed = clock.now - t1
    let subject = keys[25]
    let about = reviews.enumerated().filter { $0.element.subject == subject }.map {
        (
            entryID: ObjectID(bytes: [UInt8](repeating: UInt8(truncatingIfNeeded: $0.offset), count: 32)),
            author: $0.element.author, rating: $0.element.rating
        )
    }
    let t2 = clock.now
    let score = TrustScore.score(reviews: about, trust: trust)
    for c in score.counted.prefix(20) { _ = TrustScore.path(from: keys[0], to: c.author, graph: graph) }
    let explained = clock.now - t2
    let rss =
        (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("VmRSS") }.map(String.init) ?? "VmRSS: ?"
    print("souk-bench reputation: \(identities) identities, \(edges) review edges (\(graph.edgeCount) distinct pairs)")
    print("  build the graph:        \(format(built.seconds * 1000, 1)) ms")
    print(
        "  one viewer's trust (\(TrustScore.iterations) steps): \(format(computed.seconds * 1000, 1)) ms, \(trust.count) identities reached"
    )
    print("  score + explain one subject (\(about.count) reviews, 20 paths): \(format(explained.seconds * 1000, 1)) ms")
    print("  memory: \(rss.replacingOccurrences(of: "\t", with: " "))")
    #if DEBUG
        print("WARNING: debug build; use `swift run -c release souk-bench --reputation` for meaningful figures")
    #endif
}

func run() throws {
    let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
    if let path = options.makeStore {
        try makeStore(at: path, listings: options.listings)
        return
    }
    if let r = options.reputation {
        reputationBench(identities: r.identities, edges: r.edges)
        return
    }
    let now = UInt64(Date().timeIntervalSince1970)
    let clock = ContinuousClock()
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("model name") }.map {
            $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        }
    print(
        "souk-bench: \(options.listings) listings, \(ProcessInfo.processInfo.activeProcessorCount) CPUs, "
            + "\(cpu ?? "unknown CPU"), load average \(loadAverage())")
    #if DEBUG
        print("WARNING: debug build; use `swift run -c release` for meaningful figures")
    #endif

    let genStart = clock.now
    let corpus = generateCorpus(n: options.listings, now: now)
    let genTime = (clock.now - genStart).seconds
    print(
        "corpus: \(corpus.envelopes.count) signed listings from \(corpus.sellers) sellers, mean payload "
            + "\(corpus.payloadBytes / corpus.envelopes.count) B, \"\(Words.rare)\" in \(corpus.rareListings), "
            + "\"\(Words.common)\" in \(corpus.commonListings); built in \(format(genTime, 1)) s "
            + "(\(format(Double(corpus.envelopes.count) / genTime)) signed listings/s)")

    // (a)
    let verify = rawVerifyRate(corpus, seconds: options.verifySeconds)
    print("")
    print(
        "(a) raw Ed25519 verify (libsodium crypto_sign_verify_detached, 1 thread, "
            + "\(verify.count) listing-sized messages)")
    print("    \(format(verify.rate)) verifies/s wall clock, \(format(verify.cpuRate)) per CPU-second")

    // (b) Bulk-load the first N - M listings once, then ingest the last M into a copy per path, so
    // every path is measured at the same database size (N) and per-seller listing count.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("souk-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let measured = min(options.measuredIngest, corpus.envelopes.count / 5)
    let head = corpus.envelopes.prefix(corpus.envelopes.count - measured)
    let tail = corpus.envelopes.suffix(measured)
    let basePath = dir.appendingPathComponent("base.sqlite").path
    let bulk: IngestResult
    do {
        let base = try SoukDatabase.open(path: basePath)
        bulk = try ingest(
            head, into: base, path: IngestPath(name: "bulk load", write: .batch, pipelined: true), now: now,
            batch: options.batchSize)
        try base.checkpoint()
    }
    print("")
    print(
        "    bulk-loaded \(head.count) listings in \(format(bulk.total.seconds, 1)) s; measuring ingest of the "
            + "last \(measured) into copies of that database")

    let paths = [
        IngestPath(name: "apply(), 1 tx per object", write: .perObject),
        IngestPath(name: "applyBatch \(options.batchSize)/tx", write: .batch),
        IngestPath(name: "  + verify on a 2nd thread", write: .batch, pipelined: true),
    ]
    let searchPath = dir.appendingPathComponent("search.sqlite").path
    var results: [IngestResult] = []
    for (i, path) in paths.enumerated() {
        let file = i == 0 ? searchPath : dir.appendingPathComponent("ingest-\(i).sqlite").path
        try copyDatabase(basePath, to: file)
        do {
            let db = try SoukDatabase.open(path: file)
            let checkpointer = Checkpointer(db)
            results.append(try ingest(tail, into: db, path: path, now: now, batch: options.batchSize))
            checkpointer.stop()
            guard try db.counts(now: now).listings == corpus.envelopes.count else {
                fail("\(path.name): count mismatch")
            }
        }
        if i != 0 { removeDatabase(file) }
    }
    removeDatabase(basePath)

    print("")
    print(
        "(b) listing ingest of \(measured) listings into a \(corpus.envelopes.count)-listing temp-file WAL database: "
            + "decode + VerifiedObject(bytes:now:) + write (load \(loadAverage()))")
    print("    path                              listings/s  per CPU-s   decode+verify     write      write share")
    for r in results {
        let perVerify = r.verifyCPU / Double(r.count) * 1e6
        let perApply = r.applyCPU / Double(r.count) * 1e6
        let share = r.applyCPU / (r.verifyCPU + r.applyCPU) * 100
        print(
            "    \(r.name.padding(toLength: 34, withPad: " ", startingAt: 0))"
                + "\(format(r.rate).leftPad(10))\(format(r.cpuRate).leftPad(11))  "
                + "\(format(perVerify, 1).leftPad(7)) µs CPU\(format(perApply, 1).leftPad(8)) µs CPU  "
                + "\(format(share).leftPad(5)) %")
    }
    print("    (µs are CPU time per listing; the 2-thread path's per CPU-s counts both threads)")

    // (c)
    print("")
    print("(c) ingest / raw verify, target >= 0.5 (wall clock, and per CPU-second which other load does not skew)")
    for r in results {
        let ratio = r.rate / verify.rate
        let cpuRatio = r.cpuRate / verify.cpuRate
        print(
            "    \(r.name.padding(toLength: 34, withPad: " ", startingAt: 0))\(format(ratio, 2).leftPad(6))  "
                + (ratio >= 0.5 ? "met    " : "NOT met") + "    per CPU-s \(format(cpuRatio, 2).leftPad(5))  "
                + (cpuRatio >= 0.5 ? "met" : "NOT met"))
    }

    let mainPath = searchPath
    let db = try SoukDatabase.open(path: searchPath)
    let counts = try db.counts(now: now)

    // (d)
    let fileMB = Double((try? FileManager.default.attributesOfItem(atPath: mainPath)[.size] as? Int) ?? 0) / 1e6
    let bounds = SoukDatabase.SearchBounds()
    print("")
    print(
        "(d) search latency over \(counts.listings) listings (\(format(fileMB)) MB file; default bounds "
            + "\(bounds.maxCandidates) candidates / \(bounds.timeBudget); limit 20; load \(loadAverage()))")
    func query(
        _ text: String = "", sort: SearchQuery.Sort = .relevance, _ configure: (inout SearchQuery) -> Void = { _ in }
    )
        -> SearchQuery
    {
        var q = SearchQuery()
        q.text = text
        q.sort = sort
        configure(&q)
        return q
    }
    let multiFilter: (inout SearchQuery) -> Void = {
        $0.category = "bikes"
        $0.country = "DE"
        $0.currency = Currency(code: "EUR")
        $0.maxPriceMinor = 50_000
    }
    let queries: [(String, SearchQuery)] = [
        ("rare word \"\(Words.rare)\"", query(Words.rare)),
        ("two words \"vintage bicycle\"", query("vintage bicycle")),
        ("common word \"\(Words.common)\"", query(Words.common)),
        ("common word, price_asc in EUR", query(Words.common, sort: .priceAsc) { $0.currency = Currency(code: "EUR") }),
        ("filter-only bikes/DE/EUR<=500, newest", query(sort: .newest, multiFilter)),
        ("filter-only bikes/DE/EUR<=500, price_asc", query(sort: .priceAsc, multiFilter)),
        ("filter-only category=bikes, newest", query(sort: .newest) { $0.category = "bikes" }),
    ]
    print("    query                                     runs    p50 ms    p99 ms  hits  truncated")
    var reasons: [String] = []
    for (name, q) in queries {
        let r = try measureSearch(db, name, q, now: now, runs: options.searchRuns)
        print(
            "    \(name.padding(toLength: 40, withPad: " ", startingAt: 0))\(String(r.runs).leftPad(5))"
                + "\(format(r.p50, 2).leftPad(10))\(format(r.p99, 2).leftPad(10))\(String(r.hits).leftPad(6))  "
                + (r.truncated ? "yes" : "no"))
        if let reason = r.reason { reasons.append("\(name): \(reason)") }
    }
    for reason in reasons { print("    truncated, \(reason)") }
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

do {
    try run()
} catch {
    fail("\(error)")
}
