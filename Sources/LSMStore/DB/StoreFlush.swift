/// The flush thread: immutable memtables into L0 tables, and the background error.
extension StoreCore {
    // MARK: Flush (background)

    func flushLoop() {
        mu.lock()
        while !shuttingDown {
            if imm != nil && bgError == nil && !(flushesAndCompactionsTakeTurns && compactionRunning) {
                flushing = true
                flushImmutable()
                flushing = false
                mu.broadcast()
            } else {
                mu.wait()
            }
        }
        mu.unlock()
    }

    /// Writes `imm` to an L0 table and records it. Caller holds `mu`; it is released during I/O.
    func flushImmutable() {
        guard let table = imm else { return }
        let logNumber = logFileNumber
        let liveSnapshots = snapshots.sorted
        let boundaries = options.compactionStyle == .partitioned ? versions.current.partitionBoundaries : []
        mu.unlock()
        let result = Result { () throws -> (files: [FileMetaData], reserved: [UInt64]) in
            let out = try writeLevel0Tables(table, snapshots: liveSnapshots, boundaries: boundaries)
            if !out.files.isEmpty { try fs.syncDirectory(dir) }  // the tables' directory entries
            return (out.files, out.reserved)
        }
        mu.lock()
        do {
            let out = try result.get()
            defer { for n in out.reserved { pendingOutputs.remove(n) } }
            var edit = VersionEdit()
            for f in out.files { edit.addFile(0, f) }
            edit.logNumber = logNumber  // older logs hold only flushed data now
            try versions.logAndApply(&edit, releasing: mu)
            imm = nil
            publishView()
            flushedMemtables += 1
            if let c = checkpointCaptures[flushedMemtables] {
                // Exactly this memtable's data and all before it: nothing newer is flushed yet.
                checkpointCaptures[flushedMemtables] = (c.waiters, currentPin())
            }
            counters.flushCount += 1
            counters.flushBytesWritten += out.files.reduce(0) { $0 + $1.size }
            removeObsoleteFiles()
        } catch {
            recordBackgroundError(error)
        }
    }

    func recordBackgroundError(_ error: Error) {
        if bgError == nil {
            bgError = (error as? LSMError) ?? .io(path: dir, operation: "background work: \(error)", errno: 0)
        }
        mu.broadcast()
    }

    /// Reserves a file number for an output; it stays protected from obsolete-file removal
    /// until the caller removes it from `pendingOutputs` (only after the file is in a
    /// version, or deleted).
    func reserveOutput() -> UInt64 {
        mu.withLock {
            let n = versions.newFileNumber()
            pendingOutputs.insert(n)
            return n
        }
    }

    /// Writes a memtable as L0 tables (without `mu`; it takes it to reserve file numbers).
    ///
    /// Versions no reader can see are dropped, as RocksDB's flush does: an entry is dropped
    /// when a newer version of its key is visible at `smallestSnapshot`. With `boundaries`
    /// (sorted user keys), a new table starts at each boundary, so the pieces line up with
    /// the L1 files they will be compacted into (the partitioned compaction style).
    /// Returns the tables and every file number reserved (to release after recording them).
    func writeLevel0Tables(
        _ table: Memtable, snapshots: [UInt64], boundaries: [[UInt8]]
    ) throws -> (files: [FileMetaData], reserved: [UInt64], dataBytes: UInt64) {
        try writeLevel0Tables(snapshots: snapshots, boundaries: boundaries) { out, partitions in
            let it = table.makeIterator()
            try it.seekToFirst()
            while it.isValid {
                let ikey = it.keyView
                let newKey = out.startsUserKey(ikey)
                if newKey && partitions.crossed(at: UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)])) {
                    try out.endTable()
                }
                if out.isVisible(sequence: InternalKey.trailer(ikey) >> 8, newUserKey: newKey) {
                    try out.append(ikey, it.valueView)
                }
                try it.next()
            }
        }
    }

    /// Runs `fill` with a table output and the partitions it must split at, then finishes the
    /// last table and makes the tables durable; on an error, removes what was written and
    /// releases the file numbers.
    func writeLevel0Tables(
        snapshots: [UInt64], boundaries: [[UInt8]],
        fill: (TableOutput, inout PartitionCursor) throws -> Void
    ) throws -> (files: [FileMetaData], reserved: [UInt64], dataBytes: UInt64) {
        // Cut at partition boundaries, one output is often many small tables: they are
        // written without a sync each, then made durable by one file-system sync (one
        // journal commit instead of one per table).
        let syncEach = boundaries.isEmpty
        let out = TableOutput(core: self, snapshots: snapshots, syncEach: syncEach)
        var partitions = PartitionCursor(boundaries)
        do {
            try fill(out, &partitions)
            try out.endTable()
            if !syncEach && !out.files.isEmpty { try fs.syncFileSystem(containing: dir) }
        } catch {
            out.abandon()
            for n in out.reserved { try? fs.remove(FileNames.table(dir, n)) }
            mu.withLock { for n in out.reserved { pendingOutputs.remove(n) } }
            throw error
        }
        return (out.files, out.reserved, out.dataBytes)
    }
}

/// Where a stream of ascending user keys crosses partition boundaries (sorted user keys, each
/// the first key of its partition): an output starts a new table at each crossing.
struct PartitionCursor {
    private let boundaries: [[UInt8]]
    private var next = 0

    init(_ boundaries: [[UInt8]]) { self.boundaries = boundaries }

    /// Whether `userKey` (not below any key passed before) lies at or past the next boundary;
    /// the cursor moves past every boundary it reached.
    @inline(__always)
    mutating func crossed(at userKey: UnsafeRawBufferPointer) -> Bool {
        var crossed = false
        while next < boundaries.count, boundaries[next].withUnsafeBytes({ compareBytes($0, userKey) }) <= 0 {
            next += 1
            crossed = true
        }
        return crossed
    }
}
