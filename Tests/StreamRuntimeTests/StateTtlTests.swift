import Foundation
import LSMStore
import LSMStoreTesting
import PropertyBased
import Testing

@testable import StreamRuntime

/// One operation of the TTL model test, on the record's key.
enum TtlOp: Sendable {
    case read
    case write(Int64)
    case clear
    case mapGet(Int64)
    case mapPut(Int64, Int64)
    case mapRemove(Int64)
    case mapEntries
}

/// A record of the TTL model test: its position in the source (from 1), key and operation.
struct TtlRecord: Sendable {
    let position: Int
    let key: Int64
    let op: TtlOp
}

/// What each record's operation returned, by position. A replayed record (after a restart)
/// must return what it returned before: a second, different answer is kept as a conflict.
final class TtlResults: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var byPosition: [Int: String] = [:]
    private(set) var conflicts: [String] = []

    func record(_ position: Int, _ answer: String) {
        lock.lock()
        defer { lock.unlock() }
        if let old = byPosition[position], old != answer {
            conflicts.append("record \(position): \(old), then \(answer) on replay")
        }
        byPosition[position] = answer
    }
}

struct TtlResultSink: StreamSink {
    let results: TtlResults
    mutating func write(_ value: (Int, String)) throws { results.record(value.0, value.1) }
    mutating func close() throws {}
}

/// Applies each record's operation to a value state and a map state, both with `ttl`.
struct TtlModelFunction: KeyedProcessFunction {
    let value: ValueStateDescriptor<Int64>
    let map: MapStateDescriptor<Int64, Int64>

    init(ttl: StateTtlConfig) {
        value = ValueStateDescriptor(name: "ttl-value", codec: Int64Codec(), ttl: ttl)
        map = MapStateDescriptor(name: "ttl-map", keyCodec: Int64Codec(), valueCodec: Int64Codec(), ttl: ttl)
    }

    mutating func processElement(
        _ r: TtlRecord, context: KeyedContext<Int64>, collect: ((Int, String)) throws -> Void
    ) throws {
        let v = try context.state(value)
        let m = try context.state(map)
        let answer: String
        switch r.op {
        case .read: answer = try v.value().map { "\($0)" } ?? "nil"
        case .write(let x):
            try v.update(x)
            answer = "ok"
        case .clear:
            try v.clear()
            answer = "ok"
        case .mapGet(let k): answer = try m.get(k).map { "\($0)" } ?? "nil"
        case .mapPut(let k, let x):
            try m.put(k, x)
            answer = "ok"
        case .mapRemove(let k):
            try m.remove(k)
            answer = "ok"
        case .mapEntries: answer = try m.entries().map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        }
        try collect((r.position, answer))
    }
}

/// Record i of a workload where accounts go idle: a write to one of 50 accounts starting at
/// i / 4, so each account is written for about 200 records and then never again.
func idleAccountRecord(_ i: Int) -> TtlRecord {
    TtlRecord(position: i + 1, key: Int64(i / 4 + (i * 7919) % 50), op: .write(Int64(i)))
}

/// Flink's TTL semantics on plain dictionaries: the model the runtime must agree with.
struct TtlModel {
    struct Entry {
        var value: Int64
        var timestamp: Int64
    }
    let ttl: StateTtlConfig
    var values: [Int64: Entry] = [:]
    var maps: [Int64: [Int64: Entry]] = [:]

    /// A read of `entry` at `now`: what it returns, and the entry afterwards.
    func read(_ entry: Entry?, now: Int64) -> (answer: Int64?, after: Entry?) {
        guard var e = entry else { return (nil, nil) }
        if ttl.isExpired(timestamp: e.timestamp, now: now) {
            return (ttl.visibility == .returnExpiredIfNotCleanedUp ? e.value : nil, nil)
        }
        if ttl.updateType == .onReadAndWrite { e.timestamp = now }
        return (e.value, e)
    }

