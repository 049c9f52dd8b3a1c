/// The write path: batches into the WAL and the memtable, memtable switches and write
/// stalls, and explicit flushes.
extension StoreCore {
    // MARK: Writes

    func write(_ batch: WriteBatch, sync: Bool) throws {
        if batch.isEmpty { return }
        writeMutex.lock()
        defer { writeMutex.unlock() }
        mu.lock()
        let seq: UInt64
        let memtable: Memtable
        let logWriter: LogWriter?
        do {
            try makeRoomForWrite(force: false)
            seq = versions.lastSequence + 1
            memtable = mem
            logWriter = log
        } catch {
            mu.unlock()
            throw error
        }
        mu.unlock()

        if let logWriter {
            // Only the log record carries the sequence; without a log the caller's batch is
            // read in place, not copied.
            var b = batch
            b.sequence = seq
            do {
                try logWriter.addRecord(b.rep)
                if sync { try logWriter.sync() }
            } catch {
                // The log may now hold part of this record: refuse further writes.
                mu.withLock { recordBackgroundError(error) }
                throw error
            }
        }
        var s = seq
        var userBytes: UInt64 = 0
        batch.forEachUnchecked { kind, key, value in
            memtable.add(sequence: s, kind: kind, key: key, value: value)
            userBytes += UInt64(key.count + value.count)
            s += 1
        }
        mu.withLock {
            versions.lastSequence = seq + UInt64(batch.count) - 1
            publishView()
            counters.userBytesWritten += userBytes
            if logWriter != nil { counters.walBytesWritten += UInt64(batch.rep.count) }
        }
    }

    /// Makes sure the active memtable has room, switching to a new one (and a new log) when
    /// it is full. Delays or waits when L0 is overloaded. Caller holds `mu` and `writeMutex`.
    func makeRoomForWrite(force: Bool) throws {
        var allowDelay = !force
        var force = force
        while true {
            if let e = bgError { throw e }
            if closed || shuttingDown { throw LSMError.closed }
            let l0 = versions.current.level0Depth
            if allowDelay && l0 >= slowdownDepth {
                // Spread the delay over writes instead of stopping them all later.
                counters.writeSlowdowns += 1
                mu.unlock()
                sleepMicroseconds(1000)
                mu.lock()
                allowDelay = false
                continue
            }
            // Never switch an empty memtable: that would only flush nothing, again and again.
            if mem.isEmpty || (!force && mem.approximateSize <= options.memtableSize) { return }
            if imm != nil {
                counters.writeStalls += 1
                mu.wait()
                continue
            }
            if l0 >= stopDepth {
                counters.writeStalls += 1
                mu.wait()
                continue
            }
            if options.walEnabled {
                let number = versions.newFileNumber()
                let file: any WritableFile
                file = try fs.create(FileNames.log(dir, number))
                // A synced write (per store or per call) must not vanish with the new log's
                // directory entry; once per memtable, so cheap.
                try fs.syncDirectory(dir)
                // The old log's unsynced tail must be durable before any write goes to the new
                // one: otherwise a synced write there could survive a crash that loses earlier
                // writes here, a hole in the history. One fdatasync per memtable.
                try log?.sync()
                try? log?.close()
                log = LogWriter(file: file)
                logFileNumber = number
            }
            // Writers hold `writeMutex`, as does this switch: no insert is running or will run.
            mem.freeze()
            imm = mem
            mem = Memtable()
            publishView()
            switchedMemtables += 1
            force = false
            mu.broadcast()
        }
    }

    /// L0 depth (files over one key) at which writes are delayed, and at which they wait.
    var slowdownDepth: Int {
        options.compactionStyle == .partitioned
            ? max(options.l0SlowdownTrigger, 2 * options.partitionMaxDepth) : options.l0SlowdownTrigger
    }
    var stopDepth: Int {
        options.compactionStyle == .partitioned
            ? max(options.l0StopTrigger, 3 * options.partitionMaxDepth) : options.l0StopTrigger
    }

    /// Flushes the active memtable and waits until it is in an L0 table. Caller holds `mu`
    /// and `writeMutex`.
    func flushLocked() throws {
        try makeRoomForWrite(force: true)
        while imm != nil && bgError == nil && !shuttingDown { mu.wait() }
        if let e = bgError { throw e }
    }

    func flush() throws {
        writeMutex.lock()
        defer { writeMutex.unlock() }
        try mu.withLock {
            if closed { throw LSMError.closed }
            try flushLocked()
        }
    }
}
