import ArgumentParser
import Foundation
@_spi(Measurement) import LSMStore

/// Runs the standard workload's read-modify-write loop directly on the store, checkpointing
/// every N records, once per mode, and reports what each checkpoint cost beside the lower
/// bound (the stored size of exactly the state changed since the previous checkpoint).
struct CheckpointBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoints",
        abstract: "Full vs incremental checkpoints of the store under the standard workload (no stream runtime)."
    )

    @Option(help: "Workload preset: large (3M rows, 1M accounts) or small (1M rows, 100k accounts).")
    var preset: String = "large"

    @Option(help: "Override the number of rows.")
    var rows: Int?

    @Option(help: "Checkpoint every N records.")
    var everyRecords = 50_000

    @Option(help: "full, incremental or both.")
    var mode: String = "both"

    @Option(help: "Compaction style of the store: leveled, partitioned, or both.")
    var compaction: String = "partitioned"

    @Option(help: "Memtable size in MiB (Flink's RocksDB default write buffer is 64 MiB).")
    var memtableMB = 32

    @Option(help: "Partitioned style: compact a partition when its L0 pieces reach this times its size.")
    var partitionRatio = 2.0

    @Option(help: "Completed checkpoints to retain.")
    var retained = 1

    @Option(help: "Working directory (removed afterwards unless --keep).")
    var dir: String?

    @Flag(help: "Keep stores and checkpoints.")
    var keep = false

    @Flag(help: "Print every checkpoint.")
    var verbose = false

    @Option(help: "Seed of the workload.")
    var seed: UInt64 = 42

    func validate() throws {
        guard ["large", "small"].contains(preset) else { throw ValidationError("--preset must be large or small") }
        guard everyRecords > 0 else { throw ValidationError("--every-records must be positive") }
        guard ["full", "incremental", "both"].contains(mode) else {
            throw ValidationError("--mode must be full, incremental or both")
        }
        guard retained >= 1 else { throw ValidationError("--retained must be at least 1") }
        guard ["leveled", "partitioned", "both"].contains(compaction) else {
            throw ValidationError("--compaction must be leveled, partitioned or both")
        }
        if let rows, rows <= 0 { throw ValidationError("--rows must be positive") }
    }

    func run() throws {
        let p = preset == "small" ? Workload.small : Workload.large
        let rowCount = rows ?? p.rows
        let base = dir ?? (NSTemporaryDirectory() + "lsm-ckpt-bench-\(getpid())")
        try? FileManager.default.removeItem(atPath: base)
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { if !keep { try? FileManager.default.removeItem(atPath: base) } }
        let bandwidth = try measureSyncedWriteBandwidth(dir: base, mebibytes: 512)
        print(
            "workload \(p.name): \(rowCount) rows, \(p.accounts) accounts, seed \(seed); checkpoint every \(everyRecords) records; retained \(retained)"
        )
        print(String(format: "disk sequential write with fsync: %.0f MB/s (512 MiB, this run)", bandwidth / 1e6))
        let modes: [CheckpointMode] =
            mode == "both" ? [.full, .incremental] : [CheckpointMode(rawValue: mode) ?? .incremental]
        let styles: [CompactionStyle] =
            compaction == "both" ? [.leveled, .partitioned] : [CompactionStyle(rawValue: compaction) ?? .partitioned]
        for style in styles {
            var results: [CheckpointMode: RunResult] = [:]
            for m in modes {
                let r = try runMode(
                    m, style: style, rows: rowCount, accounts: p.accounts,
                    base: base + "/\(style.rawValue)-\(m.rawValue)")
                results[m] = r
                print(r.summary(bandwidth: bandwidth, verbose: verbose))
            }
            if let f = results[.full], let i = results[.incremental] {
                print(
                    "\(style.rawValue) compaction, incremental / full: bytes written \(ratio(i.totalWritten, f.totalWritten)), "
                        + "median checkpoint time \(ratio(i.medianDuration, f.medianDuration)), "
                        + "final storage \(ratio(i.finalStorage, f.finalStorage))")
            }
        }
    }

    struct Row {
        let report: CheckpointReport
        let lowerBound: Int
        let changedKeys: Int
        let storeAndCheckpointsBytes: UInt64
        /// Stored size of the whole live state, estimated as accounts seen so far times the
        /// stored bytes per changed account of this checkpoint's lower bound.
        let liveStateBytes: Double
    }

    struct RunResult {
        let mode: CheckpointMode
        let style: CompactionStyle
        let rows: [Row]
        let records: Int
        let elapsedSeconds: Double
        let restoreSeconds: Double
        /// What the restore did: files, links, bytes, and the time spent reading linked files back.
        let restore: RestoreReport
        let digestMatches: Bool
        var totalWritten: Double { Double(rows.reduce(0) { $0 + $1.report.bytesWritten }) }
        var totalLowerBound: Double { Double(rows.reduce(0) { $0 + $1.lowerBound }) }
        var finalStorage: Double { Double(rows.last?.report.storageBytesOnDisk ?? 0) }
        var medianDuration: Double { median(rows.map { seconds($0.report.totalDuration) }) }

        func summary(bandwidth: Double, verbose: Bool) -> String {
            var s =
                "\n== \(mode.rawValue), \(style.rawValue) compaction: \(rows.count) checkpoints, \(records) records in \(String(format: "%.1f", elapsedSeconds)) s "
                + "(\(Int(Double(records) / elapsedSeconds)) records/s including checkpoints)\n"
            if verbose {
                s += "   id   sync ms  async ms    delta bytes  lower bound   full size  new/reused  store+ckpt bytes\n"
                for r in rows {
                    s += String(
                        format: "%5d %9.1f %9.1f %14d %12d %11d %5d/%-5d %16d\n",
                        Int(r.report.id), ms(r.report.syncDuration), ms(r.report.asyncDuration),
                        Int(r.report.bytesWritten), r.lowerBound, Int(r.report.fullSize),
                        r.report.filesNew, r.report.filesReused, Int(r.storeAndCheckpointsBytes))
                }
            }
            let durations = rows.map { seconds($0.report.totalDuration) }
            let deltas = rows.map { Double($0.report.bytesWritten) }
            let fulls = rows.map { Double($0.report.fullSize) }
            s += String(
                format: "   checkpoint time: median %.1f ms, p95 %.1f ms, max %.1f ms (sync median %.1f ms)\n",
                median(durations) * 1000, percentile(durations, 0.95) * 1000, (durations.max() ?? 0) * 1000,
                median(rows.map { seconds($0.report.syncDuration) }) * 1000)
            s += String(
                format:
                    "   bytes written: total %.1f MB, median %.2f MB, max %.2f MB per checkpoint; full size median %.2f MB\n",
                totalWritten / 1e6, median(deltas) / 1e6, (deltas.max() ?? 0) / 1e6, median(fulls) / 1e6)
            s += String(
                format: "   lower bound: total %.1f MB; written / lower bound = %.2fx\n",
                totalLowerBound / 1e6, totalWritten / max(totalLowerBound, 1))
            // The first checkpoint has nothing to share with, so it is left out here.
            let laterMax = rows.dropFirst().map { Double($0.report.bytesWritten) }.max() ?? 0
            s += String(
                format: "   largest checkpoint after the first / median full size: %.2fx\n",
                laterMax / max(median(fulls), 1))
            let space = rows.map { Double($0.storeAndCheckpointsBytes) / max($0.liveStateBytes, 1) }
            s += String(
                format:
                    "   store + retained checkpoints on disk (each inode once) / live state: median %.2fx, max %.2fx\n",
                median(space), space.max() ?? 0)
            if mode == .full {
                let rates = rows.map { Double($0.report.bytesWritten) / max(seconds($0.report.uploadDuration), 1e-9) }
                let whole = rows.map { Double($0.report.bytesWritten) / max(seconds($0.report.asyncDuration), 1e-9) }
                s += String(
                    format:
                        "   full copy rate (copies and fsyncs): median %.0f MB/s = %.0f%% of the disk's sequential write bandwidth; "
                        + "whole asynchronous phase (with retention's deletes): %.0f MB/s\n",
                    median(rates) / 1e6, median(rates) / bandwidth * 100, median(whole) / 1e6)
            }
            s += String(
                format:
                    "   restore of the last checkpoint: %.3f s (%d files, %d linked, %.1f MB; checking the linked files' CRC32C: %.3f s); state digest %@\n",
                restoreSeconds, restore.files, restore.filesLinked, Double(restore.bytes) / 1e6,
                seconds(restore.verifyDuration), digestMatches ? "verified (restored == live)" : "MISMATCH")
            return s
        }
    }

    func runMode(
        _ mode: CheckpointMode, style: CompactionStyle, rows: Int, accounts: Int, base: String
    ) throws -> RunResult {
        let storeDir = base + "/store", storageDir = base + "/checkpoints"
        var options = Options()
        options.walEnabled = false  // a checkpointed job recovers from its checkpoints, as Flink's RocksDB backend
        options.compactionStyle = style
        options.memtableSize = memtableMB << 20
        options.partitionCompactionRatio = partitionRatio
        let store = try LSMStore.open(at: storeDir, options: options)
        let storage = try LocalCheckpointStorage(root: storageDir)
        let checkpointer = try Checkpointer(store: store, storage: storage, retained: retained)
        var workload = Workload(seed: seed, accounts: accounts)
        var changed = Set<Int>()
        var seen = Set<Int>()
        var records = 0
        var out: [Row] = []
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<rows {
            let row = workload.next()
            guard let cents = row.amountCents else { continue }
            let key = accountKey(row.account)
            var state = try store.get(key).flatMap { AccountState(decoding: $0) } ?? AccountState()
            state.add(cents: cents, ts: row.ts)
            try store.put(key, state.encoded())
            changed.insert(row.account)
            seen.insert(row.account)
            records += 1
            if records % everyRecords == 0 {
                out.append(try takeCheckpoint(store, checkpointer, mode, &changed, seen.count, storeDir, storageDir))
            }
        }
        if records % everyRecords != 0 {
            out.append(try takeCheckpoint(store, checkpointer, mode, &changed, seen.count, storeDir, storageDir))
        }
        let elapsed = seconds(clock.now - start)
        // Restore the last checkpoint and compare its state with the live store's.
        let restoreStart = clock.now
        let (restored, restoreReport) = try LSMStore.restoreReporting(
            from: storage, to: base + "/restored", options: options)
        let restoreSeconds = seconds(clock.now - restoreStart)
        let same = try digest(restored) == digest(store)
        try restored.close()
        try store.close()
        return RunResult(
            mode: mode, style: style, rows: out, records: records, elapsedSeconds: elapsed,
            restoreSeconds: restoreSeconds, restore: restoreReport, digestMatches: same)
    }

    func takeCheckpoint(
        _ store: LSMStore, _ cp: Checkpointer, _ mode: CheckpointMode, _ changed: inout Set<Int>, _ accountsSeen: Int,
        _ storeDir: String, _ storageDir: String
    ) throws -> Row {
        let entries = try changed.sorted().map { (key: accountKey($0), value: try store.get(accountKey($0)) ?? []) }
        let bound = StoredSize.dataBlockBytes(sortedEntries: entries)
        let n = changed.count
        changed.removeAll(keepingCapacity: true)
        let report = try cp.checkpoint(mode: mode)
        let both = try diskUsage(paths: [storeDir, storageDir])
        return Row(
            report: report, lowerBound: bound, changedKeys: n, storeAndCheckpointsBytes: both,
            liveStateBytes: Double(accountsSeen) * Double(bound) / Double(max(n, 1)))
    }

    func digest(_ store: LSMStore) throws -> UInt64 {
        var h = FNV1a64()
        let it = try store.scan()
        while let (k, v) = try it.next() {
            k.withUnsafeBytes { h.add($0) }
            v.withUnsafeBytes { h.add($0) }
        }
        return h.value
    }
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
func ms(_ d: Duration) -> Double { seconds(d) * 1000 }
func median(_ xs: [Double]) -> Double { percentile(xs, 0.5) }
func percentile(_ xs: [Double], _ p: Double) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}
func ratio(_ a: Double, _ b: Double) -> String { b == 0 ? "n/a" : String(format: "%.2fx", a / b) }
