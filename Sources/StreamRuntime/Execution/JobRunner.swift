import Foundation
import LSMStore
import Logging

/// Runs one job: a source thread (this one) feeding `parallelism` keyed subtasks, each on its
/// own thread with its own store; checkpoint barriers flow from the source through every
/// subtask's channel, so each checkpoint is one consistent cut (source position + every
/// subtask's store checkpoint), recorded in the job `_metadata` once every subtask has
/// finished its part. A failure stops the attempt; the restart strategy restores every
/// subtask from the latest completed checkpoint and resumes the source from its position.
final class JobRunner<Source: StreamSource, K: Sendable, T: Sendable, F: KeyedProcessFunction, S: StreamSink>:
    @unchecked Sendable
where F.Key == K, F.Input == T, S.Input == F.Output {
    let env: StreamExecutionEnvironment
    let name: String
    let keyed: KeyedStream<Source, K, T>
    let uid: String
    let requests: SavepointRequests?
    let makeFunction: @Sendable () -> F
    let makeSink: @Sendable (Int) throws -> S
    let clock = ContinuousClock()
    let start: ContinuousClock.Instant
    let coordinator: CheckpointCoordinator

    // Results across attempts.
    var recordsIn = 0
    var recordsOut = 0
    var restarts: [(cause: String, restoreSeconds: Double, restoredCheckpoint: UInt64?)] = []
    /// Lower bounds measured per checkpoint id (summed over subtasks), filled in after the
    /// checkpoints complete.
    var lowerBounds: [UInt64: UInt64] = [:]
    let failures: FailureInjector
    /// The job's states with a time to live (declared by the subtasks as they run), and each
    /// subtask's time for its store's compaction filter in the current attempt.
    let ttlStates = TtlStates()
    var ttlClocks: [TtlClock] = []
    /// The position of the last record the source read (for the time the state digest is
    /// taken at).
    var finalPosition = 0
    /// The job's declared states (for savepoints), the savepoint it started from, and
    /// whether a stop-with-savepoint ended it.
    let declaredStates = DeclaredStates()
    var savepointStart: LoadedSavepoint? = nil
    var stoppedWithSavepoint = false

    /// A savepoint the job starts from: its metadata and storage, and whether its state is
    /// restored (not when it is another operator's and that is allowed).
    struct LoadedSavepoint {
        let metadata: SavepointMetadata
        let storage: any CheckpointStorage
        let location: String
        let restoresState: Bool
    }

    typealias Event = JobEvent<K, T>

    init(
        env: StreamExecutionEnvironment, name: String, keyed: KeyedStream<Source, K, T>, uid: String,
        makeFunction: @escaping @Sendable () -> F, makeSink: @escaping @Sendable (Int) throws -> S,
        requests: SavepointRequests?
    ) throws {
        self.env = env
        self.name = name
        self.keyed = keyed
        self.uid = uid
        self.requests = requests
        self.makeFunction = makeFunction
        self.makeSink = makeSink
        self.start = clock.now
        if let folder = env.checkpoints.folder {
            try JobRunnerSupport.requireDisjoint(state: env.stateBackend.directory, checkpoints: folder)
        }
        self.coordinator = try CheckpointCoordinator(env: env, start: start)
        self.failures = FailureInjector(env.failureInjection)
        coordinator.operatorID = uid
        coordinator.declaredStates = declaredStates
        coordinator.requests = requests
    }

    /// Reads and checks the savepoint to start from: key groups must match; another
    /// operator's savepoint is refused unless non-restored state is allowed.
    func loadSavepoint(_ settings: SavepointRestoreSettings) throws -> LoadedSavepoint {
        let location = settings.location.description
        let storage = try settings.location.storage("")
        let (m, _) = try SavepointStore.readMetadata(storage, location: location)
        guard Int(m.maxParallelism) == env.maxParallelism else {
            throw StreamError.savepoint(
                "\(location) has \(m.maxParallelism) key groups (maxParallelism), the job \(env.maxParallelism); they cannot change"
            )
        }
        var restores = true
        if m.operatorID != uid {
            guard settings.allowNonRestoredState else {
                throw StreamError.invalidJob(
                    "the savepoint \(location) holds the state of operator \"\(m.operatorID)\", which the job does not have (its keyed operator is \"\(uid)\"); allow non-restored state to start without it"
                )
            }
            env.logger.warning(
                "savepoint \(location): operator \"\(m.operatorID)\" is not in the job; its state is dropped")
            restores = false
        }
        if restores { coordinator.restoredStates = Dictionary(uniqueKeysWithValues: m.states.map { ($0.id, $0) }) }
        return LoadedSavepoint(metadata: m, storage: storage, location: location, restoresState: restores)
    }

    func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    // MARK: Run

    func run() throws -> JobResult {
        env.monitor?.jobStarted(name: name, parallelism: env.parallelism, mode: env.checkpointing.mode)
        do {
            let r = try runJob()
            env.monitor?.jobEnded(failure: nil)
            return r
        } catch {
            env.monitor?.jobEnded(failure: "\(error)")
            throw error
        }
    }

    private func runJob() throws -> JobResult {
        // Leftover state must go, or a fresh attempt could open it and count stale state.
        try JobRunnerSupport.removeTree(env.stateBackend.directory)
        var restoreFrom: JobCheckpointMetadata? = nil
        if !env.resumeFromLatestCheckpoint, let settings = env.savepointRestore {
            savepointStart = try loadSavepoint(settings)
        }
        if env.resumeFromLatestCheckpoint {
            guard let m = try coordinator.latestJobCheckpoint() else {
                throw StreamError.checkpoint("no completed job checkpoint in \(env.checkpoints) to resume from")
            }
            restoreFrom = m
        } else {
            // A fresh job: earlier runs' checkpoints in this storage are not resumed from.
            for sub in JobLayout.folders { try env.checkpoints.removeAll(sub) }
        }
        var attempt = 0
        var final: (stores: [LSMStore], processed: Int, writeBacks: Int, counters: [String: Int])? = nil
        while final == nil {
            do {
                final = try runAttempt(attempt, restoreFrom: restoreFrom)
            } catch {
                let cause = "\(error)"
                coordinator.abandonSavepoints("the attempt failed: \(cause)")
                coordinator.abortAtShutdown("the attempt failed: \(cause)")
                env.monitor?.attemptFailed(cause: cause)
                guard case let .fixedDelay(attempts, delay) = env.restartStrategy, restarts.count < attempts else {
                    env.logger.error("job \(name) failed for good after \(restarts.count + 1) attempt(s): \(cause)")
                    throw StreamError.jobFailed(attempts: restarts.count + 1, cause: cause)
                }
                env.logger.warning(
                    "job \(name) failed: \(cause); restarting (\(restarts.count + 1) of \(attempts)) in \(delay) ms")
                if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
                restoreFrom = try coordinator.latestJobCheckpoint()
                restarts.append((cause, 0, restoreFrom?.id))
                attempt += 1
            }
        }
        guard let final else { throw StreamError.jobFailed(attempts: attempt + 1, cause: "no result") }
        let elapsed = clock.now - start  // the digest scan below is not part of the job's time
        var digest: UInt64 = 0
        var entries = 0
        // Entries of states with a time to live that have expired by the end are left out:
        // whether compaction has removed them yet is a matter of timing.
        let ttl = ttlStates.isEmpty ? nil : (configs: ttlStates.all(), now: env.ttlTimeProvider.now(finalPosition))
        for store in final.stores {
            let it = try store.scan()
            while let (k, v) = try it.next() {
                if let ttl, TtlStates.isExpired(key: k, value: v, now: ttl.now, configs: ttl.configs) { continue }
                digest = digest &+ stateEntryHash(k, v)
                entries += 1
            }
            try store.close()
        }
        coordinator.attachLowerBounds(lowerBounds)
        return JobResult(
            name: name, recordsIn: recordsIn, recordsProcessed: final.processed, recordsOut: recordsOut,
            sourceCounters: final.counters,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            restarts: restarts, checkpoints: coordinator.checkpoints, failedCheckpoints: coordinator.failedCheckpoints,
            peakConcurrentCheckpoints: coordinator.peakInFlight, stateDigest: digest, stateEntries: entries,
            checkpointFailures: coordinator.failures, savepoints: coordinator.savepoints,
            failedSavepoints: coordinator.failedSavepoints,
            stoppedWithSavepoint: stoppedWithSavepoint, writeBacks: final.writeBacks)
    }

    // MARK: Restore

    /// The options of subtask `i`'s store: the backend's, with a compaction filter that
    /// removes expired entries of states with a time to live (as of `ttlClocks[i]`) and
    /// hands every other entry to the embedder's own filter.
    func storeOptions(subtask i: Int) -> Options {
        var o = env.stateBackend.options
        o.compactionFilter = TtlCompactionFilter(states: ttlStates, clock: ttlClocks[i], next: o.compactionFilter)
        return o
    }

    func openStores(_ attempt: Int, restoreFrom m: JobCheckpointMetadata?) throws -> [LSMStore] {
        let p = env.parallelism
        let base = env.stateBackend.directory + "/attempt-\(attempt)"
        try JobRunnerSupport.removeTree(base)
        let options = env.stateBackend.options
        ttlClocks = (0..<p).map { _ in TtlClock() }
        guard let m else {
            let stores = try (0..<p).map {
                try LSMStore.open(at: "\(base)/subtask-\($0)", options: storeOptions(subtask: $0))
            }
            // A job started from a savepoint: each subtask loads its key groups from the parts.
            if let sp = savepointStart, sp.restoresState {
                let restoreStart = clock.now
                do {
                    for (j, store) in stores.enumerated() {
                        try SavepointStore.load(
                            sp.metadata, storage: sp.storage, location: sp.location, into: store,
                            groups: KeyGroups.range(ofSubtask: j, parallelism: p, maxParallelism: env.maxParallelism))
                    }
                } catch {
                    for s in stores { try? s.close() }
                    throw error
                }
                if !restarts.isEmpty {
                    restarts[restarts.count - 1].restoreSeconds = ms(clock.now - restoreStart) / 1000
                }
            }
            return stores
        }
        let restoreStart = clock.now
        defer {
            if !restarts.isEmpty { restarts[restarts.count - 1].restoreSeconds = ms(clock.now - restoreStart) / 1000 }
        }
        guard m.maxParallelism == env.maxParallelism else {
            throw StreamError.checkpoint(
                "checkpoint \(m.id) has maxParallelism \(m.maxParallelism), the job \(env.maxParallelism)")
        }
        guard m.subtaskStorages.count == m.parallelism else {
            throw StreamError.checkpoint(
                "checkpoint \(m.id) lists \(m.subtaskStorages.count) subtask storages for parallelism \(m.parallelism)")
        }
        func oldStorage(_ i: Int) throws -> any CheckpointStorage {
            try env.checkpoints.storage(JobLayout.subtaskStorage(m.subtaskStorages[i]))
        }
        if m.parallelism == p {
            return try (0..<p).map { i in
                try LSMStore.restore(
                    from: oldStorage(i), checkpoint: m.id, to: "\(base)/subtask-\(i)", options: storeOptions(subtask: i)
                )
            }
        }
        // Rescale: each new subtask takes the key groups it owns from the old subtasks' stores.
        var olds: [LSMStore] = []
        for i in 0..<m.parallelism {
            olds.append(
                try LSMStore.restore(from: oldStorage(i), checkpoint: m.id, to: "\(base)/old-\(i)", options: options))
        }
        defer {
            for (i, s) in olds.enumerated() {
                try? s.close()
                try? FileManager.default.removeItem(atPath: "\(base)/old-\(i)")
            }
        }
        var stores: [LSMStore] = []
        for j in 0..<p {
            let store = try LSMStore.open(at: "\(base)/subtask-\(j)", options: storeOptions(subtask: j))
            let groups = KeyGroups.range(ofSubtask: j, parallelism: p, maxParallelism: env.maxParallelism)
            let lo = KeyGroups.prefix(groups.lowerBound)
            let hi: [UInt8]? = groups.upperBound < env.maxParallelism ? KeyGroups.prefix(groups.upperBound) : nil
            for old in olds {
                let it = try old.scan(from: lo, to: hi)
                var batch = WriteBatch()
                while let (k, v) = try it.next() {
                    batch.put(k, v)
                    if batch.count >= 10_000 {
                        try store.write(batch)
                        batch.clear()
                    }
                }
                try store.write(batch)
            }
            stores.append(store)
        }
        return stores
    }

    // MARK: One attempt

    func runAttempt(
        _ attempt: Int, restoreFrom: JobCheckpointMetadata?
    ) throws -> (stores: [LSMStore], processed: Int, writeBacks: Int, counters: [String: Int]) {
        let p = env.parallelism
        let stores = try openStores(attempt, restoreFrom: restoreFrom)
        env.monitor?.attemptStarted(stores: stores)
        var closeOnFailure = true
        defer { if closeOnFailure { for s in stores { try? s.close() } } }
        // Subtask checkpoint storages: job retention decides what goes, so each keeps all.
        let checkpointers: [Checkpointer] = try (0..<p).map { i in
            let storage = try env.checkpoints.storage(
                JobLayout.subtaskStorage(JobLayout.subtaskStorageName(parallelism: p, subtask: i)))
            let cp = try Checkpointer(store: stores[i], storage: storage, retained: Int.max / 2)
            // Anything after the checkpoint we resume from belongs to the failed attempt.
            for id in cp.completedCheckpoints where id > (restoreFrom?.id ?? 0) { try cp.discard(id) }
            // The job owns this folder: what earlier attempts left is removed at once.
            try cp.cleanup(sparingClaimsYoungerThan: .zero)
            return cp
        }
        // Job checkpoints after the restored one are gone too.
        try coordinator.removeCheckpoints(after: restoreFrom)

        let state = AttemptState()
        // Declarations are checked against the savepoint when this attempt started from it.
        let restoredSavepoint: RestoredSavepointStates? =
            restoreFrom == nil && savepointStart?.restoresState == true
            ? savepointStart.map {
                RestoredSavepointStates(
                    states: Dictionary(uniqueKeysWithValues: $0.metadata.states.map { ($0.id, $0) }),
                    allowNonRestoredState: env.savepointRestore?.allowNonRestoredState ?? false, location: $0.location)
            } : nil
        let channels = (0..<p).map { _ in Channel<Event>(capacity: max(1, env.batchesInFlight)) }
        var threads: [Thread] = []
        let done = DispatchGroup()
        for i in 0..<p {
            done.enter()
            let t = Thread { [self] in
                Thread.current.name = "subtask-\(i)"
                defer { done.leave() }
                do {
                    try SubtaskTask(
                        index: i, store: stores[i], checkpointer: checkpointers[i], channel: channels[i], state: state,
                        env: env, makeFunction: makeFunction, makeSink: makeSink, failures: failures,
                        ttlStates: ttlStates, ttlClock: ttlClocks[i], declaredStates: declaredStates,
                        restoredSavepoint: restoredSavepoint
                    ).run()
                } catch {
                    state.fail(error)
                    for c in channels { c.close() }
                }
            }
            t.stackSize = 8 << 20
            threads.append(t)
            t.start()
        }

        var counters: [String: Int] = [:]
        var sourceError: Error? = nil
        let source = SourceTask(
            keyed: keyed, env: env, coordinator: coordinator, channels: channels, checkpointers: checkpointers,
            state: state)
        defer {
            recordsIn += source.recordsRead
            finalPosition = max(finalPosition, source.position)
        }
        do {
            counters = try source.run(
                restoreFrom: restoreFrom, savepoint: restoreFrom == nil ? savepointStart?.metadata : nil,
                requests: requests)
            stoppedWithSavepoint = source.stoppedWithSavepoint
        } catch {
            sourceError = error
            state.fail(error)
            for c in channels { c.close() }
        }
        // The last checkpoint completes as soon as its parts are acked, not once the subtasks
        // have wound down (their upload threads may still measure lower bounds): the wait
        // ends early if a subtask fails, and a part that never comes times out as usual.
        if sourceError == nil {
            coordinator.collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: 0)
        }
        done.wait()
        state.lock.lock()
        lowerBounds.merge(state.lowerBounds, uniquingKeysWith: +)
        state.lock.unlock()
        if let e = state.failed ?? sourceError { throw e }
        // Wait for the last checkpoint's subtask acks (uploads finish in the subtasks).
        coordinator.collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: 0)
        // Every subtask has ended, so every savepoint part is in.
        coordinator.collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: nil)
        coordinator.abandonSavepoints("the job ended before every part was written")
        closeOnFailure = false
        recordsOut += state.out
        return (stores, state.processed, state.writeBacks, counters)
    }

}

