import LSMStore

/// What a backend wrote since the last checkpoint: the batches its flushes wrote to the
/// store and the sorted runs of the cuts ingested at barriers, kept as they are (the store
/// has its own copy), so tracking changes costs one array append per flush or cut and no
/// per-entry work.
struct ChangeLog: Sendable {
    /// One write: a flush's batch, or a cut's sorted run.
    enum Part {
        case batch(WriteBatch)
        case run(SortedRun)

        /// About the bytes of its keys and values.
        var byteSize: Int {
            switch self {
            case .batch(let b): return b.byteSize
            case .run(let r): return r.byteCount
            }
        }

        /// Calls `body` for each operation in write order (a nil value for a deletion).
        func forEachOperation(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void) {
            switch self {
            case .batch(let b): b.forEachOperation(body)
            case .run(let r): r.forEach(body)
            }
        }
    }

    private(set) var parts: [Part] = []

    var isEmpty: Bool { parts.isEmpty }

    mutating func append(_ batch: WriteBatch) {
        if !batch.isEmpty { parts.append(.batch(batch)) }
    }

    /// Appends a cut's sorted run.
    mutating func append(_ run: SortedRun) {
        if !run.isEmpty { parts.append(.run(run)) }
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
            case .run(let r):
                r.forEach(body)
                return
            case .batch(let b) where ChangeLog.isStrictlyAscending(b):
                b.forEachOperation(body)
                return
            case .batch: break
            }
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
