import ArgumentParser
import Foundation
import LSMStore
import LSMStoreS3
import StreamRuntime

/// Encodes the experiment's per-account state (see `AccountState`).
struct AccountStateCodec: StateCodec {
    func encode(_ value: AccountState, into out: inout [UInt8]) { value.encode(into: &out) }
    func decode(_ bytes: ArraySlice<UInt8>) -> AccountState? { AccountState(decoding: bytes) }
}

/// The experiment's keyed job: per account, count, sum, min, max, last ts and the ring of the
/// last 15 amounts; each record reads and rewrites its account's state.
struct AccountAggregate: KeyedProcessFunction {
    let descriptor: ValueStateDescriptor<AccountState>
    /// Looked up once in `open`, as a Flink function does.
    private var state: ValueState<AccountState>?

    /// The job, with the account state's time to live when `ttl` is given.
    init(ttl: StateTtlConfig? = nil) {
        descriptor = ValueStateDescriptor(name: "account", codec: AccountStateCodec(), ttl: ttl)
    }

    mutating func open(context: KeyedContext<Int64>) throws {
        state = try context.state(descriptor)
    }

    mutating func processElement(
        _ row: Workload.Row, context: KeyedContext<Int64>, collect: (Int64) throws -> Void
    ) throws {
        guard let cents = row.amountCents else { return }
        let state = try self.state ?? context.state(descriptor)
        var s = try state.value() ?? AccountState()
        s.add(cents: cents, ts: row.ts)
        try state.update(s)
        try collect(s.count)
    }
}

