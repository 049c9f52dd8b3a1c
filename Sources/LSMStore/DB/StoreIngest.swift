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
    func ingest(_ batch: WriteBatch) throws -> IngestSummary {
        if batch.isEmpty { return IngestSummary() }
        return try ingestSorted { add in
            var failure: Error? = nil
            batch.forEachUnchecked { kind, key, value in
                guard failure == nil else { return }
                do { try add(key, kind == .value ? value : nil) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    /// The same for the entries `produce` hands to `add` (a nil value is a deletion), with
    /// no batch built first. Nothing is written when it hands none, or when it throws (its
    /// error is rethrown) or hands a key that does not ascend.
    func ingestSorted(
        _ produce: (_ add: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> Void) throws -> Void
    ) throws -> IngestSummary {
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
        // Each entry becomes an internal key with the next sequence number. The keys of an
        // ingest strictly ascend (checked against the previous internal key's user part), so
        // each starts a new user key and every one is kept: the output skips the checks a
        // flush needs for versions of one key.
        let out = try writeLevel0Tables(snapshots: [], boundaries: boundaries) { out, partitions in
            let ikey = KeyBuffer()
            try produce { key, value in
                if sequence != firstSequence
                    && compareBytes(key, UnsafeRawBufferPointer(rebasing: ikey.view[0..<(ikey.count - 8)])) <= 0
                {
                    throw LSMError.invalidArgument(
                        "ingest: keys must strictly ascend (operation \(sequence - firstSequence))")
                }
                if partitions.crossed(at: key) { try out.endTable() }
                let kind: ValueKind = value == nil ? .deletion : .value
                ikey.setInternal(key, trailer: (sequence << 8) | UInt64(kind.rawValue))
                let v = value ?? UnsafeRawBufferPointer(start: nil, count: 0)
                try out.append(ikey.view, v)
                sequence += 1
                userBytes += UInt64(key.count + v.count)
            }
        }
        // Nothing handed over: no edit (an older memtable may have been flushed, as above).
        if sequence == firstSequence && out.files.isEmpty {
            mu.withLock { for n in out.reserved { pendingOutputs.remove(n) } }
            return IngestSummary()
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
        return IngestSummary(
            entries: Int(sequence - firstSequence), tables: out.files.count,
            fileBytes: out.files.reduce(0) { $0 + $1.size }, dataBlockBytes: out.dataBytes)
    }
}
