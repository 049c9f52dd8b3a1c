/// Decides, during compaction, whether entries stay: an embedder's way to drop data that has
/// become useless (expired, superseded by a rule of its own) without writing deletions for
/// it, as RocksDB's `CompactionFilter`. The stream runtime's state TTL is built on it.
///
/// When it is called: for the newest version of each key that a compaction rewrites, when
/// that version is a value (not a deletion), and only in compactions during which no
/// snapshot exists, so what snapshots read never changes (a compaction during which one is
/// taken is redone without the filter). It is not called on flush, ingest or trivial moves
/// (a file moved to the next level unchanged), and it may be called again for an entry it
/// kept. It runs on the compaction thread, so it must be quick and must not call back into
/// the store.
///
/// What `.remove` does: the value disappears for every later read, as if deleted. Where
/// older versions of the key may remain in levels below the compaction, a deletion marker is
/// written in its place, so they stay hidden; otherwise nothing is written.
public protocol CompactionFilter: Sendable {
    /// Whether to keep the newest value of `key`; `level` is the level the compaction writes.
    func filter(level: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> CompactionFilterDecision
}

/// A compaction filter's verdict on one entry.
public enum CompactionFilterDecision: Sendable, Equatable {
    /// The entry stays.
    case keep
    /// The entry goes, as if deleted.
    case remove
}