/// The keyed job on the stream runtime with generated input (no CSV): throughput and
/// checkpoint costs per mode and parallelism.
struct JobBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "The experiment's keyed job on the stream runtime, with generated input."
    )

    @Option(help: "Workload preset: large or small.")
    var preset: String = "large"

    @Option(help: "Override the number of rows.")
    var rows: Int?

    @Option(help: "Parallelism (comma-separated to run several).")
    var parallelism: String = "1,2"

    @Option(help: "full, incremental or both.")
    var mode: String = "both"

    @Option(help: "Checkpoint every N records.")
    var everyRecords = 50_000

    @Option(help: "Memory budget of each subtask's write-back state cache, in MiB.")
    var cacheMb = 256

    @Option(
        help:
            "Write-backs of the state cache's dirty entries between two checkpoints, so a barrier's cut holds less (0: only at barriers)."
    )
    var writeBacks = 3

    @OptionGroup(
        title:
            "Store tuning (defaults: WAL off, LZ4, 32 MiB memtable, 4 KiB blocks, 8 MiB block cache, 10 bloom bits/key, partitioned compaction)"
    )
    var tuning: StoreTuning

    @Flag(
        help:
            "The source waits for a checkpoint in flight instead of delaying the next trigger (exact cuts every N records)."
    )
    var waitForInFlight = false

    @Flag(help: "Skip the lower-bound measurement (to see what it costs).")
    var noLowerBound = false

    @Option(
        help:
            "State TTL of the account state, in ms of processing time: each run is made without TTL and with it, and the state over time is shown for both."
    )
    var stateTtlMs: Int64?

    @Option(
        help:
            "Processing time for TTL: simulated (3 ms per record from the first row's timestamp, the data's own pace: reproducible) or wall."
    )
    var ttlClock = "simulated"

    @Option(help: "Take a savepoint once the source has emitted N records (into --savepoint-dir); the job goes on.")
    var savepointAt: Int?

    @Option(help: "Take a savepoint once the source has emitted N records (into --savepoint-dir), then stop the job.")
    var stopWithSavepointAt: Int?

    @Option(help: "Where --savepoint-at or --stop-with-savepoint-at writes: an empty folder, or s3://BUCKET/PREFIX.")
    var savepointDir: String?

    @Option(help: "Start the job from this savepoint (a folder or s3://BUCKET/PREFIX) instead of the beginning.")
    var fromSavepoint: String?

    @Flag(help: "With --from-savepoint: drop state the savepoint holds and the job does not declare.")
    var allowNonRestoredState = false

    @Option(help: "S3 endpoint URL for s3:// savepoints (default: AWS_ENDPOINT_URL, else AWS's own).")
    var s3Endpoint: String?

    @Flag(
        help:
            "Accounts go idle: the active tenth of the accounts drifts from the first to the last over the run (the standard draw within it)."
    )
    var accountsGoIdle = false

    func validate() throws {
        guard ["large", "small"].contains(preset) else { throw ValidationError("--preset must be large or small") }
        guard ["full", "incremental", "both"].contains(mode) else {
            throw ValidationError("--mode must be full, incremental or both")
        }
        guard parallelism.split(separator: ",").allSatisfy({ Int($0).map { $0 >= 1 && $0 <= 64 } ?? false }) else {
            throw ValidationError("--parallelism takes numbers 1...64, comma-separated")
        }
        guard everyRecords > 0 else { throw ValidationError("--every-records must be positive") }
        guard cacheMb >= 1 else { throw ValidationError("--cache-mb must be positive") }
        guard (0...16).contains(writeBacks) else { throw ValidationError("--write-backs must be 0...16") }
        if let t = stateTtlMs, t <= 0 { throw ValidationError("--state-ttl-ms must be positive") }
        guard ["simulated", "wall"].contains(ttlClock) else {
            throw ValidationError("--ttl-clock must be simulated or wall")
        }
        let takes = savepointAt != nil || stopWithSavepointAt != nil
        if takes && savepointDir == nil {
            throw ValidationError("--savepoint-at and --stop-with-savepoint-at need --savepoint-dir")
        }
        if savepointDir != nil && !takes {
            throw ValidationError("--savepoint-dir needs --savepoint-at or --stop-with-savepoint-at")
        }
        if savepointAt != nil && stopWithSavepointAt != nil {
            throw ValidationError("give --savepoint-at or --stop-with-savepoint-at, not both")
        }
        if let n = savepointAt ?? stopWithSavepointAt, n <= 0 {
            throw ValidationError("the savepoint position must be positive")
        }
        if allowNonRestoredState && fromSavepoint == nil {
            throw ValidationError("--allow-non-restored-state needs --from-savepoint")
        }
        if (takes || fromSavepoint != nil) && (parallelism.contains(",") || mode == "both" || stateTtlMs != nil) {
            throw ValidationError(
                "savepoint options need a single run: one --parallelism, --mode full or incremental, no --state-ttl-ms")
        }
    }

    /// The savepoint location `path`: a folder, or an S3 location (its bucket checked).
    func savepointLocation(_ path: String) throws -> CheckpointLocation {
        guard S3Location.isS3(path) else { return .folder(path) }
        return try S3CheckpointStorage.open(path, endpoint: s3Endpoint).location(named: path)
    }

    func run() throws {
        let p = preset == "small" ? Workload.small : Workload.large
        let n = rows ?? p.rows
        var w = Workload(seed: 42, accounts: p.accounts)
        var data = (0..<n).map { _ in w.next() }
        if accountsGoIdle { data = IdleAccounts.remap(data, accounts: p.accounts) }
        let rowsBox = RowsBox(data)
        let base = NSTemporaryDirectory() + "lsm-job-bench-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        let modes: [CheckpointMode] =
            mode == "both" ? [.full, .incremental] : [CheckpointMode(rawValue: mode) ?? .incremental]
        print(
            "job on \(p.name): \(n) rows, \(p.accounts) accounts\(accountsGoIdle ? " going idle" : ""); checkpoint every \(everyRecords) records"
        )
        let ttl = stateTtlMs.map { StateTtlConfig(ttlMilliseconds: $0) }
        let ttlTime = ttlClock == "wall" ? TtlTimeProvider.system : IdleAccounts.simulatedTime
        if let ttl {
            print(
                "state TTL \(ttl.ttlMilliseconds) ms (on create and write, never return expired), \(ttlClock) processing time; each run without TTL, then with it"
            )
        }
        var shown = StateBackendConfig(directory: "").options
        tuning.apply(to: &shown)
        print(
            "store: \(StoreTuning.describe(shown)); state cache \(cacheMb) MiB per subtask, \(writeBacks) write-backs per checkpoint interval"
        )
        var digests: [Bool: Set<UInt64>] = [:]
        for par in parallelism.split(separator: ",").compactMap({ Int($0) }) {
            for m in modes {
                for withTtl in ttl == nil ? [false] : [false, true] {
                    var savepoints = Savepointing()
                    if let dir = savepointDir, let n = savepointAt ?? stopWithSavepointAt {
                        savepoints.scheduled = [
                            ScheduledSavepoint(
                                afterRecords: n, location: try savepointLocation(dir),
                                stopJob: stopWithSavepointAt != nil)
                        ]
                    }
                    if let from = fromSavepoint {
                        savepoints.restore = SavepointRestoreSettings(
                            location: try savepointLocation(from), allowNonRestoredState: allowNonRestoredState)
                    }
                    let r = try Self.execute(
                        rows: rowsBox, base: base, parallelism: par, mode: m, everyRecords: everyRecords,
                        cacheMB: cacheMb, writeBacks: writeBacks, tuning: tuning, waitForInFlight: waitForInFlight,
                        lowerBound: !noLowerBound,
                        ttl: withTtl ? ttl : nil, ttlTime: ttlTime, savepoints: savepoints)
                    for sp in r.savepoints {
                        print(
                            String(
                                format:
                                    "savepoint %llu into %@ after %d records: %d entries, %d bytes, %d parts, %.1f ms%@",
                                sp.id, sp.location, sp.sourceRecords, sp.entries, sp.bytes, sp.parts.count,
                                sp.durationMilliseconds, r.stoppedWithSavepoint ? "; the job stopped there" : ""))
                    }
                    if r.failedSavepoints > 0 {
                        throw BenchError("\(r.failedSavepoints) savepoint(s) failed (see the log above)")
                    }
                    if let from = fromSavepoint {
                        print("started from the savepoint \(from)")
                    }
                    digests[withTtl, default: []].insert(r.stateDigest)
                    report(r, parallelism: par, mode: m, applied: withTtl ? ttl : nil, rows: rowsBox)
                }
            }
        }
        for (withTtl, set) in digests.sorted(by: { !$0.key && $1.key }) {
            let what = digests.count > 1 ? (withTtl ? " (with TTL)" : " (without TTL)") : ""
            print(set.count == 1 ? "state digests agree across runs\(what)" : "STATE DIGESTS DIFFER ACROSS RUNS\(what)")
        }
    }

    /// Prints one run's figures, and with `--state-ttl-ms` its state over time (`applied`: the
    /// TTL the run had, nil for the run without).
    func report(_ r: JobResult, parallelism par: Int, mode m: CheckpointMode, applied: StateTtlConfig?, rows: RowsBox) {
        let totals = r.checkpoints.map(\.totalMilliseconds)
        print(
            String(
                format:
                    "  checkpoint phases, median ms: alignment %.1f, sync %.1f, cut capture %.1f, async %.1f, total %.1f; %d write-backs between them",
                median(r.checkpoints.map(\.alignmentMilliseconds)), median(r.checkpoints.map(\.syncMilliseconds)),
                median(r.checkpoints.map(\.captureMilliseconds)), median(r.checkpoints.map(\.asyncMilliseconds)),
                median(totals), r.writeBacks))
        print(
            String(
                format:
                    "parallelism %d, %@%@: %.0f records/s; %d checkpoints, median %.1f ms, bytes written %.1f MB (lower bound %.1f MB); state digest %016llx",
                par, m.rawValue, stateTtlMs == nil ? "" : (applied == nil ? ", without TTL" : ", with TTL"),
                r.recordsPerSecond, r.checkpoints.count, median(totals),
                Double(r.checkpoints.reduce(0) { $0 + $1.bytesWritten }) / 1e6,
                Double(r.checkpoints.reduce(0) { $0 + $1.lowerBoundBytes }) / 1e6, r.stateDigest))
        guard let ms = stateTtlMs else { return }
        IdleAccounts.printStateOverTime(
            r, ttlMilliseconds: ms, applied: applied != nil, rows: rows.rows, simulated: ttlClock == "simulated")
    }
}

