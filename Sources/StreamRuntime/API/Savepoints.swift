import Foundation
import LSMStore

/// A savepoint to take when the source has emitted a number of records (as a user would
/// trigger one at a known point; `JobClient` triggers them at any time).
public struct ScheduledSavepoint: Sendable {
    /// Taken right after the source's record at this position (counted from 1 over the job).
    public var afterRecords: Int
    /// Where it goes: an empty folder or prefix (a savepoint never replaces another).
    public var location: CheckpointLocation
    /// Stop the job once the savepoint is complete (Flink's stop-with-savepoint): the job
    /// then ends as if its input had ended there, without a final checkpoint.
    public var stopJob: Bool

    /// A savepoint after `afterRecords` records into `location`.
    public init(afterRecords: Int, location: CheckpointLocation, stopJob: Bool = false) {
        self.afterRecords = afterRecords
        self.location = location
        self.stopJob = stopJob
    }
}

/// Starting a job from a savepoint (Flink's `-s PATH [--allowNonRestoredState]`).
public struct SavepointRestoreSettings: Sendable {
    /// The savepoint.
    public var location: CheckpointLocation
    /// Start even when the savepoint holds state the job does not declare (or another
    /// operator's state): that state is dropped. Default false: such a savepoint is refused,
    /// naming the state.
    public var allowNonRestoredState: Bool

    /// Settings for the savepoint at `location`.
    public init(location: CheckpointLocation, allowNonRestoredState: Bool = false) {
        self.location = location
        self.allowNonRestoredState = allowNonRestoredState
    }
}

/// One state in a savepoint.
public struct SavepointStateInfo: Sendable, Equatable {
    /// The state's name.
    public var name: String
    /// "value" or "map".
    public var kind: String
    /// The value codec's name and version (`StateCodec.codecName`, `codecVersion`).
    public var valueCodec: String
    /// See `valueCodec`.
    public var valueCodecVersion: Int
    /// The map-key codec's name and version (map state; empty and 0 for value state).
    public var keyCodec: String
    /// See `keyCodec`.
    public var keyCodecVersion: Int
    /// Whether values carry a time-to-live header (docs/FORMAT.md §9.5).
    public var hasTtl: Bool
    /// Entries.
    public var entries: Int
}

/// What a savepoint holds (`Savepoints.info`), or what a job wrote.
public struct SavepointInfo: Sendable {
    /// Where it is.
    public var location: String
    /// Its id in the job that took it.
    public var id: UInt64
    /// When it was taken, in milliseconds since 1970.
    public var createdAtMillis: UInt64
    /// The keyed operator's id (`KeyedStream.process(uid:)`).
    public var operatorID: String
    /// Records the source had emitted at the savepoint (the job goes on after them).
    public var sourceRecords: Int
    /// The source's position, as the source encodes it.
    public var sourcePosition: [UInt8]
    /// Parallelism of the job that took it (one part per subtask).
    public var parallelism: Int
    /// Key groups (a restore requires the job's to be equal).
    public var maxParallelism: Int
    /// Its states.
    public var states: [SavepointStateInfo]
    /// Per part: its name, key groups, entries and bytes.
    public var parts: [(name: String, keyGroups: ClosedRange<Int>, entries: Int, bytes: Int)]
    /// Entries, all states.
    public var entries: Int { parts.reduce(0) { $0 + $1.entries } }
    /// Bytes, the parts and the metadata.
    public var bytes: Int
    /// From the barrier to the metadata written (for a savepoint a job took), in ms.
    public var durationMilliseconds: Double = 0

    init(_ m: SavepointMetadata, location: String, metadataBytes: Int) {
        self.location = location
        id = m.id
        createdAtMillis = m.createdAtMillis
        operatorID = m.operatorID
        sourceRecords = Int(m.sourceRecords)
        sourcePosition = m.sourcePosition
        parallelism = Int(m.parallelism)
        maxParallelism = Int(m.maxParallelism)
        states = m.states.map {
            SavepointStateInfo(
                name: $0.name, kind: $0.kind == 0 ? "value" : "map", valueCodec: $0.valueCodec,
                valueCodecVersion: Int($0.valueCodecVersion), keyCodec: $0.keyCodec,
                keyCodecVersion: Int($0.keyCodecVersion), hasTtl: $0.ttl, entries: Int($0.entries))
        }
        parts = m.parts.map { ($0.name, Int($0.firstGroup)...Int($0.lastGroup), Int($0.entries), Int($0.size)) }
        bytes = metadataBytes + Int(m.size)
    }
}

/// Reading and checking savepoints without running a job (`lsmctl savepoint-info`,
/// `lsmctl verify-savepoint`).
public enum Savepoints {
    /// What the savepoint in `storage` holds, from its metadata (whose checksum is checked).
    public static func info(in storage: any CheckpointStorage, location: String) throws -> SavepointInfo {
        let (m, bytes) = try SavepointStore.readMetadata(storage, location: location)
        return SavepointInfo(m, location: location, metadataBytes: bytes)
    }

