import Foundation
import LSMStore

/// The source task: reads the source, keys each record and routes it to its subtask in
/// batches, and drives the checkpoint coordinator (triggers, barriers, acks) between records.
final class SourceTask<Source: StreamSource, K: Sendable, T: Sendable> {
    let keyed: KeyedStream<Source, K, T>
    let env: StreamExecutionEnvironment
    let coordinator: CheckpointCoordinator
    let channels: [Channel<JobEvent<K, T>>]
    let checkpointers: [Checkpointer]
    let state: AttemptState
    let clock = ContinuousClock()
    /// Records read from the source in this attempt.
    private(set) var recordsRead = 0
    /// The position of the last record read (counted from 1 over the whole job).
    private(set) var position = 0
    /// Whether the input was cut short by a stop-with-savepoint.
    private(set) var stoppedWithSavepoint = false

    init(
        keyed: KeyedStream<Source, K, T>, env: StreamExecutionEnvironment, coordinator: CheckpointCoordinator,
        channels: [Channel<JobEvent<K, T>>], checkpointers: [Checkpointer], state: AttemptState
    ) {
        self.keyed = keyed
        self.env = env
        self.coordinator = coordinator
        self.channels = channels
        self.checkpointers = checkpointers
        self.state = state
    }

    func ms(_ d: Duration) -> Double { coordinator.ms(d) }

