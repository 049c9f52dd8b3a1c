import LSMStore

/// What a backend wrote since the last checkpoint: the batches its flushes wrote to the
/// store and the sorted runs of the cuts ingested at barriers, kept as they are (the store
/// has its own copy), so tracking changes costs one array append per flush or cut and no
/// per-entry work.
struct ChangeLog: Sendable {
    /// One write: a flush's batch, or a cut's sorted run with the stored size of the data
    /// blocks its ingest wrote (nil: not known).
    enum Part {
        case batch(WriteBatch)
        case run(SortedRun, stored: UInt64?)

        /// About the bytes of its keys and values.
        var byteSize: Int {
            switch self {
            case .batch(let b): return b.byteSize
            case .run(let r, _): return r.byteCount
            }
        }

        /// Calls `body` for each operation in write order (a nil value for a deletion).
        func forEachOperation(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void) {
            switch self {
            case .batch(let b): b.forEachOperation(body)
            case .run(let r, _): r.forEach(body)
            }
        }
    }

    private(set) var parts: [Part] = []

    var isEmpty: Bool { parts.isEmpty }

    mutating func append(_ batch: WriteBatch) {
        if !batch.isEmpty { parts.append(.batch(batch)) }
    }

    /// Appends a cut's sorted run, with the stored size of the data blocks its ingest wrote
    /// when known.
    mutating func append(_ run: SortedRun, stored: UInt64? = nil) {
        if !run.isEmpty { parts.append(.run(run, stored: stored)) }
    }

    /// Appends another log's parts after this one's.
    mutating func append(_ other: ChangeLog) { parts += other.parts }

    /// Calls `body` with the last value written for each key, in key order, keys whose last
    /// write was a deletion left out. The views are valid only during the call.
    func forEachDistinctLive(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        forEachDistinct { k, v in if let v { body(k, v) } }
    }

    /// Whether the log holds exactly one cut's run and nothing else.
    var isSingleRun: Bool {
        guard parts.count == 1, case .run = parts[0] else { return false }
        return true
    }

    /// Calls `body` with the last write of each key, in key order: its value, or nil when
    /// the last write was a deletion. The views are valid only during the call.
    func forEachDistinct(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void) {
        // A cut's run is sorted and distinct, and a cache flush writes its keys sorted and
        // distinct, so a single part (one cut or flush since the last checkpoint, the usual
        // case) is walked as it is.
        if parts.count == 1 {
            switch parts[0] {
            case .run(let r, _):
                r.forEach(body)
                return
            case .batch(let b) where ChangeLog.isStrictlyAscending(b):
                b.forEachOperation(body)
                return
            case .batch: break
            }
        }
        // Only cuts' runs (write-backs and a barrier's cut): each is sorted and distinct, so
        // they are merged as they are.
        let runs = parts.compactMap { p -> SortedRun? in
            if case .run(let r, _) = p { return r }
            return nil
        }
        if runs.count == parts.count {
            ChangeLog.mergeRuns(runs[...], []) { _, key, value, latest in if latest { body(key, value) } }
            return
        }
        // Otherwise: copy every entry into one buffer, stable-sort by key, keep each key's last.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(parts.reduce(0) { $0 + $1.byteSize })
        var entries: [(key: Range<Int>, value: Range<Int>?)] = []
        for b in parts {
            b.forEachOperation { k, v in
                let ks = bytes.count
                bytes.append(contentsOf: k)
                var vr: Range<Int>? = nil
                if let v {
                    vr = bytes.count..<(bytes.count + v.count)
                    bytes.append(contentsOf: v)
                }
                entries.append((ks..<(ks + k.count), vr))
            }
        }
        bytes.withUnsafeBytes { raw in
            func view(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: raw[r]) }
            let order = entries.indices.sorted { a, b in
                let c = KeyOrder.compare(view(entries[a].key), view(entries[b].key))
                return c != 0 ? c < 0 : a < b
            }
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count,
                    KeyOrder.compare(view(entries[order[j + 1]].key), view(entries[order[i]].key)) == 0
                { j += 1 }
                let last = entries[order[j]]
                body(view(last.key), last.value.map(view))
                i = j + 1
            }
        }
    }

    /// The stored size of the changed entries, each key once, estimated from what the runs'
    /// ingests wrote, when the log holds only runs whose stored sizes are known (a barrier's
    /// cut and the write-backs before it); nil otherwise. A single run's is exact. With
    /// several, a key written again after a write-back is counted once: each run's stored
    /// size is scaled by the share of its bytes that no later run supersedes (DESIGN.md §19.6).
    func estimatedStoredSize() -> UInt64? {
        var runs: [SortedRun] = []
        var stored: [UInt64] = []
        for p in parts {
            guard case .run(let r, let s) = p, let s else { return nil }
            runs.append(r)
            stored.append(s)
        }
        if runs.count == 1 { return stored[0] }
        var superseded = [Int](repeating: 0, count: runs.count)
        ChangeLog.mergeRuns(runs[...], []) { r, key, value, latest in
            if !latest { superseded[r] += SortedRun.entryOverhead + key.count + (value?.count ?? 0) }
        }
        var total: UInt64 = 0
        for (r, run) in runs.enumerated() where run.byteCount > 0 {
            let kept = UInt64(run.byteCount - superseded[r])
            total += (stored[r] * kept + UInt64(run.byteCount) / 2) / UInt64(run.byteCount)
        }
        return total
    }

    /// Walks the union of sorted, distinct runs in key order, calling `body` with every
    /// entry of every run (its run's index) and whether it is the latest run's entry for its
    /// key (the one that counts). Each step takes the least key among the runs' next entries
    /// (a linear scan: a checkpoint interval has a few runs).
    private static func mergeRuns(
        _ runs: ArraySlice<SortedRun>, _ bytes: [UnsafeRawBufferPointer],
        _ body: (_ run: Int, _ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?, _ latest: Bool) -> Void
    ) {
        if let first = runs.first {
            first.withBytes { mergeRuns(runs.dropFirst(), bytes + [$0], body) }
            return
        }
        var offsets = [Int](repeating: 0, count: bytes.count)
        while true {
            var least: UnsafeRawBufferPointer? = nil
            var winner = -1
            for r in bytes.indices where offsets[r] < bytes[r].count {
                let e = SortedRun.entry(in: bytes[r], at: offsets[r])
                // Later runs win ties: `<=` moves the winner to the latest run with the key.
                if let l = least {
                    let c = KeyOrder.compare(e.key, l)
                    if c > 0 { continue }
                    if c < 0 { least = e.key }
                } else {
                    least = e.key
                }
                winner = r
            }
            guard let key = least else { return }
            // Every run whose next key is this one moves past it.
            for r in bytes.indices where offsets[r] < bytes[r].count {
                let e = SortedRun.entry(in: bytes[r], at: offsets[r])
                guard r == winner || KeyOrder.compare(e.key, key) == 0 else { continue }
                body(r, e.key, e.value, r == winner)
                offsets[r] = e.next
            }
        }
    }

    private static func isStrictlyAscending(_ batch: WriteBatch) -> Bool {
        var previous: [UInt8] = []
        var first = true
        var ascending = true
        batch.forEachOperation { k, _ in
            guard ascending else { return }
            if !first { ascending = previous.withUnsafeBytes { KeyOrder.compare($0, k) } < 0 }
            first = false
            previous.removeAll(keepingCapacity: true)
            previous.append(contentsOf: k)
        }
        return ascending
    }
}
