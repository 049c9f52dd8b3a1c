import ArgumentParser
import Foundation
import LSMStore

/// A db_bench-style run of the engine: fillseq, fillrandom, overwrite, readrandom,
/// readmissing and readseq (and ingest: every key once through `ingestSorted`, in sorted
/// batches, as a state backend's checkpoint writes its changes), each reporting micros/op, ops/s and MB/s, with the WAL off
/// and on. Compare with RocksDB's `db_bench` using the same settings (see README).
struct StoreBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "db_bench-style benchmark of the store (8-byte keys, 200-byte values, LZ4, 4 MiB memtable)."
    )

    @Option(help: "Entries to write and read.")
    var num = 1_000_000

    @Option(help: "Value size in bytes (values compress to about half, as db_bench's).")
    var valueSize = 200

    @Option(
        help: "Comma-separated benchmarks: fillseq, fillrandom, overwrite, readrandom, readmissing, readseq, ingest.")
    var benchmarks = "fillseq,fillrandom,overwrite,readrandom,readmissing,readseq"

    @Option(help: "ingest: entries per sorted batch (each batch is one ingest, durable on return).")
    var ingestBatch = 50_000

    @Option(help: "Write-ahead log: off, on, or both (runs everything twice).")
    var wal: WALSetting = .both

    @Option(help: "Compression: lz4 or none.")
    var compression: String = "lz4"

    @Option(help: "Block cache in MiB (0 disables it), as db_bench's --cache_size.")
    var blockCacheMb = 8

    @Option(help: "Directory for the benchmark stores (removed afterwards unless --keep).")
    var dir: String?

    @Flag(help: "Keep the store directory afterwards.")
    var keep = false

    @Option(help: "Seed for the random key order.")
    var seed: UInt64 = 301

    enum WALSetting: String, ExpressibleByArgument, CaseIterable {
        case off, on, both
    }

    static let known = ["fillseq", "fillrandom", "overwrite", "readrandom", "readmissing", "readseq", "ingest"]

    func validate() throws {
        guard num > 0 else { throw ValidationError("--num must be positive") }
        guard ingestBatch > 0 else { throw ValidationError("--ingest-batch must be positive") }
        guard valueSize >= 0 && valueSize <= 1 << 20 else { throw ValidationError("--value-size must be 0...1048576") }
        guard blockCacheMb >= 0 && blockCacheMb <= 1 << 20 else {
            throw ValidationError("--block-cache-mb must be 0...1048576")
        }
        guard Compression(rawValue: compression) != nil else {
            throw ValidationError("--compression must be lz4 or none")
        }
        for b in benchmarks.split(separator: ",") where !Self.known.contains(String(b)) {
            throw ValidationError("unknown benchmark '\(b)'; known: \(Self.known.joined(separator: ", "))")
        }
    }

    func run() throws {
        let base = dir ?? (NSTemporaryDirectory() + "lsm-store-bench-\(getpid())")
        let settings: [Bool] = wal == .both ? [false, true] : [wal == .on]
        print(
            "LSMStore store benchmark: \(num) entries, 8-byte keys, \(valueSize)-byte values, "
                + "\(compression), 4 MiB memtable, 4 KiB blocks, \(blockCacheMb) MiB block cache, 10 bloom bits/key")
        for walOn in settings {
            print("\n-- WAL \(walOn ? "on (no fsync per write)" : "off")")
            var runner = Runner(
                num: num, valueSize: valueSize, walEnabled: walOn,
                compression: Compression(rawValue: compression) ?? .lz4, blockCacheSize: blockCacheMb << 20,
                dir: base + (walOn ? "/wal-on" : "/wal-off"), seed: seed, ingestBatch: ingestBatch)
            defer { if !keep { try? FileManager.default.removeItem(atPath: runner.dir) } }
            try runner.runAll(benchmarks.split(separator: ",").map(String.init))
        }
        if !keep { try? FileManager.default.removeItem(atPath: base) }
    }
}

/// Runs the benchmarks in order on one store directory, like db_bench.
struct Runner {
    let num: Int
    let valueSize: Int
    let walEnabled: Bool
    let compression: Compression
    let blockCacheSize: Int
    let dir: String
    let ingestBatch: Int
    var rng: BenchRandom
    var store: LSMStore?
    let valuePool: [UInt8]

    init(
        num: Int, valueSize: Int, walEnabled: Bool, compression: Compression, blockCacheSize: Int = 8 << 20,
        dir: String, seed: UInt64, ingestBatch: Int = 50_000
    ) {
        self.num = num
        self.ingestBatch = ingestBatch
        self.blockCacheSize = blockCacheSize
        self.valueSize = valueSize
        self.walEnabled = walEnabled
        self.compression = compression
        self.dir = dir
        self.rng = BenchRandom(seed: seed)
        // Like db_bench: random bytes, each half repeated, so values compress to about 50%.
        var pool = [UInt8]()
        var g = BenchRandom(seed: seed ^ 0x5eed)
        while pool.count < 1 << 20 {
            let half = (0..<50).map { _ in UInt8(truncatingIfNeeded: 0x20 + g.next() % 95) }
            pool += half + half
        }
        valuePool = pool
    }

