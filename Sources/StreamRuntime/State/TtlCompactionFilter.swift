import LSMStore
import Synchronization

/// The job's states with a time to live, by state id (a store key's third byte): filled as
/// subtasks declare their states, read by every subtask's compaction filter and by the
/// state digest.
final class TtlStates: Sendable {
    private let table = Mutex<[StateTtlConfig?]>(Array(repeating: nil, count: 256))
    private let anyFullSnapshotCleanup = Atomic<Bool>(false)
    private let anyState = Atomic<Bool>(false)

    /// Records state `id`'s configuration; a state declared again with another one is refused.
    func register(id: UInt8, name: String, config: StateTtlConfig) throws {
        try table.withLock { t in
            if let old = t[Int(id)], old != config {
                throw StreamError.invalidJob("state \"\(name)\" is declared with two different time-to-live settings")
            }
            t[Int(id)] = config
        }
        if config.cleanupFullSnapshot { anyFullSnapshotCleanup.store(true, ordering: .relaxed) }
        anyState.store(true, ordering: .relaxed)
    }

    /// Whether no state with a time to live has been declared.
    var isEmpty: Bool { !anyState.load(ordering: .relaxed) }

    /// State `id`'s configuration, or nil when it has no time to live.
    func config(_ id: UInt8) -> StateTtlConfig? { table.withLock { $0[Int(id)] } }

    /// Every state's configuration, indexed by id (one lock for a scan).
    func all() -> [StateTtlConfig?] { table.withLock { $0 } }

    /// Whether some state wants expired entries removed before full checkpoints.
    var cleansFullSnapshots: Bool { anyFullSnapshotCleanup.load(ordering: .relaxed) }

    /// Whether the stored entry `key`/`value` belongs to a state with a time to live and has
    /// expired at `now`, according to `configs` (from `all()`).
    static func isExpired(key: [UInt8], value: [UInt8], now: Int64, configs: [StateTtlConfig?]) -> Bool {
        guard key.count >= 3, let c = configs[Int(key[2])], let ts = TtlValue.timestamp(value[...]) else {
            return false
        }
        return c.isExpired(timestamp: ts, now: now)
    }
}

/// The processing time as one subtask's compaction filter sees it: with checkpoints, the
/// time at the barrier of the latest checkpoint the subtask has begun to take (an entry
/// expired then is invisible in that checkpoint and in any replay from it or a later one);
/// without, the latest record's. Starts at `Int64.min` (nothing expires) in every attempt:
/// a restarted attempt replays records whose times may be earlier than the failed attempt's.
final class TtlClock: Sendable {
    private let value = Atomic<Int64>(.min)
    func publish(_ now: Int64) { value.store(now, ordering: .relaxed) }
    var now: Int64 { value.load(ordering: .relaxed) }
}

/// Removes expired entries of states with a time to live (and background cleanup on) in the
/// store's compactions; other entries go to the embedder's own filter, if any. An entry whose
/// value is too short to hold a timestamp is kept: the filter never drops what it cannot read.
struct TtlCompactionFilter: CompactionFilter {
    let states: TtlStates
    let clock: TtlClock
    let next: (any CompactionFilter)?

    func filter(level: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> CompactionFilterDecision {
        if key.count >= 3, !states.isEmpty, let c = states.config(key[2]) {
            if c.cleanupInBackground, let ts = TtlValue.timestamp(value), c.isExpired(timestamp: ts, now: clock.now) {
                return .remove
            }
            return .keep
        }
        return next?.filter(level: level, key: key, value: value) ?? .keep
    }
}
