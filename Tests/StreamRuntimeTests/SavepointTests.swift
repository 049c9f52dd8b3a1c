import Foundation
import LSMStore
import LSMStoreS3
import LSMStoreTesting
import S3TestSupport
import Testing

@testable import StreamRuntime

/// Count and sum per key, version 2: (sum, count), the other way round from `CountSumCodec`.
struct SumCountCodec: StateCodec {
    var codecName: String { "CountSumCodec" }
    var codecVersion: Int { 2 }
    func encode(_ value: (Int64, Int64), into out: inout [UInt8]) {
        Int64Codec().encode(value.1, into: &out)
        Int64Codec().encode(value.0, into: &out)
    }
    func decode(_ bytes: ArraySlice<UInt8>) -> (Int64, Int64)? {
        CountSumCodec().decode(bytes).map { ($0.1, $0.0) }
    }
}

/// `CountAndSum` with its state declared in `open` (what a savepoint restore checks), an
/// optional second state, and a choice of codec for the first.
struct SavepointCountSum: KeyedProcessFunction {
    var version2 = false
    var migration: StateMigration? = nil
    var extra = false
    private var state: ValueState<(Int64, Int64)>?
    private var extraState: ValueState<Int64>?

    init(version2: Bool = false, migration: StateMigration? = nil, extra: Bool = false) {
        self.version2 = version2
        self.migration = migration
        self.extra = extra
    }

    mutating func open(context: KeyedContext<Int64>) throws {
        let codec: any StateCodec<(Int64, Int64)> = version2 ? SumCountCodec() : CountSumCodec()
        state = try context.state(ValueStateDescriptor(name: "count-sum", codec: codec, migration: migration))
        if extra { extraState = try context.state(ValueStateDescriptor(name: "extra", codec: Int64Codec())) }
    }

    mutating func processElement(
        _ value: Txn, context: KeyedContext<Int64>, collect: ((Int64, Int64)) throws -> Void
    ) throws {
        guard let state else { return }
        let (c, s) = try state.value() ?? (0, 0)
        try state.update((c + 1, s + value.cents))
        if let extraState { try extraState.update(value.account) }
        try collect((value.account, s + value.cents))
    }
}

/// Which `SavepointCountSum` a job runs (Sendable, unlike the function).
struct FunctionChoice: Sendable {
    var version2 = false
    var migration: StateMigration? = nil
    var extra = false
}

/// How the test job ends or starts.
struct SavepointJob {
    var rows = 12_000
    var seed: UInt64 = 11
    var accounts = 400
    var parallelism = 2
    var every = 2500
    var scheduled: [ScheduledSavepoint] = []
    var restore: SavepointRestoreSettings? = nil
    var failAt: Int? = nil
    var function = FunctionChoice()
    var uid = "keyed-process"
    var options: ((inout Options) -> Void)? = nil

