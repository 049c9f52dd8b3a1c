/// Block compression for SST data blocks.
public enum Compression: String, Sendable, CaseIterable {
    /// Blocks are stored raw.
    case none
    /// Blocks are compressed with LZ4 when that saves more than 1/8 of the block.
    case lz4
}

/// How compaction shapes the tree.
public enum CompactionStyle: String, Sendable, CaseIterable {
    /// LevelDB's and RocksDB's leveled compaction: L0 files merge into L1 when there are
    /// `l0CompactionTrigger` of them; each level holds `levelSizeMultiplier` times the one above.
    case leveled
    /// Checkpoint-friendly: the state is one sorted run in L1, whose files are partitions of
    /// the key space. A flush writes one small L0 piece per partition it touches, and a
    /// partition is rewritten only when its pieces reach `partitionCompactionRatio` times its
    /// own size, so each compaction rewrites one partition, not the whole run, and an
    /// incremental checkpoint uploads little more than the changed state. See docs/DESIGN.md.
    case partitioned
}

/// Tuning and behaviour of an `LSMStore`. The defaults follow LevelDB and RocksDB.
public struct Options: Sendable {
    /// Create the directory and an empty store when none exists. Default true.
    public var createIfMissing = true
    /// Fail `open` when a store already exists. Default false.
    public var errorIfExists = false
    /// Bytes of writes buffered in the memtable before it is flushed to an L0 table. Default 4 MiB.
    public var memtableSize = 4 << 20
    /// Target uncompressed size of an SST data block. Default 4 KiB.
    public var blockSize = 4096
    /// Keys between restart points in a block. Default 16.
    public var blockRestartInterval = 16
    /// Bloom filter bits per key; 0 disables filters. Default 10 (about 1% false positives).
    public var bloomBitsPerKey = 10
    /// Data block compression. Default LZ4.
    public var compression: Compression = .lz4
    /// A table being written has its bytes written back in the background each time this
    /// many more were appended (RocksDB's `bytes_per_sync`): the sync that ends the table, or
    /// a sync of the whole file system that another writer's tables wait on, then finds
    /// little left to write. A hint only; 0 turns it off. Default 1 MiB.
    public var bytesPerSync = 1 << 20
    /// Write every update to the write-ahead log first. Default true. With the WAL off,
    /// updates since the last flush are lost on a crash (but `close()` flushes them).
    public var walEnabled = true
    /// fsync the WAL before acknowledging each write. Default false (a process crash loses
    /// nothing; a machine crash may lose the last writes).
    public var syncWrites = false
    /// What opening the store does with a damaged write-ahead log. Default
    /// `.tolerateCorruptedTail`: only a torn last write is dropped (and reported).
    public var walRecoveryMode: WALRecoveryMode = .tolerateCorruptedTail
    /// Number of L0 files that triggers a compaction into L1 (leveled style). Default 4.
    public var l0CompactionTrigger = 4
    /// L0 depth (files overlapping one key) at which each write is delayed by 1 ms.
    /// Default 20, as RocksDB's `level0_slowdown_writes_trigger`.
    public var l0SlowdownTrigger = 20
    /// L0 depth at which writes wait for compaction. Default 36, as RocksDB's
    /// `level0_stop_writes_trigger`.
    public var l0StopTrigger = 36
    /// Size ratio between adjacent levels. Default 10.
    public var levelSizeMultiplier = 10
    /// Target total size of L1; level n holds `baseLevelSize * multiplier^(n-1)`. Default 10 MiB.
    public var baseLevelSize = 10 << 20
    /// Target size of one SST produced by compaction. Default 2 MiB.
    public var targetFileSize = 2 << 20
    /// Compaction style. Default `.leveled`.
    public var compactionStyle: CompactionStyle = .leveled
    /// Partitioned style: a partition is compacted when its L0 pieces hold this many times
    /// the bytes of its L1 file. Higher: less rewriting, more space and read work. Default 2.
    public var partitionCompactionRatio = 2.0
    /// Partitioned style: a partition is also compacted when this many L0 pieces overlap it
    /// (bounds read work); writes slow down at twice and stop at three times this. Default 40.
    public var partitionMaxDepth = 40
    /// How much lower the compaction thread's CPU priority is than the threads that opened
    /// the store: its nice value is raised by this much, 0...19 (as RocksDB's
    /// `Env::LowerThreadPoolCPUPriority`). On a machine whose cores are busy, compaction then
    /// yields to the foreground (reads, writes, a checkpoint's upload) and catches up in its
    /// gaps; flushes keep their priority. Linux only. Default 0.
    public var compactionPriorityReduction = 0
    /// Called by compactions to drop entries (`CompactionFilter`). Default nil: every entry stays.
    public var compactionFilter: (any CompactionFilter)? = nil
    /// Bytes of uncompressed blocks kept in the block cache (CLOCK eviction); 0 disables it. Default 8 MiB.
    public var blockCacheSize = 8 << 20
    /// Table readers (open files) kept open. Default 1000.
    public var maxOpenFiles = 1000
    /// Read tables through memory mappings (`FileSystem.openMapped`), as LevelDB does on
    /// 64-bit systems: a block missing from the block cache is then copied from the mapping
    /// instead of read with a `pread` system call. Reading a page that cannot be read (a
    /// device error, or a table truncated by something outside the store) is reported as
    /// `LSMError.io`, as a failed `pread` is. At most `MappedFileBudget.limit` files are
    /// mapped per process; tables beyond it are read with `pread`. Default true.
    public var memoryMappedReads = true
    /// The file system all I/O goes through. Default: the POSIX file system.
    public var fileSystem: any FileSystem = PosixFileSystem()

    /// Options with every default.
    public init() {}

    func validate() throws {
        func check(_ ok: Bool, _ msg: String) throws { if !ok { throw LSMError.invalidArgument(msg) } }
        try check(memtableSize >= 4096, "memtableSize must be at least 4096 bytes")
        try check(blockSize >= 64 && blockSize <= 64 << 20, "blockSize must be between 64 bytes and 64 MiB")
        try check(blockRestartInterval >= 1, "blockRestartInterval must be at least 1")
        try check(bloomBitsPerKey >= 0 && bloomBitsPerKey <= 64, "bloomBitsPerKey must be 0...64")
        try check(bytesPerSync >= 0, "bytesPerSync must not be negative")
        try check(l0CompactionTrigger >= 1, "l0CompactionTrigger must be at least 1")
        try check(l0SlowdownTrigger >= l0CompactionTrigger, "l0SlowdownTrigger must be >= l0CompactionTrigger")
        try check(l0StopTrigger >= l0SlowdownTrigger, "l0StopTrigger must be >= l0SlowdownTrigger")
        try check(levelSizeMultiplier >= 2, "levelSizeMultiplier must be at least 2")
        try check(baseLevelSize >= 4096, "baseLevelSize must be at least 4096")
        try check(targetFileSize >= 4096, "targetFileSize must be at least 4096")
        try check(blockCacheSize >= 0, "blockCacheSize must not be negative")
        try check(maxOpenFiles >= 10, "maxOpenFiles must be at least 10")
        try check(
            partitionCompactionRatio > 0 && partitionCompactionRatio <= 100,
            "partitionCompactionRatio must be in (0, 100]")
        try check(partitionMaxDepth >= 2, "partitionMaxDepth must be at least 2")
        try check((0...19).contains(compactionPriorityReduction), "compactionPriorityReduction must be 0...19")
    }
}
