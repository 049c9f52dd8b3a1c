/// The engine behind `LSMStore`: state, write path, read path, recovery and the background
/// threads. `LSMStore` is a thin public face whose deinit closes the core, since the
/// background threads keep the core itself alive.
///
/// This file holds the state; each role is an extension in a file named for it (as Pebble
/// splits its DB type): `StoreOpen.swift` (open and recovery), `StoreClose.swift`,
/// `StoreWrite.swift` (the write path and memtable switches), `StoreRead.swift` (gets, scans,
/// snapshots, stats), `StoreFlush.swift` (the flush thread and L0 table writing),
/// `ObsoleteFiles.swift`, `StoreCheckpointPin.swift`, `StoreIngest.swift`, and
/// `Compaction/CompactionRunner.swift`.
///
/// Locking: `mu` guards the mutable state below (memtables, version set, counters, flags)
/// and is the condition variable writers and background threads wait on. `writeMutex`
/// serializes writers, so the active memtable and the log change only under it. File I/O is
/// done without `mu` held (manifest appends and obsolete-file deletion included), except a
/// new manifest's writing and a WAL switch. Lock order: `writeMutex`, `VersionSet.applyLock`,
/// `mu` (docs/DESIGN.md §3).
final class StoreCore: @unchecked Sendable {
    let dir: String
    let options: Options
    let fs: any FileSystem
    let tableOptions: TableOptions

    let mu = Monitor()
    let writeMutex = Monitor()
    /// Guards `published` only. Held for the copy of a few references, by readers and by
    /// whoever publishes, never across other work.
    let viewLock = Monitor()
    /// What a read without a snapshot sees: the last sequence, the memtables and the current
    /// version, as of the latest change to any of them (`publishView`); nil once closed.
    /// Readers take it under `viewLock` instead of `mu`, which a flush, an ingest or a
    /// compaction (at a lower CPU priority) holds for longer and may hold while it waits for
    /// a core.
    private var published: ReadView? = nil

    var mem = Memtable()
    var imm: Memtable?
    /// Memtables switched out so far, and memtables flushed so far: flushes finish in order,
    /// so the memtable switched as number n is in a version once `flushedMemtables >= n`.
    var switchedMemtables: UInt64 = 0
    var flushedMemtables: UInt64 = 0
    /// Versions captured as a flush was installed, for checkpoints waiting on that flush
    /// (by switch number, with how many checkpoints wait).
    var checkpointCaptures: [UInt64: (waiters: Int, pin: CheckpointPin?)] = [:]
    var log: LogWriter?
    var logFileNumber: UInt64 = 0
    let versions: VersionSet
    let blockCache: BlockCache?
    let tables: TableCache
    let snapshots = SnapshotList()
    /// Snapshots taken so far (a compaction whose filter removed entries while one was taken
    /// is redone without the filter: the new snapshot may see what it removed).
    var snapshotsTaken = 0
    /// True while a compaction whose filter removed entries installs its version (with `mu`
    /// released for the manifest write): snapshots wait for it.
    var installingFilteredCompaction = false
    /// Files being written by a flush or compaction: not yet in a version, not to be deleted.
    var pendingOutputs = Set<UInt64>()
    /// Sticky error from a background failure or a failed log write: writes then fail with it.
    var bgError: LSMError?
    var closed = false
    var shuttingDown = false
    var compactionRunning = false
    /// A flush is writing L0 tables. In the partitioned style flushes and compactions take
    /// turns, so a flush always cuts its pieces at the partition boundaries that hold when
    /// its tables are recorded (no piece straddles a boundary a compaction just made).
    var flushing = false

    /// Whether flushes and compactions must not overlap (partitioned style).
    var flushesAndCompactionsTakeTurns: Bool { options.compactionStyle == .partitioned }
    var manualCompactionWaiting = 0
    var counters = StoreStats()
    var lockFile: (any FileLock)?
    var threads: [BackgroundThread] = []

    init(dir: String, options: Options) {
        self.dir = dir
        self.options = options
        self.fs = options.fileSystem
        self.tableOptions = TableOptions(options)
        self.versions = VersionSet(dir: dir, fs: options.fileSystem, options: options)
        self.blockCache = options.blockCacheSize > 0 ? BlockCache(capacity: options.blockCacheSize) : nil
        self.tables = TableCache(
            dir: dir, fs: options.fileSystem, capacity: options.maxOpenFiles, blockCache: blockCache,
            mapped: options.memoryMappedReads)
    }

    // MARK: The read view

    /// Publishes the state readers see. Caller holds `mu`, after changing any of
    /// `versions.lastSequence`, `mem`, `imm` or `versions.current` (a version's install calls
    /// it through `VersionSet.onInstall`, after both the version and its last sequence are
    /// set), so a published view never has a sequence whose data it lacks.
    func publishView() {
        let view = ReadView(sequence: versions.lastSequence, mem: mem, imm: imm, version: versions.current)
        viewLock.withLock { published = view }
    }

    /// Withdraws the read view: reads fail with `LSMError.closed`. Caller holds `mu`.
    func withdrawView() {
        viewLock.withLock { published = nil }
    }

    /// The latest published view, or nil when closed.
    func publishedView() -> ReadView? {
        viewLock.withLock { published }
    }

    // MARK: Threads' shared flags

    var isShuttingDown: Bool { mu.withLock { shuttingDown } }
}
