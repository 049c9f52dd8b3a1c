import Glibc

/// Time to live of a state's entries, as Flink's `StateTtlConfig`: an entry not written (or,
/// with `.onReadAndWrite`, not read either) for `ttlMilliseconds` of processing time expires.
/// Set it on a state descriptor:
///
/// ```swift
/// var d = ValueStateDescriptor(name: "last-login", codec: Int64Codec())
/// d.ttl = StateTtlConfig(ttlMilliseconds: 7 * 24 * 3_600_000)
/// ```
///
/// An expired entry is removed when it is next accessed, by the store's background
/// compaction (a compaction filter; `cleanupInBackground`), and before a full checkpoint
/// is written (`cleanupFullSnapshot`). Each stored value carries the processing time of
/// its last access (docs/FORMAT.md, "State values with a time to live"), so turning TTL
/// on or off for a state that already has entries is a change of its stored format.
public struct StateTtlConfig: Sendable, Equatable {
    /// Which accesses restart an entry's time to live.
    public enum UpdateType: Sendable, Equatable {
        /// Writes only (creating or updating the value): Flink's `OnCreateAndWrite`.
        case onCreateAndWrite
        /// Reads too: Flink's `OnReadAndWrite`.
        case onReadAndWrite
    }

    /// Whether an expired entry that is still stored can be read.
    public enum Visibility: Sendable, Equatable {
        /// Never: an expired entry reads as absent (Flink's `NeverReturnExpired`).
        case neverReturnExpired
        /// Yes, once: the read returns it and removes it (Flink's `ReturnExpiredIfNotCleanedUp`).
        case returnExpiredIfNotCleanedUp
    }

    /// How long an entry lives after its last counted access, in milliseconds (positive).
    public var ttlMilliseconds: Int64
    /// Which accesses count. Default `.onCreateAndWrite`, as Flink.
    public var updateType: UpdateType
    /// What reads of expired entries see. Default `.neverReturnExpired`, as Flink.
    public var visibility: Visibility
    /// Remove expired entries in the store's compactions. Default true.
    public var cleanupInBackground = true
    /// Remove expired entries before a full checkpoint is written, so it holds none: the
    /// store is compacted first, which rewrites every table (the price of a smaller full
    /// checkpoint). Default true. Incremental checkpoints rely on background cleanup.
    public var cleanupFullSnapshot = true

    /// A time to live of `ttlMilliseconds`.
    public init(
        ttlMilliseconds: Int64, updateType: UpdateType = .onCreateAndWrite,
        visibility: Visibility = .neverReturnExpired
    ) {
        self.ttlMilliseconds = ttlMilliseconds
        self.updateType = updateType
        self.visibility = visibility
    }

    /// Whether an entry last accessed at `timestamp` has expired at `now`: its expiry time
    /// (`timestamp + ttlMilliseconds`, saturating) is at or before `now`, as in Flink.
    public func isExpired(timestamp: Int64, now: Int64) -> Bool {
        let (expiry, overflow) = timestamp.addingReportingOverflow(ttlMilliseconds)
        return (overflow ? Int64.max : expiry) <= now
    }
}

/// Where state TTL's processing time comes from: a function from the position of the record
/// being processed (counted from 1 over the whole job, the same in every attempt) to
/// milliseconds. Called at most once per record, on the subtask's thread, when a state with
/// a time to live is used; it must not go backwards as positions grow.
///
/// `.system` is the wall clock (Flink's processing time). A function of the position alone
/// makes expiry replay-deterministic: after a restart the replayed records see the times
/// they saw before, so runs with and without failures end in the same state, which tests and
/// reproducible benchmarks need.
public struct TtlTimeProvider: Sendable {
    /// The time for a record's position.
    public let now: @Sendable (_ recordPosition: Int) -> Int64

    /// A provider computing the time from the record's position.
    public init(_ now: @escaping @Sendable (_ recordPosition: Int) -> Int64) { self.now = now }

    /// The wall clock (CLOCK_REALTIME) in milliseconds since 1970.
    public static let system = TtlTimeProvider { _ in
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Simulated processing time: `start + position × millisecondsPerRecord`, as if records
    /// arrived at a steady pace.
    public static func simulated(start: Int64 = 0, millisecondsPerRecord: Int64) -> TtlTimeProvider {
        TtlTimeProvider { start + Int64($0) * millisecondsPerRecord }
    }
}