    func run(state: String, checkpoints: String) throws -> JobResult {
        let env = StreamExecutionEnvironment(stateDirectory: state, checkpointDirectory: checkpoints)
        env.parallelism = parallelism
        env.checkpointing.trigger = .everyRecords(every)
        env.checkpointing.waitForInFlightCheckpoint = true
        env.logger.logLevel = .warning
        env.stateBackend.options.memtableSize = 64 << 10
        env.stateBackend.cacheEntries = 300
        options?(&env.stateBackend.options)
        env.restartStrategy = .fixedDelay(attempts: 2, delayMilliseconds: 0)
        if let failAt { env.failureInjection = .atRecord(failAt) }
        env.scheduledSavepoints = scheduled
        env.savepointRestore = restore
        let (rows, seed, accounts, f) = (rows, seed, accounts, function)
        let job = env.fromSource { GeneratorSource(count: rows) { transaction($0, seed: seed, accounts: accounts) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process(uid: uid) { SavepointCountSum(version2: f.version2, migration: f.migration, extra: f.extra) }
            .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        return try env.execute(job, name: "savepoint test")
    }
}

@Suite struct SavepointTests {
    func dirs(_ n: Int) -> [String] { (0..<n).map { temp("sp-\($0)") } }
    func remove(_ ds: [String]) { for d in ds { try? FileManager.default.removeItem(atPath: d) } }

    /// A savepoint taken mid-run, restored at another parallelism, compaction style and
    /// compression, ends in the state of an uninterrupted run; so does a stop-with-savepoint
    /// followed by a start from it, and a restart from the savepoint after a failure.
    @Test(arguments: [1, 3])
    func savepointRestoredElsewhereEndsInTheUninterruptedState(parallelism: Int) throws {
        let d = dirs(6)
        defer { remove(d) }
        let expected = expectedDigest(rows: 12_000, seed: 11, accounts: 400)
        var a = SavepointJob()
        a.scheduled = [ScheduledSavepoint(afterRecords: 5000, location: .folder(d[2]))]
        let first = try a.run(state: d[0], checkpoints: d[1])
        #expect(first.stateDigest == expected.digest)
        #expect(first.savepoints.count == 1 && first.savepoints[0].sourceRecords == 5000)
        #expect(!first.stoppedWithSavepoint)

        var b = SavepointJob()
        b.parallelism = parallelism
        b.restore = SavepointRestoreSettings(location: .folder(d[2]))
        b.options = { o in
            o.compactionStyle = .leveled
            o.compression = .none
        }
        // Fails before its first checkpoint: the restart starts from the savepoint again.
        b.failAt = 6000
        let second = try b.run(state: d[3], checkpoints: d[4])
        #expect(second.stateDigest == expected.digest)
        #expect(second.restarts.count == 1)

        var stop = SavepointJob()
        stop.scheduled = [ScheduledSavepoint(afterRecords: 7000, location: .folder(d[5]), stopJob: true)]
        let stopped = try stop.run(state: d[0], checkpoints: d[1])
        #expect(stopped.stoppedWithSavepoint && stopped.savepoints.count == 1)
        let info = try Savepoints.verify(in: LocalCheckpointStorage(root: d[5]), location: d[5])
        #expect(info.sourceRecords == 7000 && info.entries == stopped.stateEntries)
        var resumed = SavepointJob()
        resumed.parallelism = parallelism
        resumed.restore = SavepointRestoreSettings(location: .folder(d[5]))
        #expect(try resumed.run(state: d[3], checkpoints: d[4]).stateDigest == expected.digest)
    }

    /// A savepoint triggered from another thread while the job runs, then a stop with one.
    @Test func jobClientTriggersSavepointsWhileTheJobRuns() throws {
        let d = dirs(5)
        defer { remove(d) }
        let env = StreamExecutionEnvironment(stateDirectory: d[0], checkpointDirectory: d[1])
        env.parallelism = 2
        env.logger.logLevel = .warning
        env.stateBackend.cacheEntries = 300
        let counter = CountingSink<(Int64, Int64)>.Counter()
        // A source slow enough that the job is still running when the requests arrive.
        let job = env.fromSource {
            GeneratorSource(count: 40_000) { i in
                if i % 1000 == 0 { usleep(2000) }
                return transaction(i, seed: 5, accounts: 300)
            }
        }
        .keyBy(codec: Int64Codec()) { $0.account }
        .process { SavepointCountSum() }
        .sink { _ in CountingSink(counter: counter) }
        let client = env.executeAsync(job, name: "client")
        let taken = try client.triggerSavepoint(to: .folder(d[2]))
        let stopped = try client.stopWithSavepoint(to: .folder(d[3]))
        let r = try client.result()
        #expect(r.stoppedWithSavepoint && r.savepoints.count == 2)
        #expect(taken.sourceRecords < stopped.sourceRecords && stopped.sourceRecords < 39_000)
        #expect(throws: StreamError.self) { _ = try client.triggerSavepoint(to: .folder(d[4])) }
        // Starting from the first savepoint ends in the uninterrupted state.
        var from = SavepointJob()
        from.rows = 40_000
        from.seed = 5
        from.accounts = 300
        from.restore = SavepointRestoreSettings(location: .folder(d[2]))
        #expect(
            try from.run(state: d[0], checkpoints: d[1]).stateDigest
                == expectedDigest(rows: 40_000, seed: 5, accounts: 300).digest)
    }

    /// Job changes: a state added; a state dropped, refused without the flag and dropped with
    /// it; a codec version change, refused without a migration and migrated with one; another
    /// operator's savepoint.
    @Test func jobChangesAreCheckedAgainstTheSavepoint() throws {
        let d = dirs(4)
        defer { remove(d) }
        let expected = expectedDigest(rows: 12_000, seed: 11, accounts: 400)
        var a = SavepointJob()
        a.function = FunctionChoice(extra: true)
        a.scheduled = [ScheduledSavepoint(afterRecords: 4000, location: .folder(d[2]), stopJob: true)]
        _ = try a.run(state: d[0], checkpoints: d[1])
        let info = try Savepoints.info(in: LocalCheckpointStorage(root: d[2]), location: d[2])
        #expect(Set(info.states.map(\.name)) == ["count-sum", "extra"])
        #expect(info.states.first { $0.name == "count-sum" }?.valueCodec == "CountSumCodec")

        // Dropped state: refused, naming it, unless allowed.
        var b = SavepointJob()
        b.restore = SavepointRestoreSettings(location: .folder(d[2]))
        do {
            _ = try b.run(state: d[0], checkpoints: d[1])
            Issue.record("a savepoint with an undeclared state was accepted")
        } catch {
            #expect("\(error)".contains("\"extra\"") && "\(error)".contains("does not declare"), "\(error)")
        }
        b.restore = SavepointRestoreSettings(location: .folder(d[2]), allowNonRestoredState: true)
        #expect(try b.run(state: d[0], checkpoints: d[1]).stateDigest == expected.digest)

        // Added state: the savepoint without "extra" into a job with it.
        var c = SavepointJob()
        c.scheduled = [ScheduledSavepoint(afterRecords: 4000, location: .folder(d[3]), stopJob: true)]
        _ = try c.run(state: d[0], checkpoints: d[1])
        var added = SavepointJob()
        added.function = FunctionChoice(extra: true)
        added.restore = SavepointRestoreSettings(location: .folder(d[3]))
        let withExtra = try added.run(state: d[0], checkpoints: d[1])
        #expect(withExtra.stateEntries > expected.entries)

        // A codec version change: refused without a migration, migrated with one; the result
        // is the state an uninterrupted run with the new codec reaches.
        var v2 = SavepointJob()
        v2.function = FunctionChoice(version2: true)
        let direct = try v2.run(state: d[0], checkpoints: d[1]).stateDigest
        v2.restore = SavepointRestoreSettings(location: .folder(d[3]))
        do {
            _ = try v2.run(state: d[0], checkpoints: d[1])
            Issue.record("a codec version change without a migration was accepted")
        } catch {
            #expect("\(error)".contains("version 1") && "\(error)".contains("version 2"), "\(error)")
        }
        v2.function = FunctionChoice(
            version2: true,
            migration: StateMigration { codec, version, bytes in
                guard codec == "CountSumCodec", version == 1, let v = CountSumCodec().decode(bytes) else {
                    throw StreamError.stateCorrupt("unexpected \(codec) v\(version)")
                }
                return SumCountCodec().encode(v)
            })
        #expect(try v2.run(state: d[0], checkpoints: d[1]).stateDigest == direct)

        // Another operator's savepoint.
        var other = SavepointJob()
        other.uid = "another"
        other.restore = SavepointRestoreSettings(location: .folder(d[3]))
        #expect(throws: StreamError.self) { _ = try other.run(state: d[0], checkpoints: d[1]) }
    }

    /// Damage anywhere in a savepoint (a random object, a random byte) is found by
    /// `Savepoints.verify` and by a restore, as a savepoint error naming the object.
    @Test func damageIsFoundNamingTheObject() throws {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        let d = dirs(4)
        defer { remove(d) }
        var a = SavepointJob()
        a.scheduled = [ScheduledSavepoint(afterRecords: 6000, location: .folder(d[2]))]
        _ = try a.run(state: d[0], checkpoints: d[1])
        let files = try FileManager.default.contentsOfDirectory(atPath: d[2]).filter { !$0.hasPrefix(".") }.sorted()
        #expect(files.contains("_savepoint") && files.contains("part-0") && files.contains("part-1"))
        for round in 0..<12 {
            try FileManager.default.copyItem(atPath: d[2], toPath: d[3])
            defer { try? FileManager.default.removeItem(atPath: d[3]) }
            let file = files[Int(rng.next() % UInt64(files.count))]
            let path = d[3] + "/" + file
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let at = Int(rng.next() % UInt64(bytes.count))
            bytes[at] ^= UInt8(1 + rng.next() % 255)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let context = "seed \(seed), round \(round): byte \(at) of \(file)"
            do {
                _ = try Savepoints.verify(in: LocalCheckpointStorage(root: d[3]), location: d[3])
                Issue.record("\(context): verify passed")
            } catch let e as StreamError {
                guard case .savepoint(let m) = e else {
                    Issue.record("\(context): \(e)")
                    continue
                }
                #expect(m.contains(file), "\(context): \(m)")
            }
            var b = SavepointJob()
            b.restore = SavepointRestoreSettings(location: .folder(d[3]))
            do {
                _ = try b.run(state: d[0], checkpoints: d[1])
                Issue.record("\(context): the restore passed")
            } catch {
                #expect("\(error)".contains(file), "\(context): \(error)")
            }
        }
    }

    /// A savepoint leaves out entries expired at its barrier.
    @Test func savepointsLeaveOutExpiredEntries() throws {
        let d = dirs(3)
        defer { remove(d) }
        let env = StreamExecutionEnvironment(stateDirectory: d[0], checkpointDirectory: d[1])
        env.logger.logLevel = .warning
        env.ttlTimeProvider = .simulated(millisecondsPerRecord: 1)
        env.scheduledSavepoints = [ScheduledSavepoint(afterRecords: 6000, location: .folder(d[2]), stopJob: true)]
        let ttl = StateTtlConfig(ttlMilliseconds: 300)
        let job = env.fromSource {
            GeneratorSource(count: 8000) { idleAccountRecord($0) }
        }
        .keyBy(codec: Int64Codec()) { $0.key }
        .process { TtlModelFunction(ttl: ttl) }
        .sink { _ in TtlResultSink(results: TtlResults()) }
        let r = try env.execute(job, name: "ttl savepoint")
        var model = TtlModel(ttl: ttl)
        for i in 0..<6000 { _ = model.apply(idleAccountRecord(i), now: Int64(i + 1)) }
        let info = try Savepoints.verify(in: LocalCheckpointStorage(root: d[2]), location: d[2])
        #expect(info.entries == model.digest(now: 6000).entries && info.entries == r.stateEntries)
        #expect(info.states.count == 2 && info.states.allSatisfy(\.hasTtl))
    }

    /// A savepoint into S3 (moto), restored at another parallelism.
    @Test func savepointsOnS3() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let location = try S3JobTests.location(moto, prefix: "savepoints/one")
        let d = dirs(4)
        defer { remove(d) }
        var a = SavepointJob()
        a.scheduled = [ScheduledSavepoint(afterRecords: 5000, location: location)]
        _ = try a.run(state: d[0], checkpoints: d[1])
        var b = SavepointJob()
        b.parallelism = 3
        b.restore = SavepointRestoreSettings(location: location)
        #expect(
            try b.run(state: d[2], checkpoints: d[3]).stateDigest
                == expectedDigest(rows: 12_000, seed: 11, accounts: 400).digest)
        // A second savepoint into the same place is refused; the job goes on.
        a.scheduled = [ScheduledSavepoint(afterRecords: 5000, location: location)]
        let again = try a.run(state: d[0], checkpoints: d[1])
        #expect(again.failedSavepoints == 1 && again.savepoints.isEmpty)
    }
}

