/// Compaction scheduling and execution for the store core: one background thread picks and
/// runs compactions while the flush thread keeps draining memtables; `compact()` runs a
/// manual full compaction on the caller's thread, excluding the background one.
extension StoreCore {
    struct CompactionCancelled: Error {}

    func compactionLoop() {
        mu.lock()
        while !shuttingDown {
            // (Partitioned style: a pending flush goes first, so compactions see its pieces.)
            if bgError == nil && !compactionRunning && manualCompactionWaiting == 0,
                !(flushesAndCompactionsTakeTurns && (flushing || imm != nil)),
                let c = versions.pickCompaction()
            {
                compactionRunning = true
                do {
                    try runCompaction(c)
                } catch is CompactionCancelled {
                } catch {
                    recordBackgroundError(error)
                }
                compactionRunning = false
                mu.broadcast()
            } else {
                mu.wait()
            }
        }
        mu.unlock()
    }

    /// Compacts every level down into the last non-empty one (at least L1), after flushing
    /// the memtable, then rewrites that bottom level in place: afterwards each key has one
    /// version (or none, if deleted), except what live snapshots still need.
    func compactAll() throws {
        try flush()
        mu.lock()
        defer { mu.unlock() }
        manualCompactionWaiting += 1
        while (compactionRunning || (flushesAndCompactionsTakeTurns && flushing)) && bgError == nil && !shuttingDown {
            mu.wait()
        }
        manualCompactionWaiting -= 1
        if let e = bgError { throw e }
        if closed || shuttingDown { throw LSMError.closed }
        compactionRunning = true
        defer {
            compactionRunning = false
            mu.broadcast()
        }
        // (No local reference to the current version: it would keep every replaced table live.)
        let lastLevel = max(1, (0..<Version.numLevels).last(where: { !versions.current.levels[$0].isEmpty }) ?? 1)
        for level in 0...lastLevel {
            if shuttingDown { throw LSMError.closed }
            let files = versions.current.levels[level]
            if files.isEmpty { continue }
            guard
                let c = versions.makeCompaction(
                    level: level, inputs0: files, version: versions.current, isManual: true, inPlace: level == lastLevel
                )
            else { continue }
            do {
                try runCompaction(c)
            } catch is CompactionCancelled {
                throw LSMError.closed
            } catch {
                recordBackgroundError(error)
                throw error
            }
        }
    }

    /// Runs `c`. Caller holds `mu`; it is released during I/O and held again on return.
    func runCompaction(_ c: Compaction) throws {
        if c.isTrivialMove {
            let f = c.inputs[0][0]
            c.edit.deleteFile(c.level, f.number)
            c.edit.addFile(c.level + 1, f)
            try versions.logAndApply(&c.edit, releasing: mu)
            counters.compactionCount += 1
            counters.trivialMoveCount += 1
            return
        }
        let liveSnapshots = snapshots.sorted
        let smallestSnapshot = liveSnapshots.first ?? versions.lastSequence
        let snapshotsTakenAtStart = snapshotsTaken
        var outputs: [FileMetaData] = []
        var produced: [UInt64] = []
        var filtered = 0
        var result: Result<Void, Error> = .success(())
        var synced: Result<Void, Error> = .success(())
        /// The merge and the sync of its outputs' directory, without `mu`.
        func merge(useFilter: Bool) {
            mu.unlock()
            result = Result {
                try mergeInputs(
                    c, snapshots: liveSnapshots, smallestSnapshot: smallestSnapshot, outputs: &outputs,
                    produced: &produced, filtered: &filtered, useFilter: useFilter)
            }
            synced = Result { if !produced.isEmpty { try fs.syncDirectory(dir) } }
            mu.lock()
        }
        merge(useFilter: true)
        // A snapshot taken while the filter removed entries may see some of them (its sequence
        // is above everything the compaction read): the outputs are dropped and the merge
        // redone without the filter, which keeps every newest version.
        if filtered > 0, snapshotsTaken != snapshotsTakenAtStart, case .success = result, case .success = synced {
            for n in produced {
                try? fs.remove(FileNames.table(dir, n))
                pendingOutputs.remove(n)
            }
            outputs = []
            produced = []
            filtered = 0
            merge(useFilter: false)
        }
        defer { for n in produced { pendingOutputs.remove(n) } }
        if case .failure(let e) = synced {
            for n in produced { try? fs.remove(FileNames.table(dir, n)) }
            throw e
        }
        do {
            try result.get()
        } catch {
            for n in produced { try? fs.remove(FileNames.table(dir, n)) }
            throw error
        }
        c.addInputDeletions()
        for f in outputs { c.edit.addFile(c.outputLevel, f) }
        // The manifest write releases `mu`: a snapshot taken then would read the old version,
        // then lose what the filter removed when the new one is installed. Snapshots wait.
        if filtered > 0 { installingFilteredCompaction = true }
        defer {
            if filtered > 0 {
                installingFilteredCompaction = false
                mu.broadcast()
            }
        }
        // If this fails the edit may still have reached the manifest, so the outputs stay;
        // the next open deletes whichever files its version does not reference.
        try versions.logAndApply(&c.edit, releasing: mu)
        counters.compactionCount += 1
        counters.compactionBytesRead += c.inputBytes
        counters.compactionBytesWritten += outputs.reduce(0) { $0 + $1.size }
        counters.compactionFilterRemoved += filtered
        // The replaced inputs are obsolete only once nothing holds the version they were
        // picked from.
        c.releaseInputVersion()
        removeObsoleteFiles()
    }