    /// Reads every part of the savepoint in `storage` and checks everything a restore
    /// checks: each part's size and checksum, each group block's checksum, the order of
    /// groups and keys, every state id against the metadata, and the entry counts. Throws
    /// `StreamError.savepoint` naming the object and offset of the first damage.
    public static func verify(in storage: any CheckpointStorage, location: String) throws -> SavepointInfo {
        let (m, bytes) = try SavepointStore.readMetadata(storage, location: location)
        var perState: [UInt8: UInt64] = [:]
        for part in m.parts {
            let blocks = try SavepointStore.readPart(part, metadata: m, storage: storage, location: location)
            var n: UInt64 = 0
            for b in blocks {
                for e in b.entries { perState[e.state, default: 0] += 1 }
                n += UInt64(b.entries.count)
            }
            guard n == part.entries, blocks.count == Int(part.blocks) else {
                throw StreamError.savepoint(
                    "\(location)/\(part.name): \(n) entries in \(blocks.count) blocks, the metadata says \(part.entries) in \(part.blocks)"
                )
            }
        }
        for s in m.states where perState[s.id, default: 0] != s.entries {
            throw StreamError.savepoint(
                "\(location): state \"\(s.name)\" has \(perState[s.id, default: 0]) entries, the metadata says \(s.entries)"
            )
        }
        return SavepointInfo(m, location: location, metadataBytes: bytes)
    }
}

/// A running job started by `StreamExecutionEnvironment.executeAsync`: trigger savepoints
/// while it runs (Flink's `JobClient.triggerSavepoint`, `stopWithSavepoint`), and wait for
/// its result.
public final class JobClient: @unchecked Sendable {
    let requests = SavepointRequests()
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var outcome: Result<JobResult, Error>? = nil

    init() {}

    func finish(_ r: Result<JobResult, Error>) {
        lock.lock()
        outcome = r
        lock.unlock()
        requests.close(StreamError.savepoint("the job ended before the savepoint was taken"))
        done.signal()
    }

    /// Takes a savepoint into `location` (an empty folder or prefix) and returns once it is
    /// complete; the job goes on. Throws when the job ends or fails first, or when a part
    /// cannot be written.
    public func triggerSavepoint(to location: CheckpointLocation) throws -> SavepointInfo {
        try requests.submit(location: location, stop: false)
    }

    /// Takes a savepoint into `location`, then stops the job (as if its input ended there);
    /// returns the savepoint once it is complete. `result()` then gives the job's result.
    public func stopWithSavepoint(to location: CheckpointLocation) throws -> SavepointInfo {
        try requests.submit(location: location, stop: true)
    }

    /// Waits for the job to end and returns its result (or its failure).
    public func result() throws -> JobResult {
        done.wait()
        done.signal()
        lock.lock()
        defer { lock.unlock() }
        guard let outcome else { throw StreamError.invalidJob("no result") }
        return try outcome.get()
    }
}

/// Savepoint requests from other threads, picked up by the source between records.
final class SavepointRequests: @unchecked Sendable {
    final class Request: @unchecked Sendable {
        let location: CheckpointLocation
        let stop: Bool
        let done = DispatchSemaphore(value: 0)
        var outcome: Result<SavepointInfo, Error>? = nil
        init(location: CheckpointLocation, stop: Bool) {
            self.location = location
            self.stop = stop
        }
        func finish(_ r: Result<SavepointInfo, Error>) {
            guard outcome == nil else { return }
            outcome = r
            done.signal()
        }
    }

    private let lock = NSLock()
    private var queue: [Request] = []
    /// Taken by the source and not complete yet.
    private var active: [Request] = []
    private var closed: Error? = nil

    func submit(location: CheckpointLocation, stop: Bool) throws -> SavepointInfo {
        let r = Request(location: location, stop: stop)
        lock.lock()
        if let closed {
            lock.unlock()
            throw closed
        }
        queue.append(r)
        lock.unlock()
        r.done.wait()
        lock.lock()
        defer { lock.unlock() }
        guard let outcome = r.outcome else { throw StreamError.savepoint("no outcome") }
        return try outcome.get()
    }

    /// The oldest request not yet taken, if any.
    func take() -> Request? {
        lock.lock()
        defer { lock.unlock() }
        guard !queue.isEmpty else { return nil }
        let r = queue.removeFirst()
        active.append(r)
        return r
    }

    /// Completes `r` (under the lock, as `submit` reads the outcome under it).
    func complete(_ r: Request, _ outcome: Result<SavepointInfo, Error>) {
        lock.lock()
        r.finish(outcome)
        active.removeAll { $0 === r }
        lock.unlock()
    }

    /// Fails every request not complete yet and refuses new ones.
    func close(_ error: Error) {
        lock.lock()
        closed = error
        for r in queue + active { r.finish(.failure(error)) }
        queue = []
        active = []
        lock.unlock()
    }
}