/// A subtask's answer to a checkpoint barrier.
struct Ack {
    let subtask: Int
    let id: UInt64
    let report: CheckpointReport?
    let alignment: Duration
    /// The synchronous phase: the subtask's pause at the barrier to start the cut.
    let cacheFlush: Duration
    /// Capturing the cut on the subtask's thread, between records.
    let cutCapture: Duration
    /// Writing the cut to the store and switching memtables, on the upload thread (part of
    /// the asynchronous phase).
    let cutApply: Duration
    let error: String?
    /// Why the part failed, with `error`.
    var errorCategory: CheckpointFailureCategory? = nil
    /// When the part was finished (a checkpoint completes when its last part does).
    let at: ContinuousClock.Instant
    /// A savepoint's part (nil for a checkpoint's; nil with `error` for a failed one).
    var savepoint: (part: SavepointMetadata.Part, perState: [UInt8: UInt64])? = nil
    var isSavepoint = false
}

/// Where a savepoint's parts go.
struct SavepointTarget: @unchecked Sendable {
    let storage: any CheckpointStorage
    let location: String
}

/// Shared between the source thread and the subtasks of one attempt.
final class AttemptState: @unchecked Sendable {
    let lock = NSLock()
    var failure: Error?
    var acks: [Ack] = []
    var lowerBounds: [UInt64: UInt64] = [:]
    /// A random failure was injected in this attempt (guarded by `FailureInjector`'s lock).
    var randomFailureInjected = false
    var processed = 0
    /// Write-backs of dirty state between barriers (`StateBackendConfig.writeBacksPerInterval`).
    var writeBacks = 0
    var out = 0

