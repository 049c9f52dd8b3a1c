import Foundation
import LSMStore
import Logging

/// Runs one job: a source thread (this one) feeding `parallelism` keyed subtasks, each on its
/// own thread with its own store; checkpoint barriers flow from the source through every
/// subtask's channel, so each checkpoint is one consistent cut (source position + every
/// subtask's store checkpoint), recorded in the job `_metadata` once every subtask has
/// finished its part. A failure stops the attempt; the restart strategy restores every
/// subtask from the latest completed checkpoint and resumes the source from its position.
final class JobRunner<Source: StreamSource, K: Sendable, T: Sendable, F: KeyedProcessFunction, S: StreamSink>: @unchecked Sendable
where F.Key == K, F.Input == T, S.Input == F.Output {
    let env: StreamExecutionEnvironment
    let name: String
    let keyed: KeyedStream<Source, K, T>
    let makeFunction: @Sendable () -> F
    let makeSink: @Sendable (Int) throws -> S
    let clock = ContinuousClock()
    let start: ContinuousClock.Instant
    let jobStorage: LocalCheckpointStorage

    // Results across attempts.
    var recordsIn = 0
    var recordsOut = 0
    var restarts: [(cause: String, restoreSeconds: Double)] = []
    var checkpoints: [JobCheckpointStats] = []
    var failedCheckpoints = 0
    /// Lower bounds measured per checkpoint id (summed over subtasks), filled in after the
    /// checkpoints complete.
    var lowerBounds: [UInt64: UInt64] = [:]
    var injectedAtRecordDone = false
    var randomFailures = 0
    var rng: UInt64

    enum Event {
        case records([(key: StateKey, group: Int, value: K, record: T, index: Int)])
        case barrier(id: UInt64, injectedAt: ContinuousClock.Instant)
        case end
    }

    init(
        env: StreamExecutionEnvironment, name: String, keyed: KeyedStream<Source, K, T>,
        makeFunction: @escaping @Sendable () -> F, makeSink: @escaping @Sendable (Int) throws -> S
    ) throws {
        self.env = env
        self.name = name
        self.keyed = keyed
        self.makeFunction = makeFunction
        self.makeSink = makeSink
        self.start = clock.now
        try JobRunnerSupport.requireDisjoint(state: env.stateBackend.directory, checkpoints: env.checkpointDirectory)
        self.jobStorage = try LocalCheckpointStorage(root: env.checkpointDirectory + "/job")
        self.rng = env.failureInjection.seed
    }

    func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    // MARK: Job checkpoints in the storage

    func latestJobCheckpoint() throws -> JobCheckpointMetadata? { try JobRunnerSupport.latestJobCheckpoint(jobStorage) }

    func completedJobCheckpointIDs() throws -> [UInt64] {
        try jobStorage.list("").compactMap { n -> UInt64? in
            guard n.hasPrefix("chk-"), let id = UInt64(n.dropFirst(4)) else { return nil }
            return try jobStorage.size("\(n)/_metadata") != nil ? id : nil
        }.sorted()
    }

    func removeJobCheckpoint(_ id: UInt64) throws {
        try jobStorage.delete("chk-\(id)/_metadata")  // first: from then on it reads as incomplete
        for name in try jobStorage.list("chk-\(id)") { try jobStorage.delete("chk-\(id)/\(name)") }
        try jobStorage.delete("chk-\(id)")
    }

    // MARK: Run

    func run() throws -> JobResult {
        // Leftover state must go, or a fresh attempt could open it and count stale state.
        try JobRunnerSupport.removeTree(env.stateBackend.directory)
        var restoreFrom: JobCheckpointMetadata? = nil
        if env.resumeFromLatestCheckpoint {
            guard let m = try latestJobCheckpoint() else {
                throw StreamError.checkpoint("no completed job checkpoint in \(env.checkpointDirectory) to resume from")
            }
            restoreFrom = m
        } else {
            // A fresh job: earlier runs' checkpoints in this storage are not resumed from.
            let root = env.checkpointDirectory
            for sub in ["job", "subtasks"] { try JobRunnerSupport.removeTree(root + "/" + sub) }
        }
        var attempt = 0
        var final: (stores: [LSMStore], processed: Int, counters: [String: Int])? = nil
        while final == nil {
            do {
                final = try runAttempt(attempt, restoreFrom: restoreFrom)
            } catch {
                let cause = "\(error)"
                guard case let .fixedDelay(attempts, delay) = env.restartStrategy, restarts.count < attempts else {
                    env.logger.error("job \(name) failed for good after \(restarts.count + 1) attempt(s): \(cause)")
                    throw StreamError.jobFailed(attempts: restarts.count + 1, cause: cause)
                }
                env.logger.warning("job \(name) failed: \(cause); restarting (\(restarts.count + 1) of \(attempts)) in \(delay) ms")
                if delay > 0 { Thread.sleep(forTimeInterval: Double(delay) / 1000) }
                restoreFrom = try latestJobCheckpoint()
                restarts.append((cause, 0))
                attempt += 1
            }
        }
        guard let final else { throw StreamError.jobFailed(attempts: attempt + 1, cause: "no result") }
        let elapsed = clock.now - start  // the digest scan below is not part of the job's time
        var digest: UInt64 = 0
        var entries = 0
        for store in final.stores {
            let it = try store.scan()
            while let (k, v) = try it.next() {
                digest = digest &+ stateEntryHash(k, v)
                entries += 1
            }
            try store.close()
        }
        for i in checkpoints.indices { checkpoints[i].lowerBoundBytes = lowerBounds[checkpoints[i].id] ?? 0 }
        return JobResult(
            name: name, recordsIn: recordsIn, recordsProcessed: final.processed, recordsOut: recordsOut,
            sourceCounters: final.counters,
            seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18,
            restarts: restarts, checkpoints: checkpoints, failedCheckpoints: failedCheckpoints,
            peakConcurrentCheckpoints: peakInFlight, stateDigest: digest, stateEntries: entries)
    }

    // MARK: Restore

    func storageName(parallelism p: Int, subtask i: Int) -> String { "p\(p)-s\(i)" }

    func openStores(_ attempt: Int, restoreFrom m: JobCheckpointMetadata?) throws -> [LSMStore] {
        let p = env.parallelism
        let base = env.stateBackend.directory + "/attempt-\(attempt)"
        try JobRunnerSupport.removeTree(base)
        let options = env.stateBackend.options
        guard let m else {
            return try (0..<p).map { try LSMStore.open(at: "\(base)/subtask-\($0)", options: options) }
        }
        let restoreStart = clock.now
        defer { if !restarts.isEmpty { restarts[restarts.count - 1].restoreSeconds = ms(clock.now - restoreStart) / 1000 } }
        guard m.maxParallelism == env.maxParallelism else {
            throw StreamError.checkpoint("checkpoint \(m.id) has maxParallelism \(m.maxParallelism), the job \(env.maxParallelism)")
        }
        guard m.subtaskStorages.count == m.parallelism else {
            throw StreamError.checkpoint("checkpoint \(m.id) lists \(m.subtaskStorages.count) subtask storages for parallelism \(m.parallelism)")
        }
        func oldStorage(_ i: Int) throws -> LocalCheckpointStorage {
            try LocalCheckpointStorage(root: env.checkpointDirectory + "/subtasks/" + m.subtaskStorages[i])
        }
        if m.parallelism == p {
            return try (0..<p).map { i in
                try LSMStore.restore(from: oldStorage(i), checkpoint: m.id, to: "\(base)/subtask-\(i)", options: options)
            }
        }
        // Rescale: each new subtask takes the key groups it owns from the old subtasks' stores.
        var olds: [LSMStore] = []
        for i in 0..<m.parallelism {
            olds.append(try LSMStore.restore(from: oldStorage(i), checkpoint: m.id, to: "\(base)/old-\(i)", options: options))
        }
        defer {
            for (i, s) in olds.enumerated() {
                try? s.close()
                try? FileManager.default.removeItem(atPath: "\(base)/old-\(i)")
            }
        }
        var stores: [LSMStore] = []
        for j in 0..<p {
            let store = try LSMStore.open(at: "\(base)/subtask-\(j)", options: options)
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

    func runAttempt(_ attempt: Int, restoreFrom: JobCheckpointMetadata?) throws -> (stores: [LSMStore], processed: Int, counters: [String: Int]) {
        let p = env.parallelism
        let stores = try openStores(attempt, restoreFrom: restoreFrom)
        var closeOnFailure = true
        defer { if closeOnFailure { for s in stores { try? s.close() } } }
        // Subtask checkpoint storages: job retention decides what goes, so each keeps all.
        let checkpointers: [Checkpointer] = try (0..<p).map { i in
            let storage = try LocalCheckpointStorage(root: env.checkpointDirectory + "/subtasks/" + storageName(parallelism: p, subtask: i))
            let cp = try Checkpointer(store: stores[i], storage: storage, retained: Int.max / 2)
            // Anything after the checkpoint we resume from belongs to the failed attempt.
            for id in cp.completedCheckpoints where id > (restoreFrom?.id ?? 0) { try cp.discard(id) }
            // The job owns this folder: what earlier attempts left is removed at once.
            try cp.cleanup(sparingClaimsYoungerThan: .zero)
            return cp
        }
        // Job checkpoints after the restored one are gone too.
        for id in try completedJobCheckpointIDs() where id > (restoreFrom?.id ?? 0) { try removeJobCheckpoint(id) }
        for name in try jobStorage.list("") where name.hasPrefix("chk-") {
            if try jobStorage.size("\(name)/_metadata") == nil {
                for f in try jobStorage.list(name) { try jobStorage.delete("\(name)/\(f)") }
                try jobStorage.delete(name)
            }
        }

        let state = AttemptState()
        let channels = (0..<p).map { _ in Channel<Event>(capacity: 64) }
        var threads: [Thread] = []
        let done = DispatchGroup()
        for i in 0..<p {
            done.enter()
            let t = Thread { [self] in
                Thread.current.name = "subtask-\(i)"
                defer { done.leave() }
                do {
                    try runSubtask(i, store: stores[i], checkpointer: checkpointers[i], channel: channels[i], state: state)
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
        do {
            counters = try runSource(restoreFrom: restoreFrom, channels: channels, checkpointers: checkpointers, state: state)
        } catch {
            sourceError = error
            state.fail(error)
            for c in channels { c.close() }
        }
        done.wait()
        state.lock.lock()
        lowerBounds.merge(state.lowerBounds, uniquingKeysWith: +)
        state.lock.unlock()
        if let e = state.failed ?? sourceError { throw e }
        // Wait for the last checkpoint's subtask acks (uploads finish in the subtasks).
        collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: 0)
        closeOnFailure = false
        recordsOut += state.out
        return (stores, state.processed, counters)
    }

    // MARK: Source and coordinator

    struct InFlight {
        let id: UInt64
        let injectedAt: ContinuousClock.Instant
        let sourcePosition: [UInt8]
        let sourceRecords: Int
        var acks: [Ack] = []
    }
    /// Checkpoints triggered and not yet completed or aborted, oldest first.
    var inFlight: [InFlight] = []
    /// Most checkpoints in flight at once so far (across attempts).
    var peakInFlight = 0
    var lastCompletedAt: ContinuousClock.Instant? = nil
    var nextCheckpointID: UInt64 = 1

    func runSource(
        restoreFrom: JobCheckpointMetadata?, channels: [Channel<Event>], checkpointers: [Checkpointer], state: AttemptState
    ) throws -> [String: Int] {
        let p = env.parallelism
        var source = keyed.stream.makeSource()
        try source.open(at: restoreFrom?.sourcePosition)
        var index = restoreFrom?.sourceRecords ?? 0
        nextCheckpointID = (restoreFrom?.id ?? 0) + 1
        inFlight = []
        // As in Flink, a minimum pause between checkpoints implies one at a time.
        let maxConcurrent = env.checkpointing.minPauseMilliseconds > 0 ? 1 : env.checkpointing.maxConcurrent
        var batches = [[(key: StateKey, group: Int, value: K, record: T, index: Int)]](repeating: [], count: p)
        let transform = keyed.stream.transform
        let keyOf = keyed.key
        let codec = keyed.codec
        let maxP = env.maxParallelism
        let batchSize = env.batchSize
        var sinceCheckpoint = 0
        var lastTriggerCheck = clock.now
        var keyBuffer: [UInt8] = []
        var nextTick = coarseMilliseconds() + 5
        var lastBatchFlush = clock.now
        let bufferTimeout = Duration.milliseconds(env.bufferTimeoutMilliseconds)

        /// Starts the next checkpoint: records it as in flight (with the source's position
        /// after the last record sent) and sends its barrier to every subtask.
        func injectBarrier() -> ContinuousClock.Instant {
            let id = nextCheckpointID
            nextCheckpointID += 1
            let now = clock.now
            inFlight.append(InFlight(id: id, injectedAt: now, sourcePosition: source.position(), sourceRecords: index))
            peakInFlight = max(peakInFlight, inFlight.count)
            for c in channels { c.push(.barrier(id: id, injectedAt: now)) }
            return now
        }

        func flushBatches() {
            for i in 0..<p where !batches[i].isEmpty {
                channels[i].push(.records(batches[i]))
                batches[i].removeAll(keepingCapacity: true)
            }
        }

        while let raw = try source.next() {
            index += 1
            recordsIn += 1
            sinceCheckpoint += 1
            try transform(raw) { t in
                let k = keyOf(t)
                keyBuffer.removeAll(keepingCapacity: true)
                codec.encode(k, into: &keyBuffer)
                // Keys of up to 16 bytes travel inline: no allocation per record.
                let (kb, group) = keyBuffer.withUnsafeBytes { (StateKey($0), KeyGroups.group(of: $0, maxParallelism: maxP)) }
                let sub = KeyGroups.subtask(ofGroup: group, parallelism: p, maxParallelism: maxP)
                batches[sub].append((kb, group, k, t, index))
                if batches[sub].count >= batchSize {
                    channels[sub].push(.records(batches[sub]))
                    batches[sub].removeAll(keepingCapacity: true)
                }
            }
            if index & 1023 == 0, state.failed != nil { break }
            // Coordination runs every 256 records, and at least every 5 ms for a slow source
            // (a rate-limited one): acks, time triggers, and the buffer timeout that hands a
            // partial batch to its subtask (as Flink's 100 ms default).
            // A coarse clock (a few ns to read, ~4 ms resolution) decides whether to look at
            // the precise one.
            let coarse = coarseMilliseconds()
            var intervalElapsed = false
            if index & 255 == 0 || coarse >= nextTick {
                nextTick = coarse + 5
                let now = clock.now
                collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: nil)
                if now - lastBatchFlush >= bufferTimeout {
                    flushBatches()
                    lastBatchFlush = now
                }
                if case .intervalMilliseconds(let n) = env.checkpointing.trigger {
                    intervalElapsed = ms(now - lastTriggerCheck) >= Double(n)
                }
            }
            let due: Bool
            switch env.checkpointing.trigger {
            case .disabled: due = false
            case .everyRecords(let n): due = sinceCheckpoint >= n
            case .intervalMilliseconds: due = intervalElapsed
            }
            // At most `maxConcurrent` checkpoints in flight (Flink's max-concurrent-checkpoints):
            // a due trigger waits for one of them to finish while records keep flowing, then
            // fires on the next record; or, when asked, the source waits for it.
            if due && inFlight.count >= maxConcurrent && env.checkpointing.waitForInFlightCheckpoint {
                collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: maxConcurrent - 1)
            }
            if due && inFlight.count < maxConcurrent {
                if let last = lastCompletedAt, ms(clock.now - last) < Double(env.checkpointing.minPauseMilliseconds) { continue }
                flushBatches()
                lastTriggerCheck = injectBarrier()
                sinceCheckpoint = 0
            }
        }
        flushBatches()
        // A final checkpoint of the whole input (as Flink's checkpoints after tasks finish), so
        // the latest checkpoint holds the job's final state.
        if env.checkpointing.checkpointAtEnd && env.checkpointing.trigger != .disabled && sinceCheckpoint > 0 && state.failed == nil {
            collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: maxConcurrent - 1)
            // The wait ends early when a subtask fails meanwhile: then there is no room, and
            // the attempt is over anyway.
            if inFlight.count < maxConcurrent { _ = injectBarrier() }
        }
        for c in channels { c.push(.end) }
        return source.counters
    }

    /// Gathers subtask acks; completes, fails or times out the checkpoints in flight, oldest
    /// first. With `waitUntilInFlightAtMost: n` it polls until at most n are left in flight
    /// (or the attempt failed); with nil it returns at once.
    func collectAcks(state: AttemptState, checkpointers: [Checkpointer], waitUntilInFlightAtMost limit: Int?) {
        while true {
            state.lock.lock()
            let acks = state.acks
            state.acks.removeAll()
            state.lock.unlock()
            for a in acks {
                if let i = inFlight.firstIndex(where: { $0.id == a.id }) {
                    inFlight[i].acks.append(a)
                } else if a.report != nil {
                    try? checkpointers[a.subtask].discard(a.id)  // a late part of a checkpoint already given up
                }
            }
            // A checkpoint whose last part finished after its timeout is aborted too, even if
            // the acks are only looked at later (the end of the input waits for all of them).
            let timeout = Double(env.checkpointing.timeoutMilliseconds)
            for f in inFlight {
                if f.acks.count == env.parallelism, let last = f.acks.map(\.at).max(), ms(last - f.injectedAt) <= timeout {
                    completeCheckpoint(f, checkpointers: checkpointers)
                } else if ms(clock.now - f.injectedAt) > timeout {
                    abortInFlight(f, checkpointers: checkpointers)
                }
            }
            guard let limit, inFlight.count > limit, state.failed == nil else { return }
            Thread.sleep(forTimeInterval: 0.0005)
        }
    }

    func abortInFlight(_ f: InFlight, checkpointers: [Checkpointer]) {
        failedCheckpoints += 1
        let errors = f.acks.compactMap(\.error)
        env.logger.warning("checkpoint \(f.id) aborted: \(errors.isEmpty ? "timed out" : errors.joined(separator: "; "))")
        for a in f.acks where a.report != nil { try? checkpointers[a.subtask].discard(a.id) }
        inFlight.removeAll { $0.id == f.id }
        lastCompletedAt = clock.now
    }

    func completeCheckpoint(_ f: InFlight, checkpointers: [Checkpointer]) {
        inFlight.removeAll { $0.id == f.id }
        lastCompletedAt = clock.now
        if f.acks.contains(where: { $0.report == nil }) {
            abortInFlight(f, checkpointers: checkpointers)
            return
        }
        let p = env.parallelism
        let meta = JobCheckpointMetadata(
            id: f.id, parallelism: p, maxParallelism: env.maxParallelism, sourcePosition: f.sourcePosition,
            sourceRecords: f.sourceRecords, subtaskStorages: (0..<p).map { storageName(parallelism: p, subtask: $0) },
            createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        do {
            let bytes = try meta.encode()
            // Created exclusively: another job writing into the same folder cannot replace it.
            guard try jobStorage.createExclusively("chk-\(f.id)/_metadata", bytes) else {
                throw StreamError.checkpoint("job checkpoint \(f.id) was created by another writer in \(env.checkpointDirectory)")
            }
            try jobStorage.sync("")
            let total = ms(clock.now - f.injectedAt)
            // Retention: keep the newest `retained` job checkpoints and their subtask parts.
            let ids = try completedJobCheckpointIDs()
            for old in ids.dropLast(env.checkpointing.retained) {
                try removeJobCheckpoint(old)
                for cp in checkpointers where cp.completedCheckpoints.contains(old) { try cp.discard(old) }
            }
            let reports = f.acks.sorted { $0.subtask < $1.subtask }.compactMap(\.report)
            var storage: UInt64 = try jobStorage.bytesOnDisk()
            for cp in checkpointers { storage += (try? cp.storage.bytesOnDisk()) ?? 0 }
            let stats = JobCheckpointStats(
                id: f.id, mode: env.checkpointing.mode, triggerMilliseconds: ms(f.injectedAt - start),
                alignmentMilliseconds: f.acks.map { ms($0.alignment) }.max() ?? 0,
                syncMilliseconds: f.acks.map { ms($0.cacheFlush) }.max() ?? 0,
                captureMilliseconds: f.acks.map { ms($0.cutCapture) }.max() ?? 0,
                asyncMilliseconds: f.acks.map { ms($0.cutApply + ($0.report.map { $0.syncDuration + $0.asyncDuration } ?? .zero)) }.max() ?? 0,
                totalMilliseconds: total,
                bytesWritten: reports.reduce(0) { $0 + $1.bytesWritten } + UInt64(bytes.count),
                fullSize: reports.reduce(0) { $0 + $1.fullSize } + UInt64(bytes.count),
                filesNew: reports.reduce(0) { $0 + $1.filesNew }, filesReused: reports.reduce(0) { $0 + $1.filesReused },
                lowerBoundBytes: 0, storageBytesOnDisk: storage, subtasks: reports)
            checkpoints.append(stats)
            env.logger.info("checkpoint \(stats.id) completed", metadata: [
                "mode": "\(stats.mode.rawValue)", "total_ms": "\(Int(stats.totalMilliseconds))",
                "sync_ms": "\(Int(stats.syncMilliseconds))", "async_ms": "\(Int(stats.asyncMilliseconds))",
                "bytes_written": "\(stats.bytesWritten)", "full_size": "\(stats.fullSize)",
            ])
        } catch {
            failedCheckpoints += 1
            env.logger.warning("checkpoint \(f.id) failed: \(error)")
        }
    }

    // MARK: Subtask

    func runSubtask(_ i: Int, store: LSMStore, checkpointer: Checkpointer, channel: Channel<Event>, state: AttemptState) throws {
        let backend = KeyedStateBackend(store: store, maxParallelism: env.maxParallelism, cacheCapacity: env.stateBackend.cacheEntries,
            cacheByteCapacity: env.stateBackend.cacheBytes)
        backend.trackChanges = env.measureLowerBound && env.checkpointing.trigger != .disabled
        var function = makeFunction()
        var sink = try makeSink(i)
        var context: KeyedContext<K>? = nil
        var processed = 0
        var out = 0
        // Room for every checkpoint that may be in flight, so a barrier never waits here.
        let uploads = Channel<(id: UInt64, cut: StateCut, alignment: Duration, pause: Duration, changed: ChangeLog)>(
            capacity: max(2, env.checkpointing.maxConcurrent))
        let uploadDone = DispatchGroup()
        uploadDone.enter()
        let gate = backend.gate
        let recycled = backend.recycledCuts
        let tracking = backend.trackChanges
        let mode = env.checkpointing.mode
        // Everything after the cut runs here while the subtask goes on processing: the cut's
        // entries are ingested into the store as tables (after any older writes still in
        // the memtable are flushed), so the checkpoint holds exactly the state at the
        // barrier, and the checkpoint's files are uploaded.
        let uploader = Thread {
            Thread.current.name = "upload-\(i)"
            defer { uploadDone.leave() }
            while let (id, cut, alignment, pause, changedBefore) = uploads.pop() {
                var changed = changedBefore
                func ack(_ report: CheckpointReport?, _ apply: Duration, _ error: String?) {
                    state.lock.lock()
                    state.acks.append(Ack(subtask: i, id: id, report: report, alignment: alignment, cacheFlush: pause,
                                          cutCapture: cut.captureDuration, cutApply: apply, error: error, at: self.clock.now))
                    state.lock.unlock()
                }
                let t0 = self.clock.now
                let pending: PendingCheckpoint
                do {
                    try gate.check()
                    // Straight into tables: no memtable insert, and the checkpoint need not
                    // wait for a flush of the same bytes.
                    let batch = cut.sortedBatch()
                    if !batch.isEmpty { try store.ingest(batch) }
                    if tracking { changed.append(batch) }
                    pending = try checkpointer.begin(mode: mode, id: id)
                    gate.didApply()
                    var emptied = cut.entries  // releases the values here, not on the subtask
                    emptied.removeAll(keepingCapacity: true)
                    recycled.tryPush(emptied)
                } catch {
                    gate.fail(error)
                    ack(nil, self.clock.now - t0, "\(error)")
                    continue
                }
                let apply = self.clock.now - t0
                do {
                    ack(try pending.complete(), apply, nil)
                } catch {
                    pending.abort()
                    ack(nil, apply, "\(error)")
                }
                // The lower bound is a measurement, not part of the checkpoint: it is taken
                // after the ack so it does not delay the checkpoint's completion.
                if !changed.isEmpty {
                    var sizer = DataBlockSizer(options: store.options)
                    changed.forEachDistinctLive { k, v in sizer.add(key: k, value: v) }
                    let bound = UInt64(sizer.finish())
                    state.lock.lock()
                    state.lowerBounds[id, default: 0] += bound
                    state.lock.unlock()
                }
            }
        }
        uploader.start()
        // The cut in progress: its barrier's id, alignment and pause, the change list for the
        // lower bound, and the time spent capturing it between records so far.
        var cutInfo: (id: UInt64, alignment: Duration, pause: Duration, changed: ChangeLog)? = nil
        backend.onCutComplete = { cut in
            guard let info = cutInfo else { return }
            cutInfo = nil
            uploads.push((info.id, cut, info.alignment, info.pause, info.changed))
        }
        defer {
            uploads.close()
            uploadDone.wait()
            try? sink.close()
            state.lock.lock()
            state.processed += processed
            state.out += out
            state.lock.unlock()
        }
        let injection = env.failureInjection
        // A cut in progress is completed as soon as the subtask would wait for input: the
        // source may be waiting for this very checkpoint.
        func nextEvent() -> Event? {
            if let e = channel.tryPop() { return e }
            if backend.cutInProgress { backend.finishCut() }
            return channel.pop()
        }
        while let event = nextEvent() {
            switch event {
            case .records(let batch):
                for (keyBytes, group, key, record, index) in batch {
                    if let n = injection.atRecord, index == n, !injectedAtRecordDoneFlag() {
                        throw StreamError.injectedFailure(record: n)
                    }
                    if injection.randomProbability > 0, try randomFailure(index, state: state) {
                        throw StreamError.injectedFailure(record: index)
                    }
                    backend.setCurrentKey(keyBytes, group: group)
                    if context == nil {
                        context = KeyedContext(backend: backend, initialKey: key, subtaskIndex: i)
                        try function.open(context: context!)
                    }
                    context!.currentKey = key
                    try function.processElement(record, context: context!) { o in
                        try sink.write(o)
                        out += 1
                    }
                    processed += 1
                }
                // A cut in progress is captured a slice at a time between batches (a pending
                // slot about to change is captured before it does), so the subtask never stops
                // for the whole walk.
                if backend.cutInProgress { backend.continueCut(budget: Self.cutSlice) }
            case .barrier(let id, let injectedAt):
                let alignment = clock.now - injectedAt
                // A previous cut still in progress is completed and handed over first.
                if backend.cutInProgress { backend.finishCut() }
                let tb = clock.now
                // Synchronous phase: only the start of a cut (O(1)); its entries are captured
                // between the next batches, then the upload thread writes them to the store
                // and takes the checkpoint.
                let changed = backend.takeChanges()
                try backend.beginCut()
                cutInfo = (id, alignment, clock.now - tb, changed)
            case .end:
                if backend.cutInProgress { backend.finishCut() }
                try backend.flush()
                return
            }
        }
        if let e = state.failed { throw e }
    }

    /// Pending slots a subtask captures into a cut in progress after each batch of records.
    static var cutSlice: Int { 4096 }

    private let injectionLock = NSLock()
    /// Marks the at-record failure as done; true if it already was.
    func injectedAtRecordDoneFlag() -> Bool {
        injectionLock.lock()
        defer { injectionLock.unlock() }
        if injectedAtRecordDone { return true }
        injectedAtRecordDone = true
        return false
    }

    /// Whether to fail at this record: with the configured probability, at most `maxFailures`
    /// times in the job and once per attempt (other subtasks may still be running when one
    /// fails; a second failure in the same attempt would cause no restart of its own).
    func randomFailure(_ index: Int, state: AttemptState) throws -> Bool {
        injectionLock.lock()
        defer { injectionLock.unlock() }
        guard randomFailures < env.failureInjection.maxFailures, !state.randomFailureInjected else { return false }
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        if Double(z >> 11) * 0x1p-53 < env.failureInjection.randomProbability {
            randomFailures += 1
            state.randomFailureInjected = true
            return true
        }
        return false
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
    /// When the part was finished (a checkpoint completes when its last part does).
    let at: ContinuousClock.Instant
}

/// Shared between the source thread and the subtasks of one attempt.
final class AttemptState: @unchecked Sendable {
    let lock = NSLock()
    var failure: Error?
    var acks: [Ack] = []
    var lowerBounds: [UInt64: UInt64] = [:]
    /// A random failure was injected in this attempt (guarded by the runner's injection lock).
    var randomFailureInjected = false
    var processed = 0
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
    static func latestJobCheckpoint(_ jobStorage: LocalCheckpointStorage) throws -> JobCheckpointMetadata? {
        let ids = try jobStorage.list("").compactMap { $0.hasPrefix("chk-") ? UInt64($0.dropFirst(4)) : nil }.sorted()
        for id in ids.reversed() {
            let name = "chk-\(id)/_metadata"
            guard try jobStorage.size(name) != nil else { continue }
            do {
                return try JobCheckpointMetadata.decode(try jobStorage.get(name), name: name)
            } catch {
                throw StreamError.checkpoint(
                    "the newest job checkpoint \(jobStorage.root)/\(name) cannot be read (\(error)); "
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
            throw StreamError.storage("the state directory \(state) and the checkpoint directory \(checkpoints) overlap; use two separate folders")
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
