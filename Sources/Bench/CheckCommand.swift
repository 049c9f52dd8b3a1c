import ArgumentParser
import Foundation
import LSMStore
import StreamRuntime

/// `Bench check` (`make bench-check`): a short set of benchmarks beside the reference
/// systems in the same run, so a regression shows as a ratio however noisy the machine:
/// fill and readrandom against RocksDB's db_bench, the read-modify-write workload against
/// the RocksDB harness, and the keyed job on 1,000,000 rows with a state cache far smaller
/// than the state. Exits non-zero when a figure falls below half of its target.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Regression check: short benchmarks beside RocksDB in one run; non-zero exit below half a target."
    )

    @Option(help: "RocksDB's db_bench binary (Debian's rocksdb-tools).")
    var dbBench = "db_bench"

    @Option(help: "The RocksDB read-modify-write harness (make rocksdb-rmw).")
    var rmwHarness = ".build-rocksdb/rmw"

    @Option(help: "Entries for fill and readrandom.")
    var num = 1_000_000

    @Option(help: "Rows of the keyed job (of the large preset's 1,000,000 accounts).")
    var jobRows = 1_000_000

    @Option(help: "State cache of the keyed job, in MiB (far below its state).")
    var jobCacheMb = 32

    @Option(help: "Rounds; the systems alternate which runs first. Medians are compared.")
    var rounds = 2

    @Option(help: "Working directory (removed afterwards).")
    var dir: String?

    @Option(help: "Write the figures as JSON to this file.")
    var json: String?

    /// One line of the check.
    struct Figure: Codable {
        var name: String
        var unit: String
        var ours: Double
        /// The reference system's figure, nil for an absolute target.
        var reference: Double?
        /// ours / reference, or ours / target for an absolute target.
        var ratio: Double
        var target: Double
        var passed: Bool
    }

    func validate() throws {
        guard num >= 1000 else { throw ValidationError("--num must be at least 1000") }
        guard jobRows >= 1000 else { throw ValidationError("--job-rows must be at least 1000") }
        guard jobCacheMb >= 1 else { throw ValidationError("--job-cache-mb must be positive") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be positive") }
        guard FileManager.default.isExecutableFile(atPath: rmwHarness) else {
            throw ValidationError("--rmw-harness \(rmwHarness) is not an executable (make rocksdb-rmw builds it)")
        }
        guard Self.which(dbBench) != nil else {
            throw ValidationError("--db-bench \(dbBench) not found (apt-get install rocksdb-tools)")
        }
    }

    static func which(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for d in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(d)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func run() throws {
        let base = dir ?? (NSTemporaryDirectory() + "lsm-bench-check-\(getpid())")
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        print(
            "bench check: \(rounds) round(s); figures are medians; targets from the store's issue list, fail below half"
        )
        var fill: [Double] = [], read: [Double] = [], rocksFill: [Double] = [], rocksRead: [Double] = []
        var rmw: [Double] = [], rocksRMW: [Double] = []
        for round in 0..<rounds {
            let rocksFirst = round % 2 == 1
            if rocksFirst {
                let r = try runDBBench(dir: base + "/rocksdb")
                rocksFill.append(r.fill)
                rocksRead.append(r.read)
            }
            print("\n-- LSMStore: fillrandom (every key once), readrandom; \(num) entries, WAL off")
            var runner = Runner(
                num: num, valueSize: 200, walEnabled: false, compression: .lz4, dir: base + "/lsm", seed: 301)
            fill.append(try runner.run("fillrandom"))
            read.append(try runner.run("readrandom"))
            try runner.store?.close()
            runner.store = nil
            try? FileManager.default.removeItem(atPath: base + "/lsm")
            if !rocksFirst {
                let r = try runDBBench(dir: base + "/rocksdb")
                rocksFill.append(r.fill)
                rocksRead.append(r.read)
            }

            var options = Options()
            options.walEnabled = false
            options.memtableSize = 4 << 20
            options.compactionStyle = .partitioned
            let ours = { () throws -> RMWResult in
                try RMWRunner(
                    accounts: 100_000, ops: 1_000_000, checkpointEvery: 100_000, zipf: 1.1, mode: "incremental",
                    options: options, dir: base + "/rmw-lsm"
                ).run()
            }
            let cmd = try RMWBenchmark.parse(["--rocksdb", rmwHarness])
            var pair: [RMWResult] = []
            if rocksFirst, let r = try cmd.runRocksDB(mode: "incremental", dir: base + "/rmw-rocksdb") {
                pair.append(r)
            }
            pair.append(try ours())
            if !rocksFirst, let r = try cmd.runRocksDB(mode: "incremental", dir: base + "/rmw-rocksdb") {
                pair.append(r)
            }
            for r in pair {
                print(RMWBenchmark.describe(r))
                guard r.passed else { throw BenchError("\(r.system): the RMW workload's checks failed") }
                if r.system == "rocksdb" { rocksRMW.append(r.rmwOpsPerS ?? 0) } else { rmw.append(r.rmwOpsPerS ?? 0) }
            }
        }

        print(
            "\n-- the keyed job: \(jobRows) rows of the large preset, state cache \(jobCacheMb) MiB, parallelism 1, incremental"
        )
        var w = Workload(seed: 42, accounts: Workload.large.accounts)
        let rows = RowsBox((0..<jobRows).map { _ in w.next() })
        var jobRates: [Double] = []
        for _ in 0..<rounds {
            let r = try JobBenchmark.execute(
                rows: rows, base: base + "/job", parallelism: 1, mode: .incremental, everyRecords: 50_000,
                cacheMB: jobCacheMb,
                tuning: try StoreTuning.parse([]))
            try? FileManager.default.removeItem(atPath: base + "/job")
            print(
                String(
                    format: "job: %.0f records/s, %d checkpoints, sync median %.1f ms, total median %.1f ms",
                    r.recordsPerSecond,
                    r.checkpoints.count, median(r.checkpoints.map(\.syncMilliseconds)),
                    median(r.checkpoints.map(\.totalMilliseconds))))
            jobRates.append(r.recordsPerSecond)
        }

        func relative(_ name: String, _ ours: [Double], _ theirs: [Double], target: Double) -> Figure {
            let a = median(ours), b = median(theirs)
            let r = b > 0 ? a / b : 0
            return Figure(
                name: name, unit: "ops/s", ours: a, reference: b, ratio: r, target: target, passed: r >= target / 2)
        }
        let jobRate = median(jobRates)
        let figures = [
            relative("fill, every key once (db_bench filluniquerandom)", fill, rocksFill, target: 1.5),
            relative("readrandom, all found (db_bench readrandom)", read, rocksRead, target: 1.5),
            relative("RMW, incremental checkpoints (RocksDB harness)", rmw, rocksRMW, target: 3.0),
            Figure(
                name: "keyed job, \(jobCacheMb) MiB cache (records/s, absolute)", unit: "records/s", ours: jobRate,
                reference: nil,
                ratio: jobRate / 300_000, target: 1.0, passed: jobRate >= 150_000),
        ]
        print(
            "\nresult                                                    LSMStore     reference   ratio  target  status"
        )
        for f in figures {
            let reference = f.reference.map { String(format: "%12.0f", $0) } ?? "  (300,000)"
            print(
                f.name.padding(toLength: 56, withPad: " ", startingAt: 0)
                    + String(
                        format: " %12.0f %@ %6.2fx %6.2fx  %@", f.ours, reference, f.ratio, f.target,
                        f.passed ? (f.ratio >= f.target ? "meets target" : "below target") : "REGRESSION"))
        }
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(figures).write(to: URL(fileURLWithPath: json))
        }
        if figures.contains(where: { !$0.passed }) {
            throw BenchError("a figure fell below half of its target (REGRESSION above)")
        }
    }

    /// Runs db_bench's filluniquerandom and readrandom with the store benchmark's settings.
    func runDBBench(dir: String) throws -> (fill: Double, read: Double) {
        try? FileManager.default.removeItem(atPath: dir)
        let args = [
            "--benchmarks=filluniquerandom,readrandom", "--num=\(num)", "--key_size=8", "--value_size=200",
            "--compression_type=lz4", "--write_buffer_size=4194304", "--cache_size=8388608", "--bloom_bits=10",
            "--block_size=4096", "--compression_ratio=0.5", "--disable_wal=1", "--db=\(dir)",
        ]
        print("\n-- RocksDB: db_bench \(args.joined(separator: " "))")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.which(dbBench) ?? dbBench)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
        guard p.terminationStatus == 0 else { throw BenchError("db_bench exited with status \(p.terminationStatus)") }
        var figures: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let words = parts[1].split(separator: " ")
            if let i = words.firstIndex(of: "ops/sec"), i > 0, let v = Double(words[i - 1]) {
                figures[name] = v
                print(String(line))
            }
        }
        guard let f = figures["filluniquerandom"], let r = figures["readrandom"] else {
            throw BenchError("db_bench printed no filluniquerandom/readrandom figures")
        }
        return (f, r)
    }
}