    func fail(_ e: Error) {
        lock.lock()
        if failure == nil { failure = e }
        lock.unlock()
    }
    var failed: Error? {
        lock.lock()
        defer { lock.unlock() }
        return failure
    }
}

/// Hash of one state entry; the job's state digest is the wrapping sum over all entries, so
/// it does not depend on their order, the parallelism, or which subtask held which key.
func stateEntryHash(_ k: [UInt8], _ v: [UInt8]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in k { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    h = (h ^ 0xff) &* 0x100_0000_01b3
    for b in v { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
    h ^= h >> 29
    h = h &* 0xbf58_476d_1ce4_e5b9
    return h ^ (h >> 32)
}

/// Job-checkpoint helpers shared by the runner and `StreamExecutionEnvironment.restoreLatestCheckpoint`.
enum JobRunnerSupport {
    /// The newest job checkpoint whose `_metadata` exists. A damaged newest `_metadata` is
    /// an error naming it, never a reason to resume from an older checkpoint in silence.
    static func latestJobCheckpoint(
        _ jobStorage: any CheckpointStorage, in location: CheckpointLocation
    ) throws -> JobCheckpointMetadata? {
        let ids = try jobStorage.list("").compactMap(CheckpointLayout.id(ofFolder:)).sorted()
        for id in ids.reversed() {
            let name = CheckpointLayout.metadata(id)
            guard try jobStorage.size(name) != nil else { continue }
            do {
                return try JobCheckpointMetadata.decode(try jobStorage.get(name), name: name)
            } catch {
                throw StreamError.checkpoint(
                    "the newest job checkpoint \(location)/\(JobLayout.jobStorage)/\(name) cannot be read (\(error)); "
                        + "repair or remove it to resume from an older one")
            }
        }
        return nil
    }

    /// Removes the tree at `path` if there is one; fails when it cannot, rather than leave
    /// stale state or checkpoints in place.
    static func removeTree(_ path: String) throws {
        let fm = FileManager.default
        guard fm.fileExists(atPath: path) else { return }
        do {
            try fm.removeItem(atPath: path)
        } catch {
            throw StreamError.storage("cannot remove \(path): \(error)")
        }
        if fm.fileExists(atPath: path) { throw StreamError.storage("cannot remove \(path): it is still there") }
    }

    /// Refuses a state directory and a checkpoint directory that are the same or nest: a
    /// fresh job removes its state directory (and would take the checkpoints with it), and
    /// checkpoint cleanup must never see a store's files.
    static func requireDisjoint(state: String, checkpoints: String) throws {
        func canonical(_ p: String) -> String {
            URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path
        }
        let a = canonical(state), b = canonical(checkpoints)
        if a == b || a.hasPrefix(b.hasSuffix("/") ? b : b + "/") || b.hasPrefix(a.hasSuffix("/") ? a : a + "/") {
            throw StreamError.storage(
                "the state directory \(state) and the checkpoint directory \(checkpoints) overlap; use two separate folders"
            )
        }
    }
}

/// CLOCK_MONOTONIC_COARSE in milliseconds: cheap enough to read per record.
@inline(__always)
func coarseMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// What the source sends a subtask, in order: batches of keyed records, checkpoint
/// barriers, and the end of the input.
enum JobEvent<K, T> {
    case records(RecordBatch<K, T>)
    /// A checkpoint's barrier, or a savepoint's (`savepoint` says where its parts go).
    case barrier(id: UInt64, injectedAt: ContinuousClock.Instant, savepoint: SavepointTarget?)
    case end
}
