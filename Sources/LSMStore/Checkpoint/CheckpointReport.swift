import Glibc

/// What one checkpoint did and cost.
public struct CheckpointReport: Sendable {
    /// Checkpoint id.
    public var id: UInt64
    /// Full or incremental.
    public var mode: CheckpointMode
    /// Sequence number of the last write it holds.
    public var sequence: UInt64
    /// Synchronous phase (memtable flush; writers wait).
    public var syncDuration: Duration
    /// Asynchronous phase (uploads, metadata, retention).
    public var asyncDuration: Duration = .zero
    /// The part of the asynchronous phase spent copying or linking files, fsyncs included.
    public var uploadDuration: Duration = .zero
    /// Bytes this checkpoint wrote to the storage (the delta): uploaded files and metadata.
    /// A hard link counts as an upload of the file's bytes (an object store would receive them).
    public var bytesWritten: UInt64 = 0
    /// Bytes a restore needs: every referenced file and the metadata.
    public var fullSize: UInt64 = 0
    /// Bytes of `_metadata`.
    public var metadataBytes: UInt64 = 0
    /// Files uploaded by this checkpoint.
    public var filesNew = 0
    /// Files referenced from earlier checkpoints.
    public var filesReused = 0
    /// Uploaded files that were hard links rather than copies.
    public var filesLinked = 0
    /// Files the checkpoint references in all.
    public var fileCount = 0
    /// Bytes the checkpoint storage occupies afterwards, each inode counted once.
    public var storageBytesOnDisk: UInt64 = 0
    /// Older checkpoints discarded by retention when this one completed.
    public var discardedCheckpoints: [UInt64] = []
    /// The storage requests made from the checkpoint's start to its end (its claim, uploads,
    /// `_metadata`, retention, the size listing), by kind, with bytes and retries; nil for a
    /// storage that makes no billed requests (a folder). Requests of other work on the same
    /// storage at the same time are counted too.
    public var requests: StorageRequestStats? = nil

    init(id: UInt64, mode: CheckpointMode, sequence: UInt64, syncDuration: Duration) {
        self.id = id
        self.mode = mode
        self.sequence = sequence
        self.syncDuration = syncDuration
    }

    /// Synchronous plus asynchronous phase.
    public var totalDuration: Duration { syncDuration + asyncDuration }
}

func currentTimeMillis() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}
