import ArgumentParser
import Foundation
import LSMStore
import LSMStoreS3
import StreamMonitoring
import Logging
import StreamRuntime

/// `swift run Bench` with no arguments: the standard experiment of docs/EXPERIMENT.md.
/// Generates the workload's CSV (once), runs the keyed job on it with full and with
/// incremental checkpoints, restores each run's last checkpoint and checks its digest, prints
/// what each mode cost and writes results.json, checkpoints.csv and report.html.
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Full against incremental checkpoints on the standard workload (the default).",
        discussion: """
            With no options: preset large (3,000,000 rows, 1,000,000 accounts, seed 42), a \
            checkpoint every 50,000 records, one run per mode. Figures are from one machine and one \
            run each: compare the ratios, and use --runs to see the spread.
            """
    )

    @Option(help: "Workload preset: large or small.")
    var preset: String = "large"
    @Option(help: "Rows to generate (overrides the preset).")
    var rows: Int?
    @Option(help: "Accounts (overrides the preset).")
    var accounts: Int?
    @Option(help: "Seed of the generated workload.")
    var seed: UInt64 = 42
    @Option(
        help:
            "Read this CSV instead of generating one. With an account_id column the job keys by it; with only transaction_id,amount it keys by transaction_id, as the original did."
    )
    var input: String?
    @Option(help: "Folder for the generated CSV.")
    var dataDir: String = "bench-data"
    @Option(help: "full, incremental or both.")
    var mode: String = "both"
    @Option(help: "Checkpoint every N records.")
    var everyRecords: Int?
    @Option(help: "Checkpoint every N milliseconds instead.")
    var intervalMs: Int?
    @Option(help: "Least time between the end of a checkpoint and the start of the next.")
    var minPauseMs: Int = 0
    @Option(help: "Abort a checkpoint after this long.")
    var timeoutMs: Int = 60_000
    @Option(help: "Most checkpoints in flight at once (a positive --min-pause-ms implies 1, as in Flink).")
    var maxConcurrent: Int = 1
    @Option(help: "Completed checkpoints kept.")
    var retained: Int = 1
    @Option(
        help:
            "Consecutive checkpoint failures tolerated; one more fails the job over through its restart strategy (default: no limit; 3 with --production)."
    )
    var tolerableCheckpointFailures: Int?
    @Flag(
        help:
            "The recommended production settings: a checkpoint every 10 s, at least 5 s between checkpoints, a 60 s timeout, one at a time, incremental, 3 consecutive failures tolerated."
    )
    var production = false
    @Option(help: "Keyed subtasks, each with its own store and thread.")
    var parallelism: Int = 1
    @Option(help: "Limit the source to N records/s (--rate 2 is the original's 0.5 s sleep per record).")
    var rate: Int?
    @Option(help: "Inject a failure at record N (once per run): shows restart and recovery.")
    var failAt: Int?
    @Option(help: "Wait before each restart (fixed delay, 3 attempts, as the original's fixed_delay_restart(3, 3000)).")
    var restartDelayMs: Int = 3000
    @Option(help: "Runs per mode, alternating modes; min, median and max are reported.")
    var runs: Int = 1
    @Option(help: "Folder for results.json, checkpoints.csv and report.html (default bench-results/<date-time>).")
    var output: String?
    @Option(help: "Where the job's state and checkpoints go while it runs.")
    var workDir: String?
    @Flag(help: "Keep the state and checkpoint folders (and the checkpoints in S3) after the runs.")
    var keepCheckpoints = false
    @Option(
        help:
            "Also run each mode with its checkpoints in S3 (s3://BUCKET/PREFIX; credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), beside the runs into a local folder."
    )
    var checkpointStorage: String?
    @Option(help: "S3 endpoint URL (default: AWS_ENDPOINT_URL, else AWS's regional endpoint).")
    var s3Endpoint: String?
    @Flag(
        help:
            "Resume each run from the latest checkpoint left in --work-dir (after a crash or kill) instead of starting over."
    )
    var resume = false
    @Flag(help: "Print the summary as JSON on stdout instead of text.")
    var json = false
    @Option(help: "Memory budget of each subtask's state cache, in MiB.")
    var cacheMb: Int = 256
    @Option(
        help:
            "Write-backs of the state cache's dirty entries between two checkpoints, so a barrier's cut holds less (0: only at barriers)."
    )
    var writeBacks: Int = 3
    @Option(
        help:
            "Serve the running jobs' figures on HOST:PORT for the whole run: /metrics (Prometheus), /jobs/overview and /jobs/<id>/checkpoints (Flink's REST shape), and / (a live page)."
    )
    var serve: String?
    @Option(help: "With --serve: keep serving this many seconds after the runs end.")
    var serveLingerS: Int = 0

    @OptionGroup(
        title:
            "Store tuning (defaults: WAL off, LZ4, 32 MiB memtable, 4 KiB blocks, 8 MiB block cache, 10 bloom bits/key, partitioned compaction)"
    )
    var tuning: StoreTuning

    func validate() throws {
        guard ["large", "small"].contains(preset) else {
            throw ValidationError("--preset must be large or small, not \"\(preset)\"")
        }
        guard ["full", "incremental", "both"].contains(mode) else {
            throw ValidationError("--mode must be full, incremental or both, not \"\(mode)\"")
        }
        if let rows { guard rows > 0 else { throw ValidationError("--rows must be positive") } }
        if let accounts { guard accounts > 0 else { throw ValidationError("--accounts must be positive") } }
        if let everyRecords {
            guard everyRecords > 0 else { throw ValidationError("--every-records must be positive") }
        }
        if let intervalMs { guard intervalMs > 0 else { throw ValidationError("--interval-ms must be positive") } }
        guard everyRecords == nil || intervalMs == nil else {
            throw ValidationError("give --every-records or --interval-ms, not both")
        }
        guard minPauseMs >= 0 else { throw ValidationError("--min-pause-ms must not be negative") }
        guard timeoutMs > 0 else { throw ValidationError("--timeout-ms must be positive") }
        guard retained >= 1 else { throw ValidationError("--retained must be at least 1") }
        if let n = tolerableCheckpointFailures, n < 0 {
            throw ValidationError("--tolerable-checkpoint-failures must not be negative")
        }
        if production {
            guard
                everyRecords == nil && intervalMs == nil && minPauseMs == 0 && timeoutMs == 60_000 && maxConcurrent == 1
            else {
                throw ValidationError(
                    "--production sets the trigger, min pause, timeout and max concurrent checkpoints; drop those options"
                )
            }
            guard mode != "full" else {
                throw ValidationError("--production checkpoints incrementally; drop --mode full")
            }
        }
        guard maxConcurrent >= 1 else { throw ValidationError("--max-concurrent must be at least 1") }
        guard (1...64).contains(parallelism) else { throw ValidationError("--parallelism must be 1...64") }
        if let rate { guard rate > 0 else { throw ValidationError("--rate must be positive") } }
        if let failAt { guard failAt > 0 else { throw ValidationError("--fail-at must be positive") } }
        guard restartDelayMs >= 0 else { throw ValidationError("--restart-delay-ms must not be negative") }
        guard (1...100).contains(runs) else { throw ValidationError("--runs must be 1...100") }
        guard cacheMb >= 1 else { throw ValidationError("--cache-mb must be positive") }
        guard (0...16).contains(writeBacks) else { throw ValidationError("--write-backs must be 0...16") }
        if let serve { _ = try Self.hostAndPort(serve) }
        guard serveLingerS >= 0 else { throw ValidationError("--serve-linger-s must not be negative") }
        guard serve != nil || serveLingerS == 0 else { throw ValidationError("--serve-linger-s needs --serve") }
        if let input, !FileManager.default.fileExists(atPath: input) {
            throw ValidationError("--input \(input): no such file")
        }
        guard !resume || workDir != nil else {
            throw ValidationError("--resume needs the --work-dir of the run to resume")
        }
        if let checkpointStorage {
            do {
                _ = try S3Location(parsing: checkpointStorage)
            } catch {
                throw ValidationError("--checkpoint-storage: \(error)")
            }
            guard !resume else { throw ValidationError("--resume works with checkpoints in a folder only") }
        }
    }

    func run() throws {
        do {
            try runExperiment()
        } catch  where error is BenchError || error is StreamError || error is LSMError || error is S3Error {
            // Expected failures (bad input, a failed job, damaged files): a message, no trace.
            FileHandle.standardError.write(Data("Bench: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// `HOST:PORT` split (the port 0...65535).
    static func hostAndPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon != text.startIndex
        else {
            throw ValidationError("--serve takes HOST:PORT, such as 127.0.0.1:8081, not \"\(text)\"")
        }
        return (String(text[..<colon]), port)
    }

    private func runExperiment() throws {
        // The monitoring endpoint, for the whole run: each job adds its monitor.
        let monitored = MonitoredJobs()
        var server: MonitoringServer? = nil
        if let serve {
            let (host, port) = try Self.hostAndPort(serve)
            do {
                server = try MonitoringServer.start(host: host, port: port, jobs: monitored)
            } catch {
                throw BenchError("--serve \(serve): cannot listen there: \(error)")
            }
            print("serving http://\(host):\(server?.port ?? port)/ (metrics at /metrics)")
        }
        defer {
            if let server {
                if serveLingerS > 0 {
                    print("serving for \(serveLingerS) s more")
                    fflush(nil)
                    Thread.sleep(forTimeInterval: Double(serveLingerS))
                }
                server.stop()
            }
        }
        try runRuns(monitored: monitored)
    }

    private func runRuns(monitored: MonitoredJobs) throws {
        let p = preset == "small" ? Workload.small : Workload.large
        let nRows = rows ?? p.rows
        let nAccounts = accounts ?? p.accounts
        let interactive = isatty(STDOUT_FILENO) == 1 && !json
        let started = Date()

        // 1. The input.
        let path: String
        if let input {
            path = input
        } else {
            path = dataDir + "/" + WorkloadCSV.fileName(rows: nRows, accounts: nAccounts, seed: seed)
            if interactive {
                print("preparing \(path) ...", terminator: "")
                fflush(nil)
            }
            let wrote = try WorkloadCSV.ensure(path: path, rows: nRows, accounts: nAccounts, seed: seed)
            if interactive { print(wrote ? " written" : " already there") }
        }
        let header = try WorkloadCSV.header(of: path)
        let keyColumn: String
        if header.contains("account_id") {
            keyColumn = "account_id"
        } else if header.contains("transaction_id") {
            keyColumn = "transaction_id"
        } else {
            throw BenchError(
                "\(path): the header \(header.joined(separator: ",")) has neither account_id nor transaction_id to key by"
            )
        }
        guard header.contains("amount") else { throw BenchError("\(path): the header has no amount column") }

        // 2. The runs, alternating modes.
        let modes: [CheckpointMode] =
            production
            ? [.incremental]
            : mode == "both" ? [.full, .incremental] : [CheckpointMode(rawValue: mode) ?? .incremental]
        let work = workDir ?? NSTemporaryDirectory() + "lsm-bench-\(getpid())"
        defer { if !keepCheckpoints { try? FileManager.default.removeItem(atPath: work) } }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let bandwidth = try measureSyncedWriteBandwidth(dir: work, mebibytes: 256)
        if interactive {
            print(String(format: "disk: %.0f MB/s sequential write with fsync (256 MiB, this run)", bandwidth / 1e6))
        }
        let trigger: CheckpointConfig.Trigger =
            production
            ? CheckpointConfig.production.trigger
            : intervalMs.map { .intervalMilliseconds($0) } ?? .everyRecords(everyRecords ?? 50_000)
        // With --checkpoint-storage, each run into a folder is followed by the same run into
        // S3 (the bucket is checked first: a wrong key or a missing bucket stops here).
        let s3Root = try checkpointStorage.map { try S3CheckpointStorage.open($0, endpoint: s3Endpoint) }
        var results: [ExperimentResults.Run] = []
        for r in 1...runs {
            for m in modes {
                for s3 in s3Root.map({ [nil, $0] }) ?? [nil] {
                    let dir = "\(work)/\(m.rawValue)-\(r)" + (s3 == nil ? "" : "-s3")
                    if !resume { try? FileManager.default.removeItem(atPath: dir) }
                    let s3Run = s3?.substorage("\(m.rawValue)-\(r)")
                    defer { if !keepCheckpoints { try? s3Run?.removeAll() } }
                    let run = try runJob(
                        mode: m, index: r, path: path, keyColumn: keyColumn, trigger: trigger, dir: dir,
                        s3: s3Run.map { ($0, (checkpointStorage ?? "") + "/\(m.rawValue)-\(r)") },
                        interactive: interactive, bandwidth: bandwidth, monitored: monitored)
                    results.append(run)
                    if !keepCheckpoints { try? FileManager.default.removeItem(atPath: dir + "/state") }
                }
            }
        }

        // 3. Report.
        let config = ExperimentResults.Configuration(
            preset: input == nil ? p.name : "custom", input: path,
            rows: input == nil ? nRows : results.first?.recordsIn ?? 0,
            accounts: input == nil ? nAccounts : 0, seed: seed, keyColumn: keyColumn,
            trigger: production
                ? "every 10000 ms" : intervalMs.map { "every \($0) ms" } ?? "every \(everyRecords ?? 50_000) records",
            minPauseMilliseconds: production ? 5_000 : minPauseMs, timeoutMilliseconds: production ? 60_000 : timeoutMs,
            maxConcurrent: production ? 1 : maxConcurrent,
            tolerableFailedCheckpoints: tolerableCheckpointFailures ?? (production ? 3 : nil), production: production,
            retained: retained,
            parallelism: parallelism, rateLimit: rate, failAt: failAt, runs: runs, cacheMiB: cacheMb,
            writeBacksPerInterval: writeBacks, memtableMiB: tuning.memtableMB ?? 32, s3Location: checkpointStorage)
        let all = ExperimentResults(
            tool: "swift run Bench", version: "1", configuration: config,
            machine: ExperimentText.machine(started: started), diskWriteBytesPerSecond: bandwidth, runs: results)
        let summary = ExperimentText.summary(all)
        let outDir = output ?? "bench-results/" + ExperimentText.stamp(started)
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(all).write(to: URL(fileURLWithPath: outDir + "/results.json"))
        try ExperimentText.checkpointsCSV(all).write(
            toFile: outDir + "/checkpoints.csv", atomically: true, encoding: .utf8)
        try HTMLReport.render(all, summary: summary).write(
            toFile: outDir + "/report.html", atomically: true, encoding: .utf8)
        if json {
            print(String(decoding: try encoder.encode(ExperimentText.summaryJSON(all)), as: UTF8.self))
        } else {
            print(ExperimentText.originalLines(all))
            print(ExperimentText.checkpointTables(all))
            print(summary)
            print("results: \(outDir)/results.json, checkpoints.csv, report.html")
        }
        let unverified = results.filter { !$0.stateVerified }
        if !unverified.isEmpty {
            // When the last checkpoint failed, the latest completed one is older than the final
            // state, so the comparison cannot succeed: say so.
            let why = unverified.map { r -> String in
                let lastFailed = r.checkpointFailures.map(\.id).max() ?? 0
                let lastDone = r.checkpoints.map(\.id).max() ?? 0
                return "\(r.mode) run \(r.index)"
                    + (lastFailed > lastDone
                        ? " (its final checkpoint \(lastFailed) failed, so checkpoint \(lastDone) holds an earlier state)"
                        : "")
            }
            FileHandle.standardError.write(
                Data(
                    "Bench: STATE NOT VERIFIED for \(why.joined(separator: ", ")): the restored checkpoint's digest differs from the run's final state\n"
                        .utf8))
            throw ExitCode(2)
        }
    }

    /// One job run, then the restore of its last checkpoint; with `s3`, its checkpoints go to
    /// that storage (named by the URL beside it) instead of `dir/checkpoints`.
    private func runJob(
        mode m: CheckpointMode, index: Int, path: String, keyColumn: String, trigger: CheckpointConfig.Trigger,
        dir: String, s3: (storage: S3CheckpointStorage, url: String)? = nil, interactive: Bool, bandwidth: Double,
        monitored: MonitoredJobs
    ) throws -> ExperimentResults.Run {
        let env = StreamExecutionEnvironment(stateDirectory: dir + "/state", checkpointDirectory: dir + "/checkpoints")
        if let s3 {
            env.checkpointLocation = s3.storage.location(named: s3.url)
        }
        env.parallelism = parallelism
        let monitor = JobMonitor()
        env.monitor = monitor
        monitored.add(monitor)
        if production {
            env.checkpointing = .production
        } else {
            env.checkpointing.mode = m
            env.checkpointing.trigger = trigger
            env.checkpointing.minPauseMilliseconds = minPauseMs
            env.checkpointing.timeoutMilliseconds = timeoutMs
            env.checkpointing.maxConcurrent = maxConcurrent
        }
        if let n = tolerableCheckpointFailures { env.checkpointing.tolerableFailedCheckpoints = n }
        env.checkpointing.retained = retained
        env.stateBackend.cacheBytes = cacheMb << 20
        env.stateBackend.writeBacksPerInterval = writeBacks
        tuning.apply(to: &env.stateBackend.options)
        env.restartStrategy = .fixedDelay(attempts: 3, delayMilliseconds: restartDelayMs)
        if let failAt { env.failureInjection = .atRecord(failAt) }
        env.resumeFromLatestCheckpoint = resume
        // Checkpoint completions are counted for the progress line; warnings and errors (failed
        // checkpoints, restarts) go to stderr.
        let events = JobEvents()
        var logger = Logger(label: "Bench") { _ in JobEventsLogHandler(events: events) }
        logger.logLevel = .info
        env.logger = logger
        let counter = CountingSink<Int64>.Counter()
        let byAccount = keyColumn == "account_id"
        let columns = [
            CSVColumn(name: keyColumn, type: .int64, required: true),
            CSVColumn(name: "amount", type: .decimal2, required: true),
            CSVColumn(name: "ts", type: .int64, required: false),
        ]
        let limiter = RateLimiter(perSecond: rate)
        let job = env.fromSource { CSVStreamSource(path: path, columns: columns) }
            .map { row -> Workload.Row in
                limiter.wait()
                let key = row.values[0].int64 ?? 0
                return Workload.Row(
                    transactionID: byAccount ? 0 : Int(key), account: Int(key),
                    amountCents: row.values[1].int64, ts: row.values[2].int64 ?? 0)
            }
            .keyBy(codec: Int64Codec()) { Int64($0.account) }
            .process { AccountAggregate() }
            .sink { _ in CountingSink(counter: counter) }
        let progress =
            interactive ? Progress(label: "\(m.rawValue) run \(index)", counter: counter, events: events) : nil
        progress?.start()
        let result: JobResult
        do {
            result = try env.execute(job, name: m == .full ? "Full Checkpoint Test" : "Incremental Checkpoint Test")
        } catch {
            progress?.stop()
            throw error
        }
        progress?.stop()
        let restored = try env.restoreLatestCheckpoint(into: dir + "/restored")
        try? FileManager.default.removeItem(atPath: dir + "/restored")
        let storage = try s3?.storage.bytesOnDisk() ?? diskUsage(paths: [dir + "/checkpoints"])
        return ExperimentResults.Run(
            mode: m.rawValue, storage: s3 == nil ? "folder" : "s3", index: index, seconds: result.seconds,
            recordsIn: result.recordsIn,
            rowsDropped: result.sourceCounters["rows dropped"] ?? 0, recordsPerSecond: result.recordsPerSecond,
            checkpoints: result.checkpoints.map {
                ExperimentResults.Checkpoint(
                    id: $0.id, triggerMilliseconds: $0.triggerMilliseconds,
                    alignmentMilliseconds: $0.alignmentMilliseconds,
                    syncMilliseconds: $0.syncMilliseconds, captureMilliseconds: $0.captureMilliseconds,
                    asyncMilliseconds: $0.asyncMilliseconds,
                    totalMilliseconds: $0.totalMilliseconds, deltaBytes: $0.bytesWritten,
                    lowerBoundBytes: $0.lowerBoundBytes,
                    fullSizeBytes: $0.fullSize, filesNew: $0.filesNew, filesReused: $0.filesReused,
                    storageBytesOnDisk: $0.storageBytesOnDisk,
                    physicalFloorMilliseconds: Double($0.bytesWritten) / bandwidth * 1000,
                    requests: $0.requests.map {
                        ExperimentResults.Requests(
                            total: $0.requests, puts: $0.puts, gets: $0.gets, heads: $0.heads, lists: $0.lists,
                            deletes: $0.deletes, parts: $0.parts, multipartControl: $0.multipartControl,
                            retries: $0.retries, bytesSent: $0.bytesSent, bytesReceived: $0.bytesReceived)
                    })
            },
            failedCheckpoints: result.failedCheckpoints,
            checkpointFailures: result.checkpointFailures.map {
                ExperimentResults.Failure(
                    id: $0.id, category: $0.category.rawValue, message: $0.message,
                    triggerMilliseconds: $0.triggerMilliseconds)
            },
            restarts: result.restarts.map(\.cause),
            restartRestoreSeconds: result.restarts.map(\.restoreSeconds),
            writeBacks: result.writeBacks,
            restoreSeconds: restored.restoreSeconds, restoredCheckpointID: restored.checkpointID,
            stateDigest: String(format: "%016llx", result.stateDigest),
            restoredDigest: String(format: "%016llx", restored.stateDigest),
            stateVerified: restored.stateDigest == result.stateDigest && restored.stateEntries == result.stateEntries,
            stateEntries: result.stateEntries, storageBytesAtEnd: storage)
    }
}

/// Keeps the source at or below a rate (records per second), sleeping as needed.
final class RateLimiter: @unchecked Sendable {
    private let perSecond: Int?
    private var start: ContinuousClock.Instant?
    private var count = 0
    private let clock = ContinuousClock()
    init(perSecond: Int?) { self.perSecond = perSecond }

    /// Called once per record on the source thread.
    func wait() {
        guard let perSecond else { return }
        let now = clock.now
        if start == nil { start = now }
        count += 1
        let due = (start ?? now) + .seconds(Double(count - 1) / Double(perSecond))
        if due > now { Thread.sleep(forTimeInterval: seconds(due - now)) }
    }
}

/// A progress line on the terminal: rows processed, records/s and checkpoints completed.
final class Progress: @unchecked Sendable {
    private let label: String
    private let counter: CountingSink<Int64>.Counter
    private let events: JobEvents
    private let lock = NSLock()
    private var running = false
    private let done = DispatchSemaphore(value: 0)

    init(label: String, counter: CountingSink<Int64>.Counter, events: JobEvents) {
        self.label = label
        self.counter = counter
        self.events = events
    }

    func start() {
        lock.withLock { running = true }
        let t = Thread { [self] in
            let clock = ContinuousClock()
            let t0 = clock.now
            while lock.withLock({ running }) {
                Thread.sleep(forTimeInterval: 0.25)
                let n = counter.count
                let secs = max(0.001, seconds(clock.now - t0))
                print(
                    "\r\u{1B}[K\(label): \(n) records, \(Int(Double(n) / secs)) records/s, \(events.checkpointsCompleted) checkpoints completed",
                    terminator: "")
                fflush(nil)
            }
            print("\r\u{1B}[K", terminator: "")
            fflush(nil)
            self.done.signal()
        }
        t.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }
}

/// What the job's log said, as far as the Bench needs it.
final class JobEvents: @unchecked Sendable {
    private let lock = NSLock()
    private var completed = 0
    var checkpointsCompleted: Int { lock.withLock { completed } }
    func checkpointCompleted() { lock.withLock { completed += 1 } }
}

/// A swift-log handler that counts checkpoint completions and prints warnings and errors to
/// stderr (the figures themselves are printed by the Bench).
struct JobEventsLogHandler: LogHandler {
    let events: JobEvents
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = event.message.description
        let level = event.level
        if text.hasPrefix("checkpoint "), text.hasSuffix(" completed") { events.checkpointCompleted() }
        if level >= .warning {
            let clear = isatty(STDERR_FILENO) == 1 ? "\r\u{1B}[K" : ""
            FileHandle.standardError.write(Data("\(clear)\(level): \(text)\n".utf8))
        }
    }
}
