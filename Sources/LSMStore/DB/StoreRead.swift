/// The read path: point reads, scans, snapshots and statistics over a consistent view.
extension StoreCore {
    // MARK: Reads

    struct ReadView {
        let sequence: UInt64
        let mem: Memtable
        let imm: Memtable?
        let version: Version
    }

    /// The view a read uses: the published one (`publishView`), at `snapshot`'s sequence
    /// when given. A view published after a snapshot was taken holds everything up to its
    /// sequence (tables only gain data, and a memtable's data moves to a table in the same
    /// step that drops the memtable).
    func readView(_ snapshot: Snapshot?) throws -> ReadView {
        guard let view = publishedView() else { throw LSMError.closed }
        guard let snapshot else { return view }
        return ReadView(sequence: snapshot.sequence, mem: view.mem, imm: view.imm, version: view.version)
    }

    func get(_ key: [UInt8], snapshot: Snapshot?) throws -> [UInt8]? {
        try withValue(key, snapshot: snapshot) { [UInt8]($0) }
    }

    /// Calls `body` with a borrowed view of the newest value of `key` visible at the read
    /// point; nil (and `body` not called) when the key has none. The view lives in the
    /// memtable's arena or in a cached block, both kept alive for the call: the lookup
    /// allocates nothing (its lookup key is built in a temporary buffer, on the stack for
    /// keys of up to about a kilobyte).
    func withValue<R>(_ key: [UInt8], snapshot: Snapshot?, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        let view = try readView(snapshot)
        return try withExtendedLifetime(view) {
            try key.withUnsafeBytes { userKey in
                try InternalKey.withLookup(userKey, view.sequence) { lk in
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
                    var result: R? = nil
                    var settled = false
                    // The candidates come unmanaged: the version (kept by `view`) holds them.
                    try version.forEachLevel0Candidate(
                        key, prefetch: { tables.prefetchFilter(of: $0, userKeyHash: keyHash) }
                    ) { f in
                        let found = try tables.withReader(for: f) { reader in
                            try reader.get(lk, userKeyHash: keyHash) { kind, v in kind == .value ? try body(v) : nil }
                        }
                        if case .found(let r) = found {
                            result = r
                            settled = true
                        }
                        return settled
                    }
                    if settled { return result }
                    for level in 1..<Version.numLevels {
                        let files = version.levels[level]
                        if files.isEmpty { continue }
                        let i = version.findFile(level: level, lk)
                        guard i < files.count, files[i].contains(userKey: key) else { continue }
                        if case .found(let r) = try tables.reader(for: files[i]).get(
                            lk, userKeyHash: keyHash,
                            { kind, v in
                                kind == .value ? try body(v) : nil
                            })
                        {
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
            while installingFilteredCompaction { mu.wait() }
            snapshotsTaken += 1
            return Snapshot(sequence: versions.lastSequence, list: snapshots)
        }
    }

    func stats() -> StoreStats {
        mu.withLock {
            var s = counters
            s.levels = versions.current.levels.map {
                StoreStats.Level(files: $0.count, bytes: $0.reduce(0) { $0 + $1.size })
            }
            s.memtableBytes = mem.approximateSize
            s.immutableMemtableBytes = imm?.approximateSize ?? 0
            s.lastSequence = versions.lastSequence
            let cache = blockCache?.counters
            s.blockCacheHits = cache?.hits ?? 0
            s.blockCacheMisses = cache?.misses ?? 0
            s.blockCacheAdmissionsDeclined = blockCache?.declined ?? 0
            s.liveSnapshots = snapshots.count
            return s
        }
    }
}
