/// A summary of the store's shape and work, from `LSMStore.stats`.
public struct StoreStats: Sendable, CustomStringConvertible {
    /// Files and bytes in one level.
    public struct Level: Sendable {
        /// Number of SST files.
        public var files: Int
        /// Sum of their sizes.
        public var bytes: UInt64
    }

    /// Levels 0 through 6.
    public var levels: [Level] = []
    /// Approximate bytes in the active memtable.
    public var memtableBytes = 0
    /// Approximate bytes in the memtable being flushed, 0 if none.
    public var immutableMemtableBytes = 0
    /// The sequence number of the last write.
    public var lastSequence: UInt64 = 0
    /// Memtables flushed to L0.
    public var flushCount = 0
    /// Sorted batches written straight into L0 tables (`LSMStore.ingest`).
    public var ingestCount = 0
    /// Compactions run (merges and trivial moves).
    public var compactionCount = 0
    /// Compactions that moved a file to the next level without rewriting it.
    public var trivialMoveCount = 0
    /// Entries compactions dropped because the compaction filter said so.
    public var compactionFilterRemoved = 0
    /// Bytes of SSTs written by flushes.
    public var flushBytesWritten: UInt64 = 0
    /// Bytes of SSTs read by compactions.
    public var compactionBytesRead: UInt64 = 0
    /// Bytes of SSTs written by compactions.
    public var compactionBytesWritten: UInt64 = 0
    /// Bytes of keys and values written by users (puts, deletes, batches).
    public var userBytesWritten: UInt64 = 0
    /// Bytes appended to the write-ahead log.
    public var walBytesWritten: UInt64 = 0
    /// Writes delayed because L0 had too many files.
    public var writeSlowdowns = 0
    /// Times a writer waited for a flush or for L0 compaction.
    public var writeStalls = 0
    /// Block cache hits and misses.
    public var blockCacheHits = 0
    /// See `blockCacheHits`.
    public var blockCacheMisses = 0
    /// Blocks read on a miss but not inserted into the full block cache, because their key
    /// had not missed recently (the cache's admission policy, DESIGN.md "Caches").
    public var blockCacheAdmissionsDeclined = 0
    /// Live snapshots.
    public var liveSnapshots = 0
    /// Bytes at the end of write-ahead logs that recovery dropped as a torn last write.
    public var walTornTailBytesDropped: UInt64 = 0
    /// Every part of a write-ahead log the last open did not replay, with the reason
    /// (`Options.walRecoveryMode`); empty when every log was replayed whole.
    public var walDroppedAtOpen: [WALDroppedRange] = []

    /// (flush + compaction bytes written) / user bytes written; 0 before any write.
    public var writeAmplification: Double {
        userBytesWritten == 0 ? 0 : Double(flushBytesWritten + compactionBytesWritten) / Double(userBytesWritten)
    }

    /// Total bytes of live SSTs.
    public var totalTableBytes: UInt64 { levels.reduce(0) { $0 + $1.bytes } }

    /// A one-line description for messages and logs.
    public var description: String {
        var s = "level  files        bytes\n"
        for (i, l) in levels.enumerated() {
            s += "L\(i)  \(String(l.files).leftPad(8))  \(String(l.bytes).leftPad(11))\n"
        }
        s += "memtable bytes: \(memtableBytes) (immutable: \(immutableMemtableBytes))\n"
        s += "last sequence: \(lastSequence)\n"
        s += "flushes: \(flushCount), bytes written: \(flushBytesWritten)\n"
        s +=
            "compactions: \(compactionCount) (trivial moves: \(trivialMoveCount)), bytes read: \(compactionBytesRead), written: \(compactionBytesWritten)\n"
        s += "user bytes written: \(userBytesWritten), WAL bytes: \(walBytesWritten)\n"
        s += "write amplification: \(String(format2: writeAmplification))\n"
        s += "write slowdowns: \(writeSlowdowns), stalls: \(writeStalls)\n"
        s +=
            "block cache hits: \(blockCacheHits), misses: \(blockCacheMisses), admissions declined: \(blockCacheAdmissionsDeclined)\n"
        s += "live snapshots: \(liveSnapshots)\n"
        s += "torn WAL tail bytes dropped at open: \(walTornTailBytesDropped)"
        for d in walDroppedAtOpen { s += "\nWAL dropped at open: \(d)" }
        return s
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }

    /// Formats with two decimals without Foundation.
    init(format2 v: Double) {
        let scaled = (v * 100).rounded()
        let whole = Int(scaled / 100)
        let frac = Int(abs(scaled).truncatingRemainder(dividingBy: 100))
        self = "\(v < 0 && whole == 0 ? "-" : "")\(whole).\(frac < 10 ? "0" : "")\(frac)"
    }
}
