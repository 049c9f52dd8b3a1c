/// A checkpoint whose synchronous phase is done: its version is pinned (compaction cannot
/// delete its files) until `complete()` or `abort()`.
public final class PendingCheckpoint: @unchecked Sendable {
    /// The checkpoint id.
    public let id: UInt64
    /// Full or incremental.
    public let mode: CheckpointMode
    /// Sequence number of the last write the checkpoint holds.
    public var sequence: UInt64 {
        switch ticket {
        case .ready(let pin): return pin.sequence
        case .afterFlush(_, let sequence): return sequence
        }
    }
    /// How long the synchronous phase took.
    public let syncDuration: Duration
    private let owner: Checkpointer
    private let ticket: CheckpointPinTicket
    private var ticketSettled = false
    private let userMetadata: [UInt8]
    private let requestsAtStart: StorageRequestStats?
    private var uploadedShared: [String] = []
    private var finished = false
    private let lock = Monitor()

    init(
        owner: Checkpointer, id: UInt64, mode: CheckpointMode, ticket: CheckpointPinTicket, userMetadata: [UInt8],
        syncDuration: Duration, requestsAtStart: StorageRequestStats?
    ) {
        self.owner = owner
        self.requestsAtStart = requestsAtStart
        self.id = id
        self.mode = mode
        self.ticket = ticket
        self.userMetadata = userMetadata
        self.syncDuration = syncDuration
    }

    /// The asynchronous phase: uploads what the checkpoint needs, writes `_metadata` last,
    /// then applies retention. On failure nothing earlier is harmed; call `abort()` to remove
    /// the partial files (or leave them to `cleanup`).
    public func complete() throws -> CheckpointReport {
        try lock.withLock {
            guard !finished else { throw LSMError.invalidArgument("checkpoint \(id) already completed or aborted") }
            let clock = ContinuousClock()
            let start = clock.now
            // The memtable switched in `begin` is flushed in the background; its version is
            // the checkpoint's.
            ticketSettled = true
            let pin = try owner.store.core.awaitCheckpointPin(ticket)
            let storage = owner.storage
            let storeHex = Inspector.hexString(pin.storeID)
            let folder = Checkpointer.folder(id)
            var files: [CheckpointFile] = []
            var report = CheckpointReport(id: id, mode: mode, sequence: pin.sequence, syncDuration: syncDuration)
            var toUpload: [(name: String, localPath: String, file: FileMetaData)] = []
            for (level, list) in pin.version.levels.enumerated() {
                for f in list {
                    let name: String
                    var uploaded = true
                    switch mode {
                    case .full:
                        name = folder + "/" + FileNames.tableName(f.number)
                    case .incremental:
                        // A table restored from a checkpoint is reused under the name its
                        // writer gave it, when this storage holds that object (as Flink's
                        // FLIP-428: no download and upload again of what the storage has).
                        // It is never uploaded under that name: an object of another store's
                        // name, not yet referenced, could be taken for an orphan of that store.
                        if let origin = f.origin,
                            case let reused = CheckpointLayout.sharedTable(
                                store: Inspector.hexString(origin), number: f.number),
                            try owner.reserveShared(reused, for: id, size: f.size, checksum: f.checksum)
                        {
                            name = reused
                            uploaded = false
                            report.filesReused += 1
                            break
                        }
                        name = CheckpointLayout.sharedTable(store: storeHex, number: f.number)
                        if try owner.reserveShared(name, for: id, size: f.size, checksum: f.checksum) {
                            uploaded = false
                            report.filesReused += 1
                        } else {
                            uploadedShared.append(name)
                        }
                    }
                    if uploaded { toUpload.append((name, FileNames.table(pin.dir, f.number), f)) }
                    files.append(
                        CheckpointFile(
                            level: level, fileNumber: f.number, name: name, size: f.size, checksum: f.checksum,
                            smallestKey: f.smallest, largestKey: f.largest, uploadedHere: uploaded))
                }
            }
            let uploadStart = clock.now
            let transfers = try storage.putMany(
                toUpload.map { ($0.name, $0.localPath) }, preferLink: mode == .incremental)
            report.uploadDuration = clock.now - uploadStart
            for (t, u) in zip(transfers, toUpload) { try account(t, u.localPath, u.file, into: &report) }
            let metadata = CheckpointMetadata(
                id: id, mode: mode, sequence: pin.sequence, storeID: storeHex,
                createdAtMillis: currentTimeMillis(), nextFileNumber: pin.nextFileNumber, files: files,
                userMetadata: userMetadata)
            let bytes = metadata.encode()
            if !uploadedShared.isEmpty { try storage.sync(CheckpointLayout.sharedFolder) }
            if mode == .full && !files.isEmpty { try storage.sync(folder) }
            // Created exclusively: a checkpoint is never replaced, whoever else writes here.
            guard try storage.createExclusively(Checkpointer.metadataName(id), bytes) else {
                throw LSMError.conflict("\(Checkpointer.metadataName(id)) was created by another writer")
            }
            try storage.sync("")
            report.bytesWritten += UInt64(bytes.count)
            report.metadataBytes = UInt64(bytes.count)
            report.fullSize = metadata.fullSize + UInt64(bytes.count)
            report.fileCount = files.count
            finished = true
            report.discardedCheckpoints = try owner.completed(metadata)
            report.asyncDuration = clock.now - start
            report.storageBytesOnDisk = try storage.bytesOnDisk()
            if let before = requestsAtStart, let after = storage.requestStats() {
                report.requests = after.since(before)
            }
            return report
        }
    }

    private func account(_ t: Transfer, _ local: String, _ f: FileMetaData, into report: inout CheckpointReport) throws
    {
        guard t.bytes == f.size else {
            throw LSMError.corruption(
                file: local, offset: min(t.bytes, f.size),
                reason: "size \(t.bytes) differs from the manifest's \(f.size)")
        }
        // A copy's bytes were checksummed as they were read; a link's are read here, so a
        // table damaged on the store's disk is never handed to the checkpoint.
        let crc = try t.checksum ?? fileChecksum(owner.store.options.fileSystem, local, sizeHint: f.size)
        if crc != f.checksum {
            throw LSMError.corruption(
                file: local, offset: 0, reason: "file checksum differs from the one recorded when it was written")
        }
        report.filesNew += 1
        report.bytesWritten += t.bytes
        if t.linked { report.filesLinked += 1 }
    }

    /// Abandons the checkpoint and removes what it wrote. Idempotent.
    public func abort() {
        let uploaded: [String]? = lock.withLock {
            guard !finished else { return nil }
            finished = true
            if !ticketSettled {
                ticketSettled = true
                owner.store.core.releaseCheckpointPin(ticket)
            }
            return uploadedShared
        }
        if let uploaded { owner.aborted(id, uploadedShared: uploaded) }
    }

    deinit {
        if !ticketSettled { owner.store.core.releaseCheckpointPin(ticket) }
        if !finished { owner.aborted(id, uploadedShared: uploadedShared) }
    }
}
