/// The engine behind `LSMStore`: state, write path, read path, recovery and the background
/// threads. `LSMStore` is a thin public face whose deinit closes the core, since the
/// background threads keep the core itself alive.
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

    let mu = Mutex()
    let writeMutex = Mutex()

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
    private var lockFile: (any FileLock)?
    private var threads: [BackgroundThread] = []

    private init(dir: String, options: Options) {
        self.dir = dir
        self.options = options
        self.fs = options.fileSystem
        self.tableOptions = TableOptions(options)
        self.versions = VersionSet(dir: dir, fs: options.fileSystem, options: options)
        self.blockCache = options.blockCacheSize > 0 ? BlockCache(capacity: options.blockCacheSize) : nil
        self.tables = TableCache(dir: dir, fs: options.fileSystem, capacity: options.maxOpenFiles, blockCache: blockCache)
    }

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
        core.startThreads()
        return core
    }

    /// Runs before the background threads start, so it needs no lock.
    private func recover() throws {
        if try fs.stat(FileNames.current(dir)) != nil {
            if options.errorIfExists { throw LSMError.invalidArgument("store \(dir) already exists") }
            try versions.recover()
        } else {
            if !options.createIfMissing { throw LSMError.invalidArgument("no store in \(dir) (CURRENT is missing)") }
            let names = try fs.listDirectory(dir)
            if names.contains(where: { if case .table = FileNames.parse($0) { return true } else { return false } }) {
                throw LSMError.corruption(file: FileNames.current(dir), offset: 0, reason: "CURRENT is missing but table files exist")
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
           allLogs.contains(where: { $0 > versions.logNumber }) {
            throw LSMError.corruption(
                file: FileNames.manifest(dir, versions.manifestNumber), offset: 0,
                reason: "the manifest names log \(versions.logNumber), which is gone while newer logs exist: records were lost from its end")
        }
        var replay = Memtable()
        var maxSequence = versions.lastSequence
        var stopped = false  // point-in-time recovery met damage: newer logs are dropped
        for (i, n) in logs.enumerated() {
            if n >= versions.nextFileNumber { versions.nextFileNumber = n + 1 }
            let path = FileNames.log(dir, n)
            let data = try fs.readFile(path)
            if stopped {
                counters.walDroppedAtOpen.append(WALDroppedRange(
                    file: path, offset: 0, bytes: UInt64(data.count), reason: "an older log is damaged (point-in-time recovery)"))
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
                        batchError = "batch sequence \(batch.sequence) with \(batch.count) entries passes the largest sequence number"
                    } else if let bad = batch.forEach({ _, _, _ in }) {
                        batchError = "malformed batch (entry at \(bad))"
                    } else {
                        var seq = batch.sequence
                        _ = batch.forEach { kind, key, value in
                            replay.add(sequence: seq, kind: kind, key: key, value: value)
                            seq += 1
                        }
                        if batch.count > 0 { maxSequence = max(maxSequence, batch.sequence + UInt64(batch.count) - 1) }
                    }
                }
                if let batchError {
                    guard options.walRecoveryMode == .pointInTime else {
                        throw LSMError.corruption(file: path, offset: UInt64(offset), reason: batchError)
                    }
                    counters.walDroppedAtOpen.append(WALDroppedRange(
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
                counters.walDroppedAtOpen.append(WALDroppedRange(
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

    private func startThreads() {
        threads.append(BackgroundThread(name: "lsm-flush") { [self] in flushLoop() })
        threads.append(BackgroundThread(name: "lsm-compact") { [self] in compactionLoop() })
    }

    // MARK: Close

    func close() throws {
        writeMutex.lock()
        defer { writeMutex.unlock() }
        mu.lock()
        if closed {
            mu.unlock()
            return
        }
        var flushError: Error? = nil
        if !options.walEnabled && (!mem.isEmpty || imm != nil) {
            // Without a WAL the memtable is the only copy of recent writes: flush it, and
            // report when that is impossible rather than drop them silently.
            if let e = bgError { flushError = e } else {
                do { try flushLocked() } catch { flushError = error }
            }
        }
        shuttingDown = true
        mu.broadcast()
        // A manual compaction on another thread notices `shuttingDown` and stops.
        while compactionRunning { mu.wait() }
        mu.unlock()
        for t in threads { t.join() }
        mu.lock()
        closed = true
        try? log?.close()
        versions.close()
        mu.unlock()
        lockFile?.unlock()
        if let flushError { throw flushError }
    }

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
            switchedMemtables += 1
            force = false
            mu.broadcast()
        }
    }

    /// L0 depth (files over one key) at which writes are delayed, and at which they wait.
    var slowdownDepth: Int {
        options.compactionStyle == .partitioned ? max(options.l0SlowdownTrigger, 2 * options.partitionMaxDepth) : options.l0SlowdownTrigger
    }
    var stopDepth: Int {
        options.compactionStyle == .partitioned ? max(options.l0StopTrigger, 3 * options.partitionMaxDepth) : options.l0StopTrigger
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

    // MARK: Reads

    struct ReadView {
        let sequence: UInt64
        let mem: Memtable
        let imm: Memtable?
        let version: Version
    }

    func readView(_ snapshot: Snapshot?) throws -> ReadView {
        try mu.withLock {
            if closed { throw LSMError.closed }
            return ReadView(
                sequence: snapshot?.sequence ?? versions.lastSequence, mem: mem, imm: imm, version: versions.current)
        }
    }

    func get(_ key: [UInt8], snapshot: Snapshot?) throws -> [UInt8]? {
        try withValue(key, snapshot: snapshot) { [UInt8]($0) }
    }

    /// Calls `body` with a borrowed view of the newest value of `key` visible at the read
    /// point; nil (and `body` not called) when the key has none. The view lives in the
    /// memtable's arena or in a cached block, both kept alive for the call: the lookup
    /// allocates nothing but its lookup key.
    func withValue<R>(_ key: [UInt8], snapshot: Snapshot?, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let view = try readView(snapshot)
        let lookup = InternalKey.lookup(key, view.sequence)
        return try withExtendedLifetime(view) {
            try lookup.withUnsafeBytes { lk in
                try key.withUnsafeBytes { userKey in
                    let keyHash = bloomHash(userKey)
                    switch view.mem.find(lk) {
                    case .found(let v): return try body(v)
                    case .deleted: return nil
                    case .absent: break
                    }
                    if let imm = view.imm {
                        switch imm.find(lk) {
                        case .found(let v): return try body(v)
                        case .deleted: return nil
                        case .absent: break
                        }
                    }
                    let version = view.version
                    for f in version.level0Candidates(key) {
                        if case .found(let r) = try tables.reader(for: f).get(lk, userKeyHash: keyHash, { kind, v in
                            kind == .value ? try body(v) : nil
                        }) {
                            return r
                        }
                    }
                    for level in 1..<Version.numLevels {
                        let files = version.levels[level]
                        if files.isEmpty { continue }
                        let i = version.findFile(level: level, lookup)
                        guard i < files.count, files[i].contains(userKey: key) else { continue }
                        if case .found(let r) = try tables.reader(for: files[i]).get(lk, userKeyHash: keyHash, { kind, v in
                            kind == .value ? try body(v) : nil
                        }) {
                            return r
                        }
                    }
                    return nil
                }
            }
        }
    }

    func scan(from: [UInt8]?, to: [UInt8]?, snapshot: Snapshot?) throws -> StoreIterator {
        let view = try readView(snapshot)
        var children: [any InternalIterator] = [view.mem.makeIterator()]
        if let imm = view.imm { children.append(imm.makeIterator()) }
        // Only L0 files that overlap the bounds (the partitioned style keeps many small ones).
        let hiInclusive: [UInt8]? = nil
        for f in view.version.levels[0].reversed()
        where f.overlaps(lo: from, hi: hiInclusive) && (to == nil || compareUserKey(ofInternal: f.smallest, to!) < 0) {
            children.append(try tables.reader(f.number).makeIterator())
        }
        for level in 1..<Version.numLevels where !view.version.levels[level].isEmpty {
            children.append(LevelIterator(files: view.version.levels[level], tables: tables))
        }
        var pins: [AnyObject] = [view.mem, view.version]
        if let imm = view.imm { pins.append(imm) }
        if let snapshot { pins.append(snapshot) }
        return StoreIterator(children: children, sequence: view.sequence, lower: from, upper: to, pins: pins)
    }

    func snapshot() throws -> Snapshot {
        try mu.withLock {
            if closed { throw LSMError.closed }
            return Snapshot(sequence: versions.lastSequence, list: snapshots)
        }
    }

    func stats() -> StoreStats {
        mu.withLock {
            var s = counters
            s.levels = versions.current.levels.map { StoreStats.Level(files: $0.count, bytes: $0.reduce(0) { $0 + $1.size }) }
            s.memtableBytes = mem.approximateSize
            s.immutableMemtableBytes = imm?.approximateSize ?? 0
            s.lastSequence = versions.lastSequence
            let cache = blockCache?.counters
            s.blockCacheHits = cache?.hits ?? 0
            s.blockCacheMisses = cache?.misses ?? 0
            s.liveSnapshots = snapshots.count
            return s
        }
    }

    // MARK: Flush (background)

    private func flushLoop() {
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
    private func flushImmutable() {
        guard let table = imm else { return }
        let logNumber = logFileNumber
        let liveSnapshots = snapshots.sorted
        let boundaries = options.compactionStyle == .partitioned ? versions.current.partitionBoundaries : []
        mu.unlock()
        let result = Result { () throws -> (files: [FileMetaData], reserved: [UInt64]) in
            let out = try writeLevel0Tables(table, snapshots: liveSnapshots, boundaries: boundaries)
            if !out.files.isEmpty { try fs.syncDirectory(dir) }  // the tables' directory entries
            return out
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
    ) throws -> (files: [FileMetaData], reserved: [UInt64]) {
        try writeLevel0Tables(snapshots: snapshots, boundaries: boundaries) { emit in
            let it = table.makeIterator()
            try it.seekToFirst()
            while it.isValid {
                try emit(it.keyView, it.valueView)
                try it.next()
            }
        }
    }

    /// The same for entries `produce` hands to `emit` in internal-key order (a memtable, or
    /// a sorted batch being ingested).
    func writeLevel0Tables(
        snapshots: [UInt64], boundaries: [[UInt8]],
        _ produce: (_ emit: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws -> (files: [FileMetaData], reserved: [UInt64]) {
        var files: [FileMetaData] = []
        var reserved: [UInt64] = []
        var writer: SSTableWriter? = nil
        var number: UInt64 = 0
        let lastUserKey = KeyBuffer()
        var haveLast = false
        var lastStripe = -1
        var boundary = 0

        // Cut at partition boundaries, one output is often many small tables: they are
        // written without a sync each, then made durable by one file-system sync (one
        // journal commit instead of one per table).
        let syncEach = boundaries.isEmpty
        func finish() throws {
            guard let w = writer else { return }
            writer = nil
            files.append(try w.finish(number: number, sync: syncEach))
        }
        do {
            try produce { ikey, value in
                let trailer = UInt64(littleEndian: ikey.loadUnaligned(fromByteOffset: ikey.count - 8, as: UInt64.self))
                let userKey = UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)])
                let newKey = !haveLast || compareBytes(userKey, lastUserKey.view) != 0
                if newKey {
                    var crossed = false
                    while boundary < boundaries.count,
                          boundaries[boundary].withUnsafeBytes({ compareBytes($0, userKey) }) <= 0
                    {
                        boundary += 1
                        crossed = true
                    }
                    if crossed { try finish() }
                    lastUserKey.set(userKey)
                    haveLast = true
                }
                // The newest version of a key is always kept; an older one only when some
                // snapshot sees it and not the version above it.
                let stripe = snapshotStripe(trailer >> 8, snapshots)
                let drop = !newKey && stripe == lastStripe
                lastStripe = stripe
                if !drop {
                    if writer == nil {
                        number = reserveOutput()
                        reserved.append(number)
                        writer = SSTableWriter(file: try fs.create(FileNames.table(dir, number)), options: tableOptions)
                    }
                    try writer!.add(ikey, value)
                }
            }
            try finish()
            if !syncEach && !files.isEmpty { try fs.syncFileSystem(containing: dir) }
        } catch {
            writer?.abandon()
            for n in reserved { try? fs.remove(FileNames.table(dir, n)) }
            mu.withLock { for n in reserved { pendingOutputs.remove(n) } }
            throw error
        }
        return (files, reserved)
    }

    // MARK: Obsolete files

    /// Deletes files no live version, pending output or current log needs; `atOpen` (before
    /// the background threads start) also temp files a crash left. Caller holds `mu`.
    func removeObsoleteFiles(atOpen: Bool = false) {
        guard bgError == nil else { return }  // after a failure, keep everything for inspection
        // The directory is listed and the files removed with `mu` released (as LevelDB
        // does): a file created after the listing is not in it, and a file found obsolete
        // stays so (file numbers are never reused), so only the decision needs the lock.
        mu.unlock()
        let listed = try? fs.listDirectory(dir)
        mu.lock()
        guard let names = listed, bgError == nil else { return }
        let live = versions.liveFileNumbers().union(pendingOutputs)
        var doomed: [String] = []
        for name in names {
            let keep: Bool
            switch FileNames.parse(name) {
            case .log(let n)?: keep = n >= versions.logNumber || n == logFileNumber
            case .manifest(let n)?: keep = n >= versions.manifestNumber
            case .table(let n)?:
                keep = live.contains(n)
                if !keep { tables.evict(n) }
            // A temp file may be another thread's CURRENT.tmp between creation and rename:
            // removed only while opening.
            case .temp?: keep = !atOpen
            case .current?, .lock?, nil: keep = true
            }
            if !keep { doomed.append(name) }
        }
        guard !doomed.isEmpty else { return }
        mu.unlock()
        for name in doomed { try? fs.remove(joinPath(dir, name)) }
        mu.lock()
    }

    // MARK: Threads' shared flags

    var isShuttingDown: Bool { mu.withLock { shuttingDown } }
}

// MARK: Checkpoint support

/// What the synchronous phase of a checkpoint captures: a version pinned so compaction
/// cannot delete its files, and the sequence number it holds exactly.
struct CheckpointPin {
    let version: Version
    let sequence: UInt64
    let storeID: [UInt8]
    let nextFileNumber: UInt64
    let dir: String
}

/// A checkpoint's claim on the version that will hold every write made before it: either
/// that version already, or the number of the memtable whose flush will produce it.
enum CheckpointPinTicket {
    case ready(CheckpointPin)
    case afterFlush(memtable: UInt64, sequence: UInt64)
}

extension StoreCore {
    /// The current version as a checkpoint pin. Caller holds `mu`.
    func currentPin() -> CheckpointPin {
        CheckpointPin(
            version: versions.current, sequence: versions.lastSequence, storeID: versions.storeID,
            nextFileNumber: versions.nextFileNumber, dir: dir)
    }

    /// Flushes the memtable (writers wait meanwhile, so the version holds every write up to
    /// `sequence` and nothing after) and pins the resulting version.
    func pinForCheckpoint() throws -> CheckpointPin {
        try awaitCheckpointPin(try beginCheckpointPin())
    }

    /// A checkpoint's synchronous phase without the flush: switches the memtable (writers
    /// wait only for the switch) and returns a ticket for the version its flush will install.
    /// That version holds every write up to the switch and nothing after, because flushes
    /// finish in order and the capture is taken as this memtable's flush is installed. Every
    /// ticket must be passed to `awaitCheckpointPin` or `releaseCheckpointPin`.
    func beginCheckpointPin() throws -> CheckpointPinTicket {
        writeMutex.lock()
        defer { writeMutex.unlock() }
        return try mu.withLock {
            if closed || shuttingDown { throw LSMError.closed }
            if let e = bgError { throw e }
            if mem.isEmpty && imm == nil { return .ready(currentPin()) }
            if !mem.isEmpty { try makeRoomForWrite(force: true) }
            let n = switchedMemtables
            let c = checkpointCaptures[n]
            checkpointCaptures[n] = ((c?.waiters ?? 0) + 1, c?.pin)
            return .afterFlush(memtable: n, sequence: versions.lastSequence)
        }
    }

    /// Waits for a ticket's flush and returns the pinned version.
    func awaitCheckpointPin(_ ticket: CheckpointPinTicket) throws -> CheckpointPin {
        guard case .afterFlush(let n, let sequence) = ticket else {
            if case .ready(let pin) = ticket { return pin }
            throw LSMError.invalidArgument("unreachable checkpoint ticket")
        }
        return try mu.withLock {
            defer { releaseCaptureLocked(n) }
            while flushedMemtables < n && bgError == nil && !shuttingDown && !closed { mu.wait() }
            guard let pin = checkpointCaptures[n]?.pin else {
                if let e = bgError { throw e }
                throw LSMError.closed
            }
            return CheckpointPin(version: pin.version, sequence: sequence, storeID: pin.storeID,
                                 nextFileNumber: pin.nextFileNumber, dir: pin.dir)
        }
    }

    /// Gives up a ticket without waiting (an aborted checkpoint).
    func releaseCheckpointPin(_ ticket: CheckpointPinTicket) {
        guard case .afterFlush(let n, _) = ticket else { return }
        mu.withLock { releaseCaptureLocked(n) }
    }

    private func releaseCaptureLocked(_ n: UInt64) {
        guard let c = checkpointCaptures[n] else { return }
        if c.waiters <= 1 { checkpointCaptures[n] = nil } else { checkpointCaptures[n] = (c.waiters - 1, c.pin) }
    }
}