    /// The merge itself, without `mu`: drops versions no snapshot can see and deletion
    /// markers with nothing below them, and cuts outputs at the target size (never inside
    /// one user key's versions, so files of a level never share a user key).
    private func mergeInputs(
        _ c: Compaction, snapshots: [UInt64], smallestSnapshot: UInt64, outputs: inout [FileMetaData],
        produced: inout [UInt64], filtered: inout Int, useFilter: Bool
    ) throws {
        // The filter runs only in compactions during which no snapshot exists (one taken
        // meanwhile makes the caller redo the merge without it): what snapshots read never
        // changes.
        let givenFilter = useFilter && snapshots.isEmpty ? options.compactionFilter : nil
        // Unwrapped once: binding the optional existential in the loop copied it (retaining
        // what it holds) for every entry.
        let filtering = givenFilter != nil
        let filter: any CompactionFilter = givenFilter ?? KeepEverything()
        let outputLevel = c.outputLevel
        var tombstone: [UInt8] = []
        var children: [any InternalIterator] = []
        if c.level == 0 {
            for f in c.inputs[0] { children.append(try tables.reader(f.number).makeIterator(fillCache: false)) }
        } else {
            children.append(LevelIterator(files: c.inputs[0], tables: tables, fillCache: false))
        }
        if !c.inputs[1].isEmpty {
            children.append(LevelIterator(files: c.inputs[1], tables: tables, fillCache: false))
        }
        let input = MergingIterator(children)
        try input.seekToFirst()

        let out = TableOutput(core: self, snapshots: snapshots)
        var processed = 0
        defer {
            outputs.append(contentsOf: out.files)
            produced.append(contentsOf: out.reserved)
        }
        do {
            while input.isValid {
                processed += 1
                if processed & 1023 == 0 && isShuttingDown { throw CompactionCancelled() }
                let ikey = input.keyView
                let trailer = InternalKey.trailer(ikey)
                let seq = trailer >> 8
                let newUserKey = out.startsUserKey(ikey)
                if newUserKey && out.hasOpenTable
                    && (c.shouldStopBefore(ikey) || out.openTableSize >= c.maxOutputFileSize)
                {
                    try out.endTable()
                }
                // Every reader that sees a hidden version sees the newer one above it; a
                // deletion marker with nothing older below it has nothing left to hide.
                let visible = out.isVisible(sequence: seq, newUserKey: newUserKey)
                if visible, newUserKey, filtering,
                    UInt8(truncatingIfNeeded: trailer) == ValueKind.value.rawValue,
                    filter.filter(
                        level: outputLevel, key: UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)]),
                        value: input.valueView) == .remove
                {
                    filtered += 1
                    // A deletion marker takes its place when older versions may remain in
                    // levels below.
                    if !c.isBaseLevelForKey([UInt8](ikey[0..<(ikey.count - 8)])) {
                        tombstone.removeAll(keepingCapacity: true)
                        tombstone.append(contentsOf: ikey[0..<(ikey.count - 8)])
                        withUnsafeBytes(of: ((seq << 8) | UInt64(ValueKind.deletion.rawValue)).littleEndian) {
                            tombstone.append(contentsOf: $0)
                        }
                        try tombstone.withUnsafeBytes {
                            try out.append($0, UnsafeRawBufferPointer(start: nil, count: 0))
                        }
                    }
                } else if visible
                    && !(UInt8(truncatingIfNeeded: trailer) == ValueKind.deletion.rawValue && seq <= smallestSnapshot
                        && c.isBaseLevelForKey([UInt8](ikey[0..<(ikey.count - 8)])))
                {
                    try out.append(ikey, input.valueView)
                }
                try input.next()
            }
            try out.endTable()
        } catch {
            out.abandon()
            throw error
        }
    }
}

/// The filter of a compaction that filters nothing (never called).
private struct KeepEverything: CompactionFilter {
    func filter(level: Int, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> CompactionFilterDecision {
        .keep
    }
}