    var options: Options {
        var o = Options()
        o.walEnabled = walEnabled
        o.compression = compression
        o.blockCacheSize = blockCacheSize
        return o
    }

    static func key(_ i: Int) -> [UInt8] {
        let v = UInt64(i).bigEndian
        return withUnsafeBytes(of: v) { Array($0) }
    }

    func value(_ i: Int) -> [UInt8] {
        let start = (i &* 97) % (valuePool.count - valueSize - 1)
        return Array(valuePool[start..<(start + valueSize)])
    }

    mutating func freshStore() throws -> LSMStore {
        try store?.close()
        store = nil
        try? FileManager.default.removeItem(atPath: dir)
        let s = try LSMStore.open(at: dir, options: options)
        store = s
        return s
    }

    mutating func existingStore() throws -> LSMStore {
        if let s = store { return s }
        let s = try LSMStore.open(at: dir, options: options)
        store = s
        return s
    }

    mutating func runAll(_ names: [String]) throws {
        for name in names {
            try run(name)
        }
        if let s = store {
            let st = s.stats
            print(
                "   store: \(st.levels.enumerated().filter { $0.element.files > 0 }.map { "L\($0.offset) \($0.element.files) files" }.joined(separator: ", ")); "
                    + "write amplification \(String(format: "%.2f", st.writeAmplification)); "
                    + "block cache hits \(st.blockCacheHits), misses \(st.blockCacheMisses) (\(st.blockCacheAdmissionsDeclined) not admitted); "
                    + "write slowdowns \(st.writeSlowdowns), stalls \(st.writeStalls)")
            try s.close()
            store = nil
        }
    }

    /// Runs one benchmark, prints its line and returns its ops/s.
    @discardableResult
    mutating func run(_ name: String) throws -> Double {
        var ops = 0
        var bytes = 0
        var found = 0
        let clock = ContinuousClock()
        var elapsed = Duration.zero
        switch name {
        case "fillseq", "fillrandom", "overwrite":
            let s = name == "overwrite" ? try existingStore() : try freshStore()
            var order = Array(0..<num)
            if name == "fillrandom" { order.shuffle(using: &rng) }  // every key once, in random order
            if name == "overwrite" { for i in order.indices { order[i] = Int(rng.next() % UInt64(num)) } }
            let keys = order.map(Self.key)
            let values = order.map(value)
            elapsed = try clock.measure {
                for i in 0..<num { try s.put(keys[i], values[i]) }
            }
            ops = num
            bytes = num * (8 + valueSize)
        case "ingest":
            // Every key once, in random order cut into batches; each batch is sorted (not
            // timed) and written by one `ingestSorted` (timed, durable on return).
            let s = try freshStore()
            var order = Array(0..<num)
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: num, by: ingestBatch) {
                let batch = order[start..<min(num, start + ingestBatch)].sorted()
                let keys = batch.map(Self.key)
                let values = batch.map(value)
                elapsed += try clock.measure {
                    try s.ingestSorted { add in
                        for i in keys.indices {
                            try keys[i].withUnsafeBytes { k in try values[i].withUnsafeBytes { try add(k, $0) } }
                        }
                    }
                }
            }
            ops = num
            bytes = num * (8 + valueSize)
        case "readrandom", "readmissing":
            let s = try existingStore()
            let keys = (0..<num).map { _ in
                Self.key(Int(rng.next() % UInt64(num)) + (name == "readmissing" ? num : 0))
            }
            elapsed = try clock.measure {
                for k in keys {
                    if let v = try s.get(k) {
                        found += 1
                        bytes += 8 + v.count
                    }
                }
            }
            ops = num
        case "readseq":
            let s = try existingStore()
            elapsed = try clock.measure {
                let it = try s.scan()
                while let (k, v) = try it.next() {
                    ops += 1
                    bytes += k.count + v.count
                }
            }
            found = ops
        default:
            throw ValidationError("unknown benchmark \(name)")
        }
        let seconds = seconds(elapsed)
        let micros = seconds * 1e6 / Double(max(ops, 1))
        var line =
            name.padding(toLength: 12, withPad: " ", startingAt: 0)
            + ": " + String(format: "%9.3f micros/op %9.0f ops/sec", micros, Double(ops) / seconds)
        if bytes > 0 { line += String(format: "; %7.1f MB/s", Double(bytes) / seconds / 1e6) }
        if name.hasPrefix("read") { line += " (\(found) of \(ops) found)" }
        print(line)
        return Double(ops) / seconds
    }
}

/// The project's seeded generator, for reproducible key orders.
typealias BenchRandom = SplitMix64