/// The savepoint encoders against the worked example of docs/FORMAT.md §11.2, and the
/// metadata through encode and decode.
@Suite struct SavepointFormatTests {
    @Test func partMatchesTheDocumentedExample() throws {
        var out = SavepointBytes()
        out.out = SavepointPart.magic
        let key = Int64Codec().encode(42)
        let value = CountSumCodec().encode((1, 250))
        SavepointPart.appendBlock(group: 74, entries: [(6, key[...], value[...])], to: &out)
        let hex = out.out.map { String(format: "%02x", $0) }.joined(separator: " ")
        #expect(
            hex == "4c 53 4d 53 50 50 54 31 00 4a 01 1b 06 08 00 00 00 00 00 00 00 2a 10 00 00 00 00 00 00 00 01 "
                + "00 00 00 00 00 00 00 fa 53 ee b4 b4")
        #expect(Checksum.crc32c(out.out) == 0x31c8_2208)
        let blocks = try SavepointPart.decode(out.out, name: "part-0", first: 64, last: 127)
        #expect(blocks.count == 1 && blocks[0].group == 74 && blocks[0].entries.count == 1)
        #expect(Array(blocks[0].entries[0].key) == key && Array(blocks[0].entries[0].value) == value)
    }

    @Test func metadataRoundTripsAndRefusesNonsense() throws {
        let m = SavepointMetadata(
            id: 3, createdAtMillis: 1_700_000_000_000, maxParallelism: 128, parallelism: 2, sourceRecords: 5000,
            sourcePosition: [1, 2, 3], operatorID: "op",
            states: [
                .init(
                    name: "count-sum", id: 6, kind: 0, ttl: false, valueCodec: "CountSumCodec", valueCodecVersion: 1,
                    keyCodec: "", keyCodecVersion: 0, entries: 10)
            ],
            parts: [
                .init(name: "part-0", firstGroup: 0, lastGroup: 63, blocks: 3, entries: 4, size: 100, crc32c: 7),
                .init(name: "part-1", firstGroup: 64, lastGroup: 127, blocks: 4, entries: 6, size: 120, crc32c: 8),
            ])
        let bytes = m.encode()
        #expect(try SavepointMetadata.decode(bytes, name: "_savepoint") == m)
        var wrong = m
        wrong.parts[1].lastGroup = 128
        #expect(throws: StreamError.self) { _ = try SavepointMetadata.decode(wrong.encode(), name: "_savepoint") }
        #expect(throws: StreamError.self) { _ = try SavepointMetadata.decode(Array(bytes.dropLast()), name: "x") }
    }
}
