import Foundation
import Glibc
import LSMStore

/// Runs the read-modify-write workload on an LSMStore through its public API, with the
/// checkpoint procedure of the comparison: every C operations a checkpoint into local
/// storage that copies (never links) and fsyncs what it uploads, retaining the latest one.
/// Afterwards the latest checkpoint is restored into a new directory, every account is read
/// back and checked against an in-memory model, and the state's digest is computed.
struct RMWRunner {
    let accounts: Int
    let ops: Int
    let checkpointEvery: Int
    let zipf: Double
    /// "none", "full" or "incremental".
    let mode: String
    let options: Options
    let dir: String

    @inline(__always)
    static func nowNanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    func run() throws -> RMWResult {
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let store = try LSMStore.open(at: dir + "/store", options: options)
        let checkpointMode: CheckpointMode? = mode == "none" ? nil : CheckpointMode(rawValue: mode)
        var checkpointer: Checkpointer? = nil
        var storage: LocalCheckpointStorage? = nil
        if checkpointMode != nil {
            // Copies with fsync, as the RocksDB side does: no hard links into the storage.
            let s = try LocalCheckpointStorage(root: dir + "/checkpoints", allowLinks: false)
            storage = s
            checkpointer = try Checkpointer(store: store, storage: s, retained: 1)
        }

        var workload = RMWWorkload(accounts: accounts, zipf: zipf)
        var counts = [UInt64](repeating: 0, count: accounts)
        var countsAtCheckpoint: [UInt64]? = nil
        let lastCheckpointOp = checkpointMode == nil ? 0 : (ops / checkpointEvery) * checkpointEvery
        var distinct = 0
        var distinctPer100k: [Int] = []
        var firstFive: [[Int]] = []
        var checkpoints: [RMWResult.Checkpoint] = []
        var key = [UInt8]()
        key.reserveCapacity(8)
        var value = [UInt8](repeating: 0, count: RMWWorkload.valueSize)
        var getNanos: UInt64 = 0, putNanos: UInt64 = 0, checkpointNanos: UInt64 = 0

        let loopStart = Self.nowNanos()
        for i in 0..<ops {
            let op = workload.next()
            RMWWorkload.key(op.account, into: &key)
            let t0 = Self.nowNanos()
            let found = try store.get(key, into: &value)
            let t1 = Self.nowNanos()
            if !found {
                value.append(contentsOf: RMWWorkload.newValue)
            } else if value.count != RMWWorkload.valueSize {
                throw BenchError("account \(op.account): stored value has \(value.count) bytes, expected 200")
            }
            value.withUnsafeMutableBytes { RMWWorkload.apply(amount: op.amount, ts: op.ts, to: $0) }
            let t2 = Self.nowNanos()
            try store.put(key, value)
            let t3 = Self.nowNanos()
            getNanos &+= t1 &- t0
            putNanos &+= t3 &- t2
            if counts[op.account] == 0 { distinct += 1 }
            counts[op.account] += 1
            if i < 5 { firstFive.append([op.account, Int(op.amount)]) }
            if (i + 1) % 100_000 == 0 { distinctPer100k.append(distinct) }
            if let checkpointer, let checkpointMode, (i + 1) % checkpointEvery == 0 {
                let c0 = Self.nowNanos()
                let report = try checkpointer.checkpoint(mode: checkpointMode)
                let c1 = Self.nowNanos()
                checkpointNanos &+= c1 &- c0
                checkpoints.append(
                    .init(
                        id: Int(report.id), atOp: i + 1, ms: Double(c1 - c0) / 1e6, bytes: Int(report.bytesWritten),
                        filesCopied: report.filesNew, filesReused: report.filesReused))
                if i + 1 == lastCheckpointOp { countsAtCheckpoint = counts }
            }
        }
        let loopNanos = Self.nowNanos() - loopStart
        let workSeconds = Double(loopNanos - checkpointNanos) / 1e9

        // Read back: from a restore of the latest checkpoint, or the live store without one.
        var restoreMs: Double? = nil
        let readFrom: LSMStore
        let model: [UInt64]
        var restored: LSMStore? = nil
        if let storage, let expected = countsAtCheckpoint {
            let r0 = Self.nowNanos()
            let r = try LSMStore.restore(from: storage, to: dir + "/restored", options: options)
            restoreMs = Double(Self.nowNanos() - r0) / 1e6
            restored = r
            readFrom = r
            model = expected
        } else {
            readFrom = store
            model = counts
        }
        var restore: RMWResult.Restore? = nil
        if checkpointMode == nil || countsAtCheckpoint != nil {
            let r1 = Self.nowNanos()
            var found = 0, mismatches = 0
            for account in 0..<accounts {
                RMWWorkload.key(account, into: &key)
                let v = try readFrom.get(key)
                if v != nil { found += 1 }
                let count = v.flatMap(RMWWorkload.count(of:)) ?? 0
                if (v == nil) != (model[account] == 0) || count != model[account] { mismatches += 1 }
            }
            var digest = FNV1a64()
            var stateBytes = 0
            var countSum: UInt64 = 0
            let it = try readFrom.scan()
            while let (k, v) = try it.next() {
                k.withUnsafeBytes { digest.add($0) }
                v.withUnsafeBytes { digest.add($0) }
                stateBytes += k.count + v.count
                countSum &+= RMWWorkload.count(of: v) ?? 0
            }
            restore = .init(
                ms: restoreMs, readMs: Double(Self.nowNanos() - r1) / 1e6, keysFound: found, mismatches: mismatches,
                digest: digest.hex, stateBytes: stateBytes, countSum: Int(countSum))
        }
        try restored?.close()
        try store.close()

        var checks = RMWResult.ReferenceChecks()
        if RMWReference.applies(accounts: accounts, zipf: zipf) {
            if ops >= 5 {
                checks.firstFive = firstFive == RMWReference.firstFive.map { [$0.account, Int($0.amount)] }
            }
            let n = min(distinctPer100k.count, RMWReference.distinctPer100k.count)
            if n > 0 {
                checks.distinct = Array(distinctPer100k.prefix(n)) == Array(RMWReference.distinctPer100k.prefix(n))
            }
            let finalStateRead = checkpointMode == nil || lastCheckpointOp == ops
            if ops == RMWReference.finalOps, finalStateRead, let restore {
                checks.digest =
                    restore.stateBytes == RMWReference.finalBytes
                    && restore.digest == FNV1a64.hex(RMWReference.finalDigest) && restore.countSum == ops
            }
        }
        return RMWResult(
            system: "lsmstore", version: "", accounts: accounts, ops: ops, checkpointEvery: checkpointEvery, zipf: zipf,
            mode: mode, memtableMb: options.memtableSize >> 20, compaction: options.compactionStyle.rawValue,
            rmwOpsPerS: workSeconds > 0 ? Double(ops) / workSeconds : nil,
            getPerS: getNanos > 0 ? Double(ops) / (Double(getNanos) / 1e9) : nil,
            putPerS: putNanos > 0 ? Double(ops) / (Double(putNanos) / 1e9) : nil,
            loopSeconds: Double(loopNanos) / 1e9, checkpointSeconds: Double(checkpointNanos) / 1e9,
            checkpoints: checkpoints, restore: restore, distinctAfterEach100k: distinctPer100k, firstFive: firstFive,
            referenceChecks: checks)
    }
}