    mutating func apply(_ r: TtlRecord, now: Int64) -> String {
        switch r.op {
        case .read:
            let (a, after) = read(values[r.key], now: now)
            values[r.key] = after
            return a.map { "\($0)" } ?? "nil"
        case .write(let x):
            values[r.key] = Entry(value: x, timestamp: now)
            return "ok"
        case .clear:
            values[r.key] = nil
            return "ok"
        case .mapGet(let k):
            let (a, after) = read(maps[r.key]?[k], now: now)
            maps[r.key, default: [:]][k] = after
            return a.map { "\($0)" } ?? "nil"
        case .mapPut(let k, let x):
            maps[r.key, default: [:]][k] = Entry(value: x, timestamp: now)
            return "ok"
        case .mapRemove(let k):
            maps[r.key]?[k] = nil
            return "ok"
        case .mapEntries:
            var out: [String] = []
            for k in (maps[r.key] ?? [:]).keys.sorted() {
                let (a, after) = read(maps[r.key]?[k], now: now)
                maps[r.key, default: [:]][k] = after
                if let a { out.append("\(k)=\(a)") }
            }
            return out.joined(separator: ",")
        }
    }

    /// The runtime's state digest for the model's entries still live at `now`.
    func digest(now: Int64, maxParallelism: Int = 128) -> (digest: UInt64, entries: Int) {
        var h: UInt64 = 0
        var n = 0
        func add(_ key: Int64, state: String, mapKey: Int64?, _ e: Entry) {
            guard !ttl.isExpired(timestamp: e.timestamp, now: now) else { return }
            let k = Int64Codec().encode(key)
            var storeKey = KeyGroups.prefix(KeyGroups.group(of: k, maxParallelism: maxParallelism))
            storeKey.append(KeyedContext<Int64>.stateID(forName: state))
            if let mapKey {
                storeKey.append(UInt8(k.count))
                storeKey.append(contentsOf: k)
                storeKey.append(contentsOf: Int64Codec().encode(mapKey))
            } else {
                storeKey.append(contentsOf: k)
            }
            var v: [UInt8] = []
            TtlValue.appendHeader(e.timestamp, to: &v)
            Int64Codec().encode(e.value, into: &v)
            h = h &+ stateEntryHash(storeKey, v)
            n += 1
        }
        for (key, e) in values { add(key, state: "ttl-value", mapKey: nil, e) }
        for (key, m) in maps { for (mk, e) in m { add(key, state: "ttl-map", mapKey: mk, e) } }
        return (h, n)
    }
}

@Suite struct StateTtlTests {
    /// Random operations on TTL value and map state, with a processing time that is a function
    /// of each record's position, against `TtlModel`: every answer, and the final state,
    /// agree; with random parallelism, cache size, checkpoints, compactions and a failure.
    @Test(.shrinking(false)) func stateWithTtlMatchesTheModel() async {
        let count = ProcessInfo.processInfo.environment["LSM_PROPERTY_LONG"] != nil ? 60 : 10
        if let seed = ProcessInfo.processInfo.environment["LSM_SEED"].flatMap({ UInt64($0) }) {
            Self.modelRun(seed)
            return
        }
        await propertyCheck(count: count, input: Gen.uint64()) { seed in Self.modelRun(seed) }
    }

