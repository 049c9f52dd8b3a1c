import ArgumentParser
import Foundation
import LSMStore

/// `Bench rmw`: the account read-modify-write workload on the store (docs/EXPERIMENT.md),
/// checkpointing every C operations, and, when given the RocksDB harness, the same workload
/// and checkpoint procedure on RocksDB in the same run, alternating, with the ratios.
struct RMWBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rmw",
        abstract: "The account read-modify-write workload on the store, optionally beside RocksDB.",
        discussion: """
            Reproduces the workload's reference values (printed and checked when A = 100000 and \
            S = 1.1), reports RMW ops/s without checkpoint time, get/s and put/s, every checkpoint's \
            duration and bytes, and restores the latest checkpoint and reads every account back \
            against a model. With --rocksdb PATH (built by `make rocksdb-rmw`) RocksDB runs the \
            same work in the same run and the ratios are printed.
            """
    )

    @Option(name: .customShort("A"), help: "Accounts.")
    var accounts = 100_000

    @Option(name: .customShort("N"), help: "Operations.")
    var ops = 1_000_000

    @Option(name: .customShort("C"), help: "A checkpoint every C operations.")
    var checkpointEvery = 100_000

    @Option(name: .customShort("S"), help: "Zipf exponent of the account distribution.")
    var zipf = 1.1

    @Option(help: "Checkpoint modes, comma-separated: none, full, incremental.")
    var mode = "incremental"

    @OptionGroup(
        title:
            "Store tuning (defaults: WAL off, LZ4, 4 MiB memtable, 4 KiB blocks, 8 MiB block cache, 10 bloom bits/key, partitioned compaction)"
    )
    var tuning: StoreTuning

    @Option(help: "The RocksDB harness binary to run beside the store (e.g. .build-rocksdb/rmw).")
    var rocksdb: String?

    @Option(help: "RocksDB compaction style: leveled or universal.")
    var rocksdbCompaction = "leveled"

    @Option(help: "Rounds per mode; with --rocksdb the systems alternate within each round.")
    var rounds = 1

    @Option(help: "Working directory (removed afterwards unless --keep).")
    var dir: String?

    @Flag(help: "Keep stores and checkpoints.")
    var keep = false

    @Option(help: "Write every run's result as JSON to this file.")
    var json: String?

    static let modes = ["none", "full", "incremental"]

    var modeList: [String] { mode.split(separator: ",").map(String.init) }

    func validate() throws {
        guard accounts >= 1, accounts <= 100_000_000 else { throw ValidationError("-A must be 1...100000000") }
        guard ops >= 1 else { throw ValidationError("-N must be positive") }
        guard checkpointEvery >= 1 else { throw ValidationError("-C must be positive") }
        guard zipf > 0, zipf < 10 else { throw ValidationError("-S must be in (0, 10)") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be positive") }
        for m in modeList where !Self.modes.contains(m) {
            throw ValidationError("unknown mode '\(m)'; modes: none, full, incremental")
        }
        guard ["leveled", "universal"].contains(rocksdbCompaction) else {
            throw ValidationError("--rocksdb-compaction must be leveled or universal")
        }
        if let rocksdb, !FileManager.default.isExecutableFile(atPath: rocksdb) {
            throw ValidationError("--rocksdb \(rocksdb) is not an executable (build it with `make rocksdb-rmw`)")
        }
    }

    /// The store's options for this workload: the comparison's settings, then the tuning given.
    var storeOptions: Options {
        var o = Options()
        o.walEnabled = false
        o.memtableSize = 4 << 20
        o.compactionStyle = .partitioned
        tuning.apply(to: &o)
        return o
    }

    func run() throws {
        let base = dir ?? (NSTemporaryDirectory() + "lsm-rmw-bench-\(getpid())")
        defer { if !keep { try? FileManager.default.removeItem(atPath: base) } }
        let options = storeOptions
        print(
            "RMW workload: A=\(accounts) N=\(ops) C=\(checkpointEvery) S=\(zipf); modes \(modeList.joined(separator: ", "))"
        )
        print("LSMStore: WAL off, \(StoreTuning.describe(options))")
        if let rocksdb {
            print("RocksDB: \(rocksdb), WAL off, lz4, 4 MiB write buffer, \(rocksdbCompaction), otherwise defaults")
        }
        if RMWReference.applies(accounts: accounts, zipf: zipf) {
            print(
                "reference values (A=100000, S=1.1): first five \(RMWReference.firstFive.map { "(\($0.account), \($0.amount))" }.joined(separator: ", ")); "
                    + "distinct after each 100k \(RMWReference.distinctPer100k.map(String.init).joined(separator: ", ")); "
                    + "after 1,000,000 ops \(RMWReference.finalBytes) bytes, FNV-1a-64 \(FNV1a64.hex(RMWReference.finalDigest))"
            )
        }
        var all: [RMWResult] = []
        var failed = false
        for m in modeList {
            var ours: [RMWResult] = []
            var theirs: [RMWResult] = []
            for round in 0..<rounds {
                // Alternate which system goes first, so drift in the machine's load evens out.
                let rocksFirst = rocksdb != nil && round % 2 == 1
                if rocksFirst, let r = try runRocksDB(mode: m, dir: base + "/rocksdb") { theirs.append(r) }
                let r = try RMWRunner(
                    accounts: accounts, ops: ops, checkpointEvery: checkpointEvery, zipf: zipf, mode: m,
                    options: options, dir: base + "/lsmstore"
                ).run()
                ours.append(r)
                if !rocksFirst, rocksdb != nil, let r = try runRocksDB(mode: m, dir: base + "/rocksdb") {
                    theirs.append(r)
                }
            }
            for r in ours + theirs {
                print(Self.describe(r))
                if !r.passed { failed = true }
            }
            if !ours.isEmpty && !theirs.isEmpty {
                print(Self.ratios(ours: ours, theirs: theirs))
            }
            all += ours + theirs
        }
        if let json {
            let data = try RMWResult.encoder.encode(all)
            try data.write(to: URL(fileURLWithPath: json))
        }
        if failed {
            throw BenchError("a check failed: reference values or read-back mismatches (see above)")
        }
    }

    func runRocksDB(mode: String, dir: String) throws -> RMWResult? {
        guard let rocksdb else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: rocksdb)
        p.arguments = [
            "--accounts", "\(accounts)", "--ops", "\(ops)", "--checkpoint-every", "\(checkpointEvery)", "--zipf",
            "\(zipf)",
            "--mode", mode, "--memtable-mb", "4", "--compaction", rocksdbCompaction, "--dir", dir,
        ]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 || p.terminationStatus == 3 else {
            throw BenchError("\(rocksdb) exited with status \(p.terminationStatus)")
        }
        do {
            return try RMWResult.decoder.decode(RMWResult.self, from: data)
        } catch {
            throw BenchError("\(rocksdb) printed no result JSON: \(error)")
        }
    }

    static func describe(_ r: RMWResult) -> String {
        let name = r.system == "rocksdb" ? "RocksDB \(r.version)" : "LSMStore"
        var s =
            "\n== \(name), mode \(r.mode), \(r.compaction): "
            + String(
                format: "%.0f RMW ops/s (without checkpoints), get %.0f/s, put %.0f/s; loop %.2f s, checkpoints %.2f s",
                r.rmwOpsPerS ?? 0, r.getPerS ?? 0, r.putPerS ?? 0, r.loopSeconds, r.checkpointSeconds)
        if !r.checkpoints.isEmpty {
            s += "\n   id     at op   duration ms        bytes  files new/reused"
            for c in r.checkpoints {
                s += String(
                    format: "\n  %3d %9d %13.1f %12d %7d/%d", c.id, c.atOp, c.ms, c.bytes, c.filesCopied, c.filesReused)
            }
            s += String(
                format: "\n   checkpoint median %.1f ms, %.2f MB", r.medianCheckpointMs, r.medianCheckpointBytes / 1e6)
        }
        if let x = r.restore {
            if let ms = x.ms {
                s += String(format: "\n   restore of the latest checkpoint: %.1f ms;", ms)
            } else {
                s += "\n   live store:"
            }
            s += String(
                format: " read back %d accounts in %.0f ms, %d mismatches; state %d bytes, FNV-1a-64 %@",
                x.keysFound, x.readMs ?? 0, x.mismatches, x.stateBytes, x.digest)
        }
        func word(_ b: Bool?) -> String { b.map { $0 ? "pass" : "FAIL" } ?? "n/a" }
        s +=
            "\n   reference values: first five \(word(r.referenceChecks.firstFive)), distinct \(word(r.referenceChecks.distinct)), "
            + "final digest \(word(r.referenceChecks.digest))"
        return s
    }

    static func ratios(ours: [RMWResult], theirs: [RMWResult]) -> String {
        func med(_ xs: [RMWResult], _ f: (RMWResult) -> Double?) -> Double { median(xs.compactMap(f)) }
        let rows: [(String, (RMWResult) -> Double?, Bool)] = [
            ("RMW ops/s", { $0.rmwOpsPerS }, true),
            ("get/s", { $0.getPerS }, true),
            ("put/s", { $0.putPerS }, true),
            ("checkpoint median ms", { $0.checkpoints.isEmpty ? nil : $0.medianCheckpointMs }, false),
            ("checkpoint median bytes", { $0.checkpoints.isEmpty ? nil : $0.medianCheckpointBytes }, false),
        ]
        var s = "\nLSMStore / RocksDB, mode \(ours[0].mode), median of \(ours.count) and \(theirs.count) run(s):"
        for (label, f, _) in rows {
            let a = med(ours, f), b = med(theirs, f)
            guard a > 0 || b > 0 else { continue }
            s +=
                "\n  " + label.padding(toLength: 26, withPad: " ", startingAt: 0)
                + String(format: "%14.1f %14.1f   %@", a, b, ratio(a, b))
        }
        return s
    }
}