extension JobBenchmark {
    /// Runs the keyed job once on `rows` and returns its result.
    static func execute(
        rows rowsBox: RowsBox, base: String, parallelism: Int, mode: CheckpointMode, everyRecords: Int, cacheMB: Int,
        writeBacks: Int = 3, tuning: StoreTuning, waitForInFlight: Bool = false, lowerBound: Bool = true,
        ttl: StateTtlConfig? = nil,
        ttlTime: TtlTimeProvider = .system, savepoints: Savepointing = Savepointing()
    ) throws -> JobResult {
        let env = StreamExecutionEnvironment(stateDirectory: base + "/state", checkpointDirectory: base + "/chk")
        env.parallelism = parallelism
        env.checkpointing.mode = mode
        env.checkpointing.trigger = .everyRecords(everyRecords)
        env.logger.logLevel = .warning  // the figures are printed by the caller
        env.stateBackend.cacheBytes = cacheMB << 20
        env.stateBackend.writeBacksPerInterval = writeBacks
        tuning.apply(to: &env.stateBackend.options)
        env.checkpointing.waitForInFlightCheckpoint = waitForInFlight
        env.measureLowerBound = lowerBound
        env.ttlTimeProvider = ttlTime
        env.scheduledSavepoints = savepoints.scheduled
        env.savepointRestore = savepoints.restore
        let counter = CountingSink<Int64>.Counter()
        let job = env.fromSource {
            GeneratorSource(count: rowsBox.rows.count) { rowsBox.rows[$0].amountCents == nil ? nil : rowsBox.rows[$0] }
        }
        .keyBy(codec: Int64Codec()) { Int64($0.account) }
        .process { AccountAggregate(ttl: ttl) }
        .sink { _ in CountingSink(counter: counter) }
        return try env.execute(job, name: "\(mode.rawValue) p\(parallelism)")
    }
}

/// The savepoints a run takes and the one it starts from.
struct Savepointing {
    var scheduled: [ScheduledSavepoint] = []
    var restore: SavepointRestoreSettings? = nil
}

extension S3CheckpointStorage {
    /// The runtime's checkpoint (or savepoint) location under this storage's prefix, named
    /// `description` in messages: each relative path is a substorage.
    func location(named description: String) -> CheckpointLocation {
        CheckpointLocation(
            description: description, storage: { self.substorage($0) },
            removeAll: { try self.substorage($0).removeAll() })
    }
}

final class RowsBox: @unchecked Sendable {
    let rows: [Workload.Row]
    init(_ rows: [Workload.Row]) { self.rows = rows }
}