    /// Reads the source to its end (or until the attempt fails), resuming after checkpoint
    /// `restoreFrom`; returns the source's counters.
    func run(
        restoreFrom: JobCheckpointMetadata?, savepoint: SavepointMetadata? = nil, requests: SavepointRequests? = nil
    ) throws -> [String: Int] {
        let (channels, checkpointers, state) = (self.channels, self.checkpointers, self.state)
        let p = env.parallelism
        var source = keyed.stream.makeSource()
        // From a checkpoint, or else from the savepoint the job started from.
        try source.open(at: restoreFrom?.sourcePosition ?? savepoint?.sourcePosition)
        var index = restoreFrom?.sourceRecords ?? savepoint.map { Int($0.sourceRecords) } ?? 0
        coordinator.beginAttempt(resumingFrom: restoreFrom)
        let maxConcurrent = coordinator.maxConcurrent
        let transform = keyed.stream.transform
        let keyOf = keyed.key
        let codec = keyed.codec
        let maxP = env.maxParallelism
        let batchSize = env.batchSize
        // A batch handed to a subtask is its own from then on: the source starts a new one.
        // In a buffer rather than an array: reading an array element here, in code not
        // specialized for K and T, would look up the batch type's metadata for every record.
        let batches = UnsafeMutablePointer<RecordBatch<K, T>>.allocate(capacity: p)
        for i in 0..<p { (batches + i).initialize(to: RecordBatch(capacity: batchSize)) }
        defer {
            batches.deinitialize(count: p)
            batches.deallocate()
        }
        var sinceCheckpoint = 0
        var lastTriggerCheck = clock.now
        var keyBuffer: [UInt8] = []
        var nextTick = coarseMilliseconds() + 5
        var lastBatchFlush = clock.now
        let bufferTimeout = Duration.milliseconds(env.bufferTimeoutMilliseconds)

        /// Starts the next checkpoint: records it as in flight (with the source's position
        /// after the last record sent) and sends its barrier to every subtask.
        func injectBarrier() -> ContinuousClock.Instant {
            let (id, now) = coordinator.trigger(sourcePosition: source.position(), sourceRecords: index)
            for c in channels { c.push(.barrier(id: id, injectedAt: now, savepoint: nil)) }
            return now
        }

        func flushBatches() {
            for i in 0..<p where !batches[i].isEmpty {
                channels[i].push(.records(batches[i]))
                batches[i] = RecordBatch(capacity: batchSize)
            }
        }

        // Savepoints: scheduled ones not yet taken (in this or an earlier attempt), and
        // requests from a `JobClient`. A stop-with-savepoint that completes ends the input.
        var scheduled = env.scheduledSavepoints.enumerated()
            .filter { !coordinator.scheduledDone.contains($0.offset) && $0.element.afterRecords > index }
            .sorted { $0.element.afterRecords < $1.element.afterRecords }
        var stopped = false
        /// Sends a savepoint's barrier after the records so far; with `stop`, waits for it and
        /// returns whether it completed (the job then stops).
        func injectSavepoint(
            _ location: CheckpointLocation, stop: Bool, request: SavepointRequests.Request?, scheduledIndex: Int?
        ) -> Bool {
            flushBatches()
            let target: SavepointTarget
            do {
                let storage = try location.storage("")
                guard try storage.size(SavepointMetadata.fileName) == nil else {
                    throw StreamError.savepoint("\(location) already holds a savepoint")
                }
                target = SavepointTarget(storage: storage, location: location.description)
            } catch {
                coordinator.savepointFailed(request, location: location.description, error)
                return false
            }
            let (id, now) = coordinator.triggerSavepoint(
                target: target, request: request, scheduledIndex: scheduledIndex, sourcePosition: source.position(),
                sourceRecords: index)
            for c in channels { c.push(.barrier(id: id, injectedAt: now, savepoint: target)) }
            return stop && coordinator.waitForSavepoint(id, state: state, checkpointers: checkpointers)
        }

        while let raw = try source.next() {
            index += 1
            position = index
            recordsRead += 1
            sinceCheckpoint += 1
            try transform(raw) { t in
                let k = keyOf(t)
                keyBuffer.removeAll(keepingCapacity: true)
                codec.encode(k, into: &keyBuffer)
                // Keys of up to 16 bytes travel inline: no allocation per record.
                let (kb, group) = keyBuffer.withUnsafeBytes {
                    (StateKey($0), KeyGroups.group(of: $0, maxParallelism: maxP))
                }
                let sub = KeyGroups.subtask(ofGroup: group, parallelism: p, maxParallelism: maxP)
                let batch = batches[sub]
                batch.append(key: kb, group: group, value: k, record: t, index: index)
                if batch.count >= batchSize {
                    channels[sub].push(.records(batch))
                    batches[sub] = RecordBatch(capacity: batchSize)
                }
            }
            if index & 1023 == 0, state.failed != nil { break }
            while let s = scheduled.first, index >= s.element.afterRecords {
                scheduled.removeFirst()
                stopped =
                    injectSavepoint(s.element.location, stop: s.element.stopJob, request: nil, scheduledIndex: s.offset)
                    || stopped
            }
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
                coordinator.collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: nil)
                env.monitor?.setRecordsIn(index)
                while let r = requests?.take() {
                    stopped = injectSavepoint(r.location, stop: r.stop, request: r, scheduledIndex: nil) || stopped
                }
                if now - lastBatchFlush >= bufferTimeout {
                    flushBatches()
                    lastBatchFlush = now
                }
                if case .intervalMilliseconds(let n) = env.checkpointing.trigger {
                    intervalElapsed = ms(now - lastTriggerCheck) >= Double(n)
                }
            }
            if stopped { break }
            let due: Bool
            switch env.checkpointing.trigger {
            case .disabled: due = false
            case .everyRecords(let n): due = sinceCheckpoint >= n
            case .intervalMilliseconds: due = intervalElapsed
            }
            // At most `maxConcurrent` checkpoints in flight (Flink's max-concurrent-checkpoints):
            // a due trigger waits for one of them to finish while records keep flowing, then
            // fires on the next record; or, when asked, the source waits for it.
            if due && coordinator.inFlight.count >= maxConcurrent && env.checkpointing.waitForInFlightCheckpoint {
                coordinator.collectAcks(
                    state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: maxConcurrent - 1)
            }
            if due && coordinator.inFlight.count < maxConcurrent {
                if !coordinator.pauseElapsed { continue }
                flushBatches()
                lastTriggerCheck = injectBarrier()
                sinceCheckpoint = 0
            }
        }
        flushBatches()
        // A final checkpoint of the whole input (as Flink's checkpoints after tasks finish), so
        // the latest checkpoint holds the job's final state.
        // (A job stopped with a savepoint ends there: the savepoint holds its final state.)
        if env.checkpointing.checkpointAtEnd && env.checkpointing.trigger != .disabled && sinceCheckpoint > 0
            && state.failed == nil && !stopped
        {
            coordinator.collectAcks(
                state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: maxConcurrent - 1)
            // The wait ends early when a subtask fails meanwhile: then there is no room, and
            // the attempt is over anyway.
            if coordinator.inFlight.count < maxConcurrent { _ = injectBarrier() }
        }
        self.stoppedWithSavepoint = stopped
        env.monitor?.setRecordsIn(index)
        for c in channels { c.push(.end) }
        return source.counters
    }
}