    static func modelRun(_ seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        func next(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let ttlMs = Int64(50 + next(500))
        var ttl = StateTtlConfig(
            ttlMilliseconds: ttlMs, updateType: next(2) == 0 ? .onCreateAndWrite : .onReadAndWrite,
            visibility: next(2) == 0 ? .neverReturnExpired : .returnExpiredIfNotCleanedUp)
        // What an expired entry that is still stored returns depends on whether cleanup got
        // to it first: only read-time removal is deterministic, so the model runs without
        // the other two when expired entries are returned.
        if ttl.visibility == .returnExpiredIfNotCleanedUp {
            ttl.cleanupInBackground = false
            ttl.cleanupFullSnapshot = false
        } else {
            ttl.cleanupInBackground = next(4) != 0
            ttl.cleanupFullSnapshot = next(2) == 0
        }
        let rows = 400 + next(2500)
        let keys = 1 + next(40)
        var times: [Int64] = [1_000_000]
        var records: [TtlRecord] = []
        for position in 1...rows {
            let step = next(20) == 0 ? 2 * ttlMs : Int64(next(Int(ttlMs / 4) + 1))
            times.append(times[position - 1] + step)
            let key = Int64(next(keys))
            let op: TtlOp
            switch next(10) {
            case 0, 1: op = .read
            case 2, 3: op = .write(Int64(next(1000)))
            case 4: op = .clear
            case 5: op = .mapGet(Int64(next(6)))
            case 6, 7: op = .mapPut(Int64(next(6)), Int64(next(1000)))
            case 8: op = .mapRemove(Int64(next(6)))
            default: op = .mapEntries
            }
            records.append(TtlRecord(position: position, key: key, op: op))
        }
        let parallelism = 1 + next(3)
        let mode: CheckpointMode = next(2) == 0 ? .full : .incremental
        let every = 20 + next(300)
        let failAt = next(2) == 0 ? nil : 1 + next(rows)
        let cacheEntries = 2 + next(60)
        let context =
            "seed \(seed): ttl \(ttl), rows \(rows), keys \(keys), p \(parallelism), \(mode), every \(every), fail at \(String(describing: failAt)), cache \(cacheEntries)"

        var model = TtlModel(ttl: ttl)
        var expected: [String] = [""]
        for r in records { expected.append(model.apply(r, now: times[r.position])) }

        let (s, c) = (temp("state"), temp("chk"))
        defer {
            try? FileManager.default.removeItem(atPath: s)
            try? FileManager.default.removeItem(atPath: c)
        }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.parallelism = parallelism
        env.checkpointing.trigger = .everyRecords(every)
        env.checkpointing.mode = mode
        env.checkpointing.waitForInFlightCheckpoint = true
        env.logger.logLevel = .warning
        env.stateBackend.options.memtableSize = 16 << 10
        env.stateBackend.options.targetFileSize = 8 << 10
        env.stateBackend.cacheEntries = cacheEntries
        env.restartStrategy = .fixedDelay(attempts: 2, delayMilliseconds: 0)
        if let failAt { env.failureInjection = .atRecord(failAt) }
        let timeline = times
        env.ttlTimeProvider = TtlTimeProvider { timeline[min($0, timeline.count - 1)] }
        let results = TtlResults()
        let input = records
        let config = ttl
        let job = env.fromSource { GeneratorSource(count: input.count) { input[$0] } }
            .keyBy(codec: Int64Codec()) { $0.key }
            .process { TtlModelFunction(ttl: config) }
            .sink { _ in TtlResultSink(results: results) }
        do {
            let r = try env.execute(job, name: "ttl model")
            #expect(results.conflicts.isEmpty, "\(context): \(results.conflicts.prefix(3))")
            var wrong: [String] = []
            for p in 1...rows where results.byPosition[p] != expected[p] {
                wrong.append(
                    "record \(p) (\(records[p - 1].op)): \(results.byPosition[p] ?? "none"), model \(expected[p])")
            }
            #expect(wrong.isEmpty, "\(context): \(wrong.count) wrong, first \(wrong.prefix(3))")
            let d = model.digest(now: times[rows])
            #expect(r.stateDigest == d.digest && r.stateEntries == d.entries, "\(context): final state")
            #expect(r.restarts.count == (failAt == nil ? 0 : 1), "\(context)")
        } catch {
            Issue.record("\(context): \(error)")
        }
    }

    /// The compaction filter removes exactly the expired entries of states with a time to
    /// live and background cleanup, keeps everything else (other states, cleanup off, values
    /// too short to hold a time), and hands other states' entries to the embedder's filter.
    @Test(arguments: 0..<4)
    func compactionRemovesExpiredEntriesAndNothingElse(round: Int) throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let states = TtlStates()
        try states.register(id: 7, name: "a", config: StateTtlConfig(ttlMilliseconds: 100))
        var noCleanup = StateTtlConfig(ttlMilliseconds: 100)
        noCleanup.cleanupInBackground = false
        try states.register(id: 9, name: "b", config: noCleanup)
        let clock = TtlClock()
        let now: Int64 = 10_000
        clock.publish(now)

        /// The embedder's own filter: drops entries of state 5 whose value starts with 0xEE.
        struct Mine: CompactionFilter {
            func filter(
                level: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer
            )
                -> CompactionFilterDecision
            {
                key[2] == 5 && value.first == 0xEE ? .remove : .keep
            }
        }
        let dir = temp("ttl-filter")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var o = Options()
        o.memtableSize = 8 << 10
        o.targetFileSize = 4 << 10
        o.compactionFilter = TtlCompactionFilter(states: states, clock: clock, next: Mine())
        let store = try LSMStore.open(at: dir, options: o)
        var model: [[UInt8]: [UInt8]] = [:]
        for i in 0..<3000 {
            let id: UInt8 = [5, 7, 9][Int(rng.next() % 3)]
            let key: [UInt8] = [0, UInt8(rng.next() % 4), id] + withUnsafeBytes(of: UInt32(i).bigEndian) { Array($0) }
            var value: [UInt8] = []
            if id == 5 {
                value = [rng.next() % 4 == 0 ? 0xEE : 0x01, 2, 3]
            } else if rng.next() % 20 == 0 {
                value = [1, 2, 3]  // shorter than a header: kept
            } else {
                TtlValue.appendHeader(now - 200 + Int64(rng.next() % 200), to: &value)
                value.append(contentsOf: [UInt8](repeating: 0x42, count: Int(rng.next() % 40)))
            }
            try store.put(key, value)
            model[key] = value
            if rng.next() % 500 == 0 { try store.flush() }
        }
        try store.compact()
        let survivors = try store.scan().collect()
        var expected: [[UInt8]: [UInt8]] = [:]
        for (k, v) in model {
            if k[2] == 5 && v.first == 0xEE { continue }
            if k[2] == 7, let ts = TtlValue.timestamp(v[...]), ts + 100 <= now { continue }
            expected[k] = v
        }
        #expect(
            Dictionary(uniqueKeysWithValues: survivors.map { ($0.key, $0.value) }) == expected,
            "seed \(seed): \(survivors.count) survivors, \(expected.count) expected")
        #expect(store.stats.compactionFilterRemoved == model.count - expected.count, "seed \(seed)")
        try store.close()
    }

    /// With checkpoints, compaction expires entries only as of the latest barrier: a full
    /// checkpoint at the end (cleanup on) holds exactly the live entries, and restoring it
    /// gives the job's digest; a restart from a checkpoint replays the same answers.
    @Test(arguments: [CheckpointMode.full, .incremental])
    func fullCheckpointsHoldNoExpiredEntries(mode: CheckpointMode) throws {
        let (s, c, r) = (temp("state"), temp("chk"), temp("restore"))
        defer {
            for d in [s, c, r] { try? FileManager.default.removeItem(atPath: d) }
        }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.checkpointing.trigger = .everyRecords(500)
        env.checkpointing.mode = mode
        env.checkpointing.waitForInFlightCheckpoint = true
        env.logger.logLevel = .warning
        env.stateBackend.options.memtableSize = 16 << 10
        env.stateBackend.cacheEntries = 50
        // Accounts go idle: record i touches one of 50 accounts starting at i / 4, and time
        // advances 1 ms a record, so everything not touched in the last 300 records expires.
        env.ttlTimeProvider = .simulated(start: 0, millisecondsPerRecord: 1)
        let ttl = StateTtlConfig(ttlMilliseconds: 300)
        let rows = 6000
        let job = env.fromSource {
            GeneratorSource(count: rows) { idleAccountRecord($0) }
        }
        .keyBy(codec: Int64Codec()) { $0.key }
        .process { TtlModelFunction(ttl: ttl) }
        .sink { _ in TtlResultSink(results: TtlResults()) }
        let result = try env.execute(job, name: "idle accounts")
        var model = TtlModel(ttl: ttl)
        for i in 0..<rows { _ = model.apply(idleAccountRecord(i), now: Int64(i + 1)) }
        let live = model.digest(now: Int64(rows))
        #expect(result.stateDigest == live.digest && result.stateEntries == live.entries)
        #expect(live.entries <= 300 && model.values.count > 1000)
        let restored = try env.restoreLatestCheckpoint(into: r)
        if mode == .full {
            // The final checkpoint was compacted as of its barrier (the last record's time).
            #expect(restored.stateEntries == live.entries)
            #expect(restored.stateDigest == live.digest)
        } else {
            #expect(restored.stateEntries >= live.entries)
        }
        // The checkpoints shrink as accounts go idle: the last is far below the whole state.
        let sizes = result.checkpoints.map(\.fullSize)
        #expect(sizes.count >= 10)
        if mode == .full, let first = sizes.dropFirst(2).first, let last = sizes.last {
            #expect(last < first * 2, "\(sizes)")
        }
    }
}
