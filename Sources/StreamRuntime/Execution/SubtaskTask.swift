import CPlatform
import Foundation
@_spi(Measurement) import LSMStore

/// A subtask: applies the keyed process function to its records with its own state backend
/// and store, takes its part of each checkpoint at the barrier (a cut handed to its upload
/// thread), and acks to the coordinator.
///
/// `@unchecked Sendable` as the runner is: its upload thread shares only what the cut gate,
/// the channels and the attempt state's lock order.
final class SubtaskTask<K: Sendable, T: Sendable, F: KeyedProcessFunction, S: StreamSink>: @unchecked Sendable
where F.Key == K, F.Input == T, S.Input == F.Output {
    /// Pending slots captured into a cut in progress after each batch of records.
    static var cutSlice: Int { 16384 }

    let index: Int
    let store: LSMStore
    let checkpointer: Checkpointer
    let channel: Channel<JobEvent<K, T>>
    let state: AttemptState
    let env: StreamExecutionEnvironment
    let makeFunction: @Sendable () -> F
    let makeSink: @Sendable (Int) throws -> S
    let failures: FailureInjector
    /// The job's states with a time to live, and this subtask's time for its store's
    /// compaction filter (new in each attempt).
    let ttlStates: TtlStates
    let ttlClock: TtlClock
    /// The job's declared states, and the savepoint this attempt started from (if any).
    let declaredStates: DeclaredStates
    let restoredSavepoint: RestoredSavepointStates?
    let clock = ContinuousClock()

    init(
        index: Int, store: LSMStore, checkpointer: Checkpointer, channel: Channel<JobEvent<K, T>>,
        state: AttemptState, env: StreamExecutionEnvironment, makeFunction: @escaping @Sendable () -> F,
        makeSink: @escaping @Sendable (Int) throws -> S, failures: FailureInjector, ttlStates: TtlStates,
        ttlClock: TtlClock, declaredStates: DeclaredStates, restoredSavepoint: RestoredSavepointStates?
    ) {
        self.ttlStates = ttlStates
        self.ttlClock = ttlClock
        self.declaredStates = declaredStates
        self.restoredSavepoint = restoredSavepoint
        self.index = index
        self.store = store
        self.checkpointer = checkpointer
        self.channel = channel
        self.state = state
        self.env = env
        self.makeFunction = makeFunction
        self.makeSink = makeSink
        self.failures = failures
    }

    /// Runs the subtask until the source's end marker (or a failure).
    func run() throws {
        let i = index
        let (store, checkpointer, channel, state) = (self.store, self.checkpointer, self.channel, self.state)
        let backend = KeyedStateBackend(
            store: store, maxParallelism: env.maxParallelism, cacheCapacity: env.stateBackend.cacheEntries,
            cacheByteCapacity: env.stateBackend.cacheBytes)
        backend.trackChanges = env.measureLowerBound && env.checkpointing.trigger != .disabled
        backend.ttlStates = ttlStates
        backend.declaredStates = declaredStates
        backend.restoredSavepoint = restoredSavepoint
        backend.ttlTime = env.ttlTimeProvider
        backend.ttlClock = ttlClock
        // Without checkpoints nothing is replayed, so compaction may expire entries as of the
        // latest record's time; with them, as of the latest checkpoint's barrier (below).
        backend.ttlPublishesEveryRead = env.checkpointing.trigger == .disabled
        let ttlClock = self.ttlClock
        let ttlStates = self.ttlStates
        let ttlTime = env.ttlTimeProvider
        var function = makeFunction()
        var sink = try makeSink(i)
        var context: KeyedContext<K>? = nil
        var processed = 0
        var out = 0
        // Room for every checkpoint that may be in flight and a write-back (an id of nil), so
        // a barrier never waits here.
        let uploads = Channel<
            (
                id: UInt64?, cut: StateCut, alignment: Duration, pause: Duration, changed: ChangeLog,
                barrierTime: Int64?, savepoint: SavepointTarget?
            )
        >(
            capacity: max(2, env.checkpointing.maxConcurrent) + 1)
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
            let groups = KeyGroups.range(
                ofSubtask: i, parallelism: self.env.parallelism, maxParallelism: self.env.maxParallelism)
            // Changes before a savepoint's barrier, for the next checkpoint's lower bound.
            var carried = ChangeLog()
            /// Empties an applied cut's entry array here (releasing its values on this thread,
            /// not the subtask's) and hands it back to the backend for reuse: taken out of the
            /// cut first, so that nothing else holds it and emptying it keeps its storage.
            func handBack(_ cut: inout StateCut) {
                var emptied = cut.entries
                cut.entries = []
                emptied.releaseValuesPrefetching()
                emptied.removeAll(keepingCapacity: true)
                recycled.tryPush(emptied)
            }
            // Sorted runs of earlier cuts that nothing holds any more, reused for the next cuts.
            var spareRuns: [SortedRun] = []
            func recycle(_ run: SortedRun?) {
                if let run, spareRuns.count < 2 { spareRuns.append(run) }
            }
            // Lower bounds to measure (each checkpoint's change log, when more than its cut
            // changed) go to a thread of their own at a lower CPU priority, as compaction's:
            // a measurement is not part of any checkpoint, so none waits for one. At most two
            // wait there; a third waits to be taken, bounding the change logs held.
            let measurements = Channel<(id: UInt64, changed: ChangeLog)>(capacity: 2)
            let measured = DispatchGroup()
            measured.enter()
            @Sendable func record(bound: UInt64, of id: UInt64) {
                state.lock.lock()
                state.lowerBounds[id, default: 0] += bound
                state.lock.unlock()
            }
            let measurer = Thread {
                Thread.current.name = "measure-\(i)"
                defer { measured.leave() }
                _ = lsm_lower_thread_priority(Int32(store.options.compactionPriorityReduction))
                while let m = measurements.pop() {
                    // A cut and the write-backs before it: their ingests wrote the changed
                    // entries, and the lower bound is estimated from that. Otherwise (flushes
                    // of evicted entries, or deletions) it is measured.
                    if let estimate = m.changed.estimatedStoredSize() {
                        record(bound: estimate, of: m.id)
                        continue
                    }
                    var sizer = DataBlockSizer(options: store.options)
                    m.changed.forEachDistinct { k, v in sizer.add(key: k, valueOrDeletion: v) }
                    record(bound: UInt64(sizer.finish()), of: m.id)
                }
            }
            measurer.start()
            defer {
                measurements.close()
                measured.wait()
            }
            while let (cutID, popped, alignment, pause, changedBefore, barrierTime, savepoint) = uploads.pop() {
                var cut = popped
                guard let id = cutID else {
                    // A write-back between barriers: its entries go into the store as tables
                    // now, and count towards the next checkpoint's lower bound.
                    do {
                        try gate.check()
                        var spare = spareRuns.popLast()
                        let sorted = cut.sortedRun(reusing: &spare)
                        let written = try sorted.ingest(into: store)
                        gate.didApply()
                        if tracking {
                            carried.append(changedBefore)
                            carried.append(sorted, stored: written.dataBlockBytes)
                        } else {
                            recycle(sorted)
                        }
                        handBack(&cut)
                    } catch {
                        // As for a cut: the store misses state the cache no longer marks
                        // dirty, and the next access fails the attempt over.
                        gate.fail(error)
                    }
                    continue
                }
                let captureDuration = cut.captureDuration
                var changed = changedBefore
                var run: SortedRun? = nil
                // What ingesting the cut wrote: when the cut is all that changed since the
                // previous checkpoint, its data blocks are the lower bound, with no measurement.
                var ingested = IngestSummary()
                func ack(
                    _ report: CheckpointReport?, _ apply: Duration, _ error: Error?,
                    _ category: CheckpointFailureCategory? = nil,
                    part: (part: SavepointMetadata.Part, perState: [UInt8: UInt64])? = nil
                ) {
                    var a = Ack(
                        subtask: i, id: id, report: report, alignment: alignment, cacheFlush: pause,
                        cutCapture: captureDuration, cutApply: apply, error: error.map { "\($0)" },
                        at: self.clock.now)
                    a.errorCategory = error.map { category ?? CheckpointFailureCategory.ofStorageError($0) }
                    a.isSavepoint = savepoint != nil
                    a.savepoint = part
                    state.lock.lock()
                    state.acks.append(a)
                    state.lock.unlock()
                }
                let t0 = self.clock.now
                do {
                    try gate.check()
                    // Straight into tables: no memtable insert, and the checkpoint need not
                    // wait for a flush of the same bytes.
                    var spare = spareRuns.popLast()
                    let sorted = cut.sortedRun(reusing: &spare)
                    run = sorted
                    ingested = try sorted.ingest(into: store)
                    if tracking { changed.append(sorted, stored: ingested.dataBlockBytes) }
                    // From here on the store must keep what is live at this barrier (this
                    // checkpoint, and a replay from it, read it), nothing older: compaction
                    // expires entries as of the barrier's time. A full checkpoint holds no
                    // expired entry when its states ask for that: the store is compacted first.
                    if let barrierTime {
                        ttlClock.publish(barrierTime)
                        if mode == .full && ttlStates.cleansFullSnapshots && savepoint == nil { try store.compact() }
                    }
                } catch {
                    // The store misses state the cache no longer marks dirty: the attempt
                    // must fail over.
                    gate.fail(error)
                    ack(nil, self.clock.now - t0, error, .declined)
                    continue
                }
                if let savepoint {
                    // A savepoint's part: every entry of the store as of its barrier, read
                    // through a snapshot taken before later writes may reach the store.
                    let snapshot = Result { try store.snapshot() }
                    gate.didApply()
                    handBack(&cut)
                    let apply = self.clock.now - t0
                    let written = Result {
                        try SavepointStore.writePart(
                            store: store, snapshot: snapshot.get(), subtask: i, groups: groups,
                            storage: savepoint.storage,
                            ttl: barrierTime.map { (ttlStates.all(), $0) })
                    }
                    switch written {
                    case .success(let w): ack(nil, apply, nil, part: w)
                    case .failure(let e): ack(nil, apply, e)
                    }
                    // What changed before it counts towards the next checkpoint's lower bound.
                    if !changed.isEmpty { carried.append(changed) }
                    continue
                }
                if !carried.isEmpty {
                    carried.append(changed)
                    changed = carried
                    carried = ChangeLog()
                }
                // The cut is in the store; a checkpoint that cannot start (its claim in the
                // storage failed) fails alone, and the job goes on.
                let begun = Result { try checkpointer.begin(mode: mode, id: id) }
                gate.didApply()
                // The cut's values are released after the ack: that is not the checkpoint's work.
                defer { handBack(&cut) }
                let pending: PendingCheckpoint
                switch begun {
                case .success(let p): pending = p
                case .failure(let error):
                    ack(nil, self.clock.now - t0, error)
                    continue
                }
                let apply = self.clock.now - t0
                do {
                    ack(try pending.complete(), apply, nil)
                } catch {
                    pending.abort()
                    ack(nil, apply, error)
                }
                // The lower bound is a measurement, not part of the checkpoint. When the cut is
                // the only change, the tables just ingested hold exactly the changed entries
                // once each (deletions included), so their data blocks are it. Otherwise
                // (write-backs, flushes of evicted entries, or changes carried over a
                // savepoint) the measuring thread estimates or measures it after the ack; the
                // run it holds is not reused.
                if changed.isEmpty {
                    recycle(run.take())
                } else if changed.isSingleRun, let stored = changed.estimatedStoredSize() {
                    // The cut's run or a write-back's (the cut was empty): what its ingest wrote.
                    record(bound: stored, of: id)
                    changed = ChangeLog()
                    recycle(run.take())
                } else {
                    measurements.push((id, changed))
                    changed = ChangeLog()
                    run = nil
                }
            }
        }
        uploader.start()
        // The cut in progress: its barrier's id (nil: a write-back), alignment and pause, the
        // change list for the lower bound, and the time spent capturing it between records so far.
        var cutInfo:
            (
                id: UInt64?, alignment: Duration, pause: Duration, changed: ChangeLog, barrierTime: Int64?,
                savepoint: SavepointTarget?
            )? = nil
        var writeBacks = WriteBackSchedule(
            perInterval: env.stateBackend.writeBacksPerInterval,
            minimumEntries: env.stateBackend.writeBackMinimumEntries)
        backend.onCutComplete = { cut in
            guard let info = cutInfo else { return }
            cutInfo = nil
            uploads.push((info.id, cut, info.alignment, info.pause, info.changed, info.barrierTime, info.savepoint))
        }
        // The position of the last record this subtask processed: every later read, in this
        // attempt or in a replay from a checkpoint taken now, is at a later position.
        var lastPosition = 0
        // The store-key hashes of the records being prefetched, by position in the batch.
        var ahead = [UInt64](repeating: 0, count: 16)
        // What the monitor has been told so far.
        var reported = (records: 0, out: 0)
        defer {
            uploads.close()
            uploadDone.wait()
            try? sink.close()
            state.lock.lock()
            state.processed += processed
            state.writeBacks += writeBacks.total
            state.out += out
            state.lock.unlock()
        }
        // A cut in progress is completed as soon as the subtask would wait for input: the
        // source may be waiting for this very checkpoint.
        func nextEvent() -> JobEvent<K, T>? {
            if let e = channel.tryPop() { return e }
            if backend.cutInProgress { backend.finishCut() }
            return channel.pop()
        }
        while let event = nextEvent() {
            switch event {
            case .records(let batch):
                // The state of the records ahead is prefetched in three steps (index line,
                // slot, value), so their cache misses overlap with this record's work.
                let n = batch.count
                let (keys, groups) = (batch.keys, batch.groups)
                for j in 0..<min(8, n) { ahead[j & 15] = backend.prefetchIndex(key: keys[j], group: groups[j]) }
                for j in 0..<n {
                    if j + 8 < n {
                        ahead[(j + 8) & 15] = backend.prefetchIndex(key: keys[j + 8], group: groups[j + 8])
                    }
                    if j + 4 < n { backend.prefetchSlot(hash: ahead[(j + 4) & 15]) }
                    if j + 2 < n { backend.prefetchValue(hash: ahead[(j + 2) & 15]) }
                    let (keyBytes, group, index) = (keys[j], groups[j], batch.indexes[j])
                    let key = batch.value(j), record = batch.record(j)
                    if failures.failsAtRecord(index) || failures.failsRandomly(state: state) {
                        throw StreamError.injectedFailure(record: index)
                    }
                    backend.setCurrentKey(keyBytes, group: group)
                    backend.currentRecord = index
                    lastPosition = index
                    if context == nil {
                        context = KeyedContext(backend: backend, initialKey: key, subtaskIndex: i)
                        try function.open(context: context!)
                        // A savepoint's states must all be declared by now (or dropped).
                        try backend.checkRestoredStatesDeclared()
                    }
                    context!.currentKey = key
                    try function.processElement(record, context: context!) { o in
                        try sink.write(o)
                        out += 1
                    }
                    processed += 1
                }
                if let monitor = env.monitor {
                    monitor.addProcessed(subtask: i, records: processed - reported.records, emitted: out - reported.out)
                    reported = (processed, out)
                }
                // A cut in progress is captured a slice at a time between batches (a pending
                // slot about to change is captured before it does), so the subtask never stops
                // for the whole walk.
                if backend.cutInProgress { backend.continueCut(budget: Self.cutSlice) }
                // A write-back starts as a cut does, when none is being taken or waits to be
                // applied (so none queues behind another on the upload thread).
                if cutInfo == nil, writeBacks.isDue(processed: processed, dirty: backend.dirtySlots.count),
                    try gate.isSettled()
                {
                    writeBacks.began(processed: processed)
                    let changed = backend.takeChanges()
                    try backend.beginCut()
                    cutInfo = (nil, .zero, .zero, changed, nil, nil)
                }
            case .barrier(let id, let injectedAt, let savepoint):
                let alignment = clock.now - injectedAt
                writeBacks.barrier(processed: processed, evictions: backend.evictions)
                // A previous cut (or write-back) still in progress is completed and handed
                // over first.
                if backend.cutInProgress { backend.finishCut() }
                let tb = clock.now
                // Synchronous phase: only the start of a cut (O(1)); its entries are captured
                // between the next batches, then the upload thread writes them to the store
                // and takes the checkpoint.
                let changed = backend.takeChanges()
                try backend.beginCut()
                let barrierTime = ttlStates.isEmpty ? nil : ttlTime.now(lastPosition)
                cutInfo = (id, alignment, clock.now - tb, changed, barrierTime, savepoint)
            case .end:
                if backend.cutInProgress { backend.finishCut() }
                try backend.flush()
                return
            }
        }
        if let e = state.failed { throw e }
    }
}
