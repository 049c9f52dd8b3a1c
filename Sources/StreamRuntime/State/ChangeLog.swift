import LSMStore

/// What a backend wrote since the last checkpoint: the batches its flushes wrote to the
/// store, kept as they are (the store has its own copy), so tracking changes costs the hot
/// thread one array append per flush and no per-entry work.
struct ChangeLog: Sendable {
    private(set) var batches: [WriteBatch] = []

    var isEmpty: Bool { batches.isEmpty }

    mutating func append(_ batch: WriteBatch) {
        if !batch.isEmpty { batches.append(batch) }
    }

    /// Appends another log's batches after this one's.
    mutating func append(_ other: ChangeLog) { batches += other.batches }

    /// Calls `body` with the last value written for each key, in key order, keys whose last
    /// write was a deletion left out. The views are valid only during the call.
    func forEachDistinctLive(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        // A cache flush writes its keys sorted and distinct, so a single batch (one flush
        // since the last checkpoint, the usual case) is walked as it is.
        if batches.count == 1 && ChangeLog.isStrictlyAscending(batches[0]) {
            batches[0].forEachOperation { k, v in if let v { body(k, v) } }
            return
        }
        // Otherwise: copy every entry into one buffer, stable-sort by key, keep each key's last.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(batches.reduce(0) { $0 + $1.byteSize })
        var entries: [(key: Range<Int>, value: Range<Int>?)] = []
        for b in batches {
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
                if let v = last.value { body(view(last.key), view(v)) }
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
