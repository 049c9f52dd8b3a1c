extension StoreCore {
    /// Writes `batch`, whose keys strictly ascend, straight into new L0 tables and records
    /// them in one manifest edit: no memtable insert and no later flush of the same bytes
    /// (RocksDB's external-file ingestion, for a batch already in memory).
    ///
    /// Order with everything else: writers are held off while it runs; a non-empty memtable
    /// (or one being flushed) is flushed first, so every older write is in a table with a
    /// smaller file number and no log that could be replayed later holds an older write.
    /// The batch's operations take the next sequence numbers, which become visible only as
    /// the version holding the tables is installed. Durable on return (tables and manifest
    /// synced), whether or not the store has a log.
    func ingest(_ batch: WriteBatch) throws {
        if batch.isEmpty { return }
        writeMutex.lock()
        defer { writeMutex.unlock() }
        let (firstSequence, boundaries): (UInt64, [[UInt8]]) = try mu.withLock {
            if closed || shuttingDown { throw LSMError.closed }
            if let e = bgError { throw e }
            if !mem.isEmpty || imm != nil { try flushLocked() }
            let boundaries = options.compactionStyle == .partitioned ? versions.current.partitionBoundaries : []
            return (versions.lastSequence + 1, boundaries)
        }
        var sequence = firstSequence
        var userBytes: UInt64 = 0
        let out = try writeLevel0Tables(snapshots: [], boundaries: boundaries) { emit in
            let ikey = KeyBuffer()
            let previous = KeyBuffer()
            var first = true
            var failure: LSMError? = nil
            batch.forEachUnchecked { kind, key, value in
                guard failure == nil else { return }
                if !first && compareBytes(key, previous.view) <= 0 {
                    failure = .invalidArgument(
                        "ingest: keys must strictly ascend (operation \(sequence - firstSequence))")
                    return
                }
                first = false
                previous.set(key)
                ikey.set(key)
                withUnsafeBytes(of: ((sequence << 8) | UInt64(kind.rawValue)).littleEndian) {
                    ikey.replace(from: key.count, with: $0)
                }
                do {
                    try emit(ikey.view, value)
                } catch {
                    failure = (error as? LSMError) ?? .io(path: dir, operation: "ingest: \(error)", errno: 0)
                }
                sequence += 1
                userBytes += UInt64(key.count + value.count)
            }
            if let failure { throw failure }
        }
        do {
            if !out.files.isEmpty { try fs.syncDirectory(dir) }
            try mu.withLock {
                defer { for n in out.reserved { pendingOutputs.remove(n) } }
                if closed { throw LSMError.closed }
                var edit = VersionEdit()
                for f in out.files { edit.addFile(0, f) }
                edit.lastSequence = sequence - 1
                try versions.logAndApply(&edit, releasing: mu)
                counters.ingestCount += 1
                counters.flushBytesWritten += out.files.reduce(0) { $0 + $1.size }
                counters.userBytesWritten += userBytes
                mu.broadcast()  // compaction may now have work
            }
        } catch {
            // Not recorded: the tables are garbage; removing them is best effort (obsolete-file
            // removal at the next open deletes what is left).
            for f in out.files { try? fs.remove(FileNames.table(dir, f.number)) }
            throw error
        }
    }
}
