/// What `LSMStore.open` does when a write-ahead log it replays is damaged (after RocksDB's
/// WAL recovery modes). Whatever the mode, damage is never passed over in silence: it either
/// fails the open with `LSMError.corruption` naming the file and offset, or is listed in
/// `StoreStats.walDroppedAtOpen`.
public enum WALRecoveryMode: String, Sendable, CaseIterable {
    /// Every log must be intact to its last byte: even a torn last write (a crash in the
    /// middle of an append) fails the open. For stores whose every write is synced and whose
    /// storage never tears a write, where any damage calls for a person.
    case absoluteConsistency
    /// The default. Only a torn last write of the newest log is dropped: a damaged record that
    /// runs past the end of the file, or is followed by nothing but zero bytes, with no intact
    /// record anywhere after it. A write that was acknowledged after a sync is followed by its
    /// own intact record and so is never dropped by this rule unless it is the very last
    /// record and its bytes are damaged exactly like an unfinished append; then it is listed
    /// in `StoreStats.walDroppedAtOpen`. Any other damage fails the open.
    case tolerateCorruptedTail
    /// Recovers the store as it was just before the first damage anywhere in the logs: every
    /// record before it is replayed; the damaged record, the rest of its log and every newer
    /// log are dropped and listed in `StoreStats.walDroppedAtOpen`. Consistent (a prefix of
    /// the acknowledged writes), but it may drop acknowledged writes; for when an older state
    /// now beats no state.
    case pointInTime
}

/// A part of a write-ahead log that recovery did not replay (see `WALRecoveryMode`).
public struct WALDroppedRange: Sendable, Equatable, CustomStringConvertible {
    /// The log file.
    public var file: String
    /// Where the dropped bytes start.
    public var offset: UInt64
    /// How many bytes were dropped (to the end of the file).
    public var bytes: UInt64
    /// Why: the damage found.
    public var reason: String

    /// A one-line description for messages and logs.
    public var description: String { "\(file): \(bytes) bytes dropped from offset \(offset) (\(reason))" }
}
