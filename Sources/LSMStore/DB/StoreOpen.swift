import CPlatform
/// Opening a store: the directory, the LOCK, recovery from the manifest and the WALs, and
/// the background threads.
extension StoreCore {
    // MARK: Open and recovery

    static func open(at dir: String, options: Options) throws -> StoreCore {
        try options.validate()
        let fs = options.fileSystem
        if try fs.stat(dir) == nil {
            guard options.createIfMissing else { throw LSMError.invalidArgument("store \(dir) does not exist") }
            try fs.createDirectory(dir)
            // The new directory's own entry must survive a crash too, or a store whose writes
            // were acknowledged as synced could vanish whole.
            try fs.syncDirectory(parentDirectory(of: dir))
        }
        let core = StoreCore(dir: dir, options: options)
        core.lockFile = try fs.lock(FileNames.lock(dir))
        do {
            try core.recover()
        } catch {
            core.lockFile?.unlock()
            throw error
        }
        core.versions.onInstall = { [unowned core] in core.publishView() }
        core.mu.withLock { core.publishView() }
        core.startThreads()
        return core
    }

    /// Runs before the background threads start, so it needs no lock.
    func recover() throws {
        if try fs.stat(FileNames.current(dir)) != nil {
            if options.errorIfExists { throw LSMError.invalidArgument("store \(dir) already exists") }
            try versions.recover()
        } else {
            if !options.createIfMissing { throw LSMError.invalidArgument("no store in \(dir) (CURRENT is missing)") }
            let names = try fs.listDirectory(dir)
            if names.contains(where: { if case .table = FileNames.parse($0) { return true } else { return false } }) {
                throw LSMError.corruption(
                    file: FileNames.current(dir), offset: 0, reason: "CURRENT is missing but table files exist")
            }
            versions.create()
        }

        // Replay write-ahead logs not yet flushed, oldest first, into L0 tables.
        var edit = VersionEdit()
        var logs: [UInt64] = []
        var allLogs: [UInt64] = []
        for name in try fs.listDirectory(dir) {
            if case .log(let n) = FileNames.parse(name) {
                allLogs.append(n)
                if n >= versions.logNumber { logs.append(n) }
            }
        }
        logs.sort()
        // The log the manifest names is deleted only after an edit naming a newer one is
        // durable. So if it is gone while newer logs exist, the manifest lost records that
        // were synced (truncated or damaged at a record boundary): replaying would silently
        // serve an old version of the data.
        if options.walEnabled, versions.logNumber > 0, !allLogs.contains(versions.logNumber),
            allLogs.contains(where: { $0 > versions.logNumber })
        {
            throw LSMError.corruption(
                file: FileNames.manifest(dir, versions.manifestNumber), offset: 0,
                reason:
                    "the manifest names log \(versions.logNumber), which is gone while newer logs exist: records were lost from its end"
            )
        }
        var replay = Memtable()
        var maxSequence = versions.lastSequence
        var stopped = false  // point-in-time recovery met damage: newer logs are dropped
        for (i, n) in logs.enumerated() {
            if n >= versions.nextFileNumber { versions.nextFileNumber = n + 1 }
            let path = FileNames.log(dir, n)
            let data = try fs.readFile(path)
            if stopped {
                counters.walDroppedAtOpen.append(
                    WALDroppedRange(
                        file: path, offset: 0, bytes: UInt64(data.count),
                        reason: "an older log is damaged (point-in-time recovery)"))
                continue
            }
            // Only the newest log can hold a torn write: an older one was synced whole before
            // the next log took any write.
            let tail: LogReader.TailPolicy
            switch options.walRecoveryMode {
            case .absoluteConsistency: tail = .strict
            case .tolerateCorruptedTail: tail = i == logs.count - 1 ? .dropTornWrite : .strict
            case .pointInTime: tail = .stopAtDamage
            }
            var reader = LogReader(data: data, fileName: path, tail: tail)
            while let (record, offset) = try reader.next() {
                var batchError: String? = nil
                if record.count < WriteBatch.headerSize {
                    batchError = "log record shorter than a batch header"
                } else {
                    let batch = WriteBatch(rep: record)
                    let (last, overflow) = batch.sequence.addingReportingOverflow(UInt64(batch.count))
                    if overflow || last > maxSequenceNumber {
                        batchError =
                            "batch sequence \(batch.sequence) with \(batch.count) entries passes the largest sequence number"
                    } else if options.walRecoveryMode == .pointInTime, let bad = batch.forEach({ _, _, _ in }) {
                        // Checked before any entry is applied: recovery goes on without it.
                        batchError = "malformed batch (entry at \(bad))"
                    } else {
                        // Otherwise a malformed batch fails the open, so its entries may be
                        // applied as they are decoded (one pass).
                        var seq = batch.sequence
                        if let bad = batch.forEach({ kind, key, value in
                            replay.add(sequence: seq, kind: kind, key: key, value: value)
                            seq += 1
                        }) {
                            batchError = "malformed batch (entry at \(bad))"
                        } else if batch.count > 0 {
                            maxSequence = max(maxSequence, batch.sequence + UInt64(batch.count) - 1)
                        }
                    }
                }
                if let batchError {
                    guard options.walRecoveryMode == .pointInTime else {
                        throw LSMError.corruption(file: path, offset: UInt64(offset), reason: batchError)
                    }
                    counters.walDroppedAtOpen.append(
                        WALDroppedRange(
                            file: path, offset: UInt64(offset), bytes: UInt64(data.count - offset), reason: batchError))
                    stopped = true
                    break
                }
                if replay.approximateSize > options.memtableSize {
                    for f in try writeLevel0Tables(replay, snapshots: [], boundaries: []).files { edit.addFile(0, f) }
                    replay = Memtable()
                }
            }
            if !stopped, let d = reader.dropped {
                counters.walTornTailBytesDropped += UInt64(reader.droppedTail)
                counters.walDroppedAtOpen.append(
                    WALDroppedRange(
                        file: path, offset: UInt64(d.offset), bytes: UInt64(reader.droppedTail), reason: d.reason))
                if options.walRecoveryMode == .pointInTime { stopped = true }
            }
        }
        if !replay.isEmpty {
            for f in try writeLevel0Tables(replay, snapshots: [], boundaries: []).files { edit.addFile(0, f) }
        }
        versions.lastSequence = maxSequence

        if options.walEnabled {
            logFileNumber = versions.newFileNumber()
            log = LogWriter(file: try fs.create(FileNames.log(dir, logFileNumber)))
        } else {
            logFileNumber = versions.newFileNumber()  // marks every older log obsolete
        }
        edit.logNumber = logFileNumber
        try versions.logAndApply(&edit)  // first write: a new manifest and CURRENT
        pendingOutputs.removeAll()
        try fs.syncDirectory(dir)
        mu.withLock { removeObsoleteFiles(atOpen: true) }
    }

    func startThreads() {
        threads.append(BackgroundThread(name: "lsm-flush") { [self] in flushLoop() })
        threads.append(
            BackgroundThread(name: "lsm-compact") { [self] in
                // Best effort: a priority that cannot be lowered leaves compaction as it was.
                if options.compactionPriorityReduction > 0 {
                    _ = lsm_lower_thread_priority(Int32(options.compactionPriorityReduction))
                }
                compactionLoop()
            })
    }
}
