/// Iterates the files of one level >= 1 (sorted, non-overlapping) as one sequence, opening
/// each table only when reached.
final class LevelIterator: InternalIterator {
    private let files: [FileMetaData]
    private let tables: TableCache
    private let fillCache: Bool
    private var index = 0
    @exclusivity(unchecked) private var iter = HeldObject<TableIterator>()

    init(files: [FileMetaData], tables: TableCache, fillCache: Bool = true) {
        self.files = files
        self.tables = tables
        self.fillCache = fillCache
    }

    var isValid: Bool { iter.with { $0.isValid } ?? false }
    var keyView: UnsafeRawBufferPointer { iter.with { $0.keyView } ?? UnsafeRawBufferPointer(start: nil, count: 0) }
    var valueView: UnsafeRawBufferPointer { iter.with { $0.valueView } ?? UnsafeRawBufferPointer(start: nil, count: 0) }

    private func open(_ i: Int) throws {
        index = i
        iter.set(i < files.count ? try tables.reader(files[i].number).makeIterator(fillCache: fillCache) : nil)
    }

    private func skipExhausted() throws {
        while iter.with({ !$0.isValid }) == true {
            try open(index + 1)
            try iter.with { try $0.seekToFirst() }
        }
    }

    func seekToFirst() throws {
        try open(0)
        try iter.with { try $0.seekToFirst() }
        try skipExhausted()
    }

    func seek(_ target: [UInt8]) throws {
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareInternal(files[mid].largest, target) < 0 { lo = mid + 1 } else { hi = mid }
        }
        try open(lo)
        try iter.with { try $0.seek(target) }
        try skipExhausted()
    }

    func next() throws {
        try iter.with { try $0.next() }
        try skipExhausted()
    }
}

/// Iterates the store's live keys in ascending order, as of one sequence number, within
/// optional bounds. It holds the memtables and the version it started from, so it sees a
/// consistent state however the store changes meanwhile.
///
/// Obtain one from `LSMStore.scan(from:to:snapshot:)`.
public final class StoreIterator {
    private let inner: MergingIterator
    private let sequence: UInt64
    private var lower: [UInt8]?
    private let upper: [UInt8]?
    private var started = false
    private var skipUserKey: [UInt8]? = nil
    private var done = false
    // Keep what the iterator reads alive.
    private let pins: [AnyObject]

    init(children: [any InternalIterator], sequence: UInt64, lower: [UInt8]?, upper: [UInt8]?, pins: [AnyObject]) {
        self.inner = MergingIterator(children)
        self.sequence = sequence
        self.lower = lower
        self.upper = upper
        self.pins = pins
    }

    /// Positions the iterator so that `next()` returns the first key >= `key` (and within bounds).
    public func seek(_ key: [UInt8]) throws {
        var target = key
        if let lower, compareBytes(lower, key) > 0 { target = lower }
        try inner.seek(InternalKey.lookup(target, maxSequenceNumber))
        started = true
        skipUserKey = nil
        done = false
    }

    /// The next key and value, or nil when the range is exhausted.
    public func next() throws -> (key: [UInt8], value: [UInt8])? {
        if done { return nil }
        if !started {
            if let lower {
                try seek(lower)
            } else {
                try inner.seekToFirst()
                started = true
            }
        }
        while inner.isValid {
            let ikey = inner.keyView
            let trailer = InternalKey.trailer(ikey)
            if trailer >> 8 > sequence {
                try inner.next()
                continue
            }
            let userKeyView = UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)])
            if let skip = skipUserKey, skip.withUnsafeBytes({ compareBytes($0, userKeyView) }) == 0 {
                try inner.next()
                continue
            }
            let userKey = [UInt8](userKeyView)
            skipUserKey = userKey
            if let upper, compareBytes(userKey, upper) >= 0 {
                done = true
                return nil
            }
            if UInt8(truncatingIfNeeded: trailer) == ValueKind.deletion.rawValue {
                try inner.next()
                continue
            }
            let value = inner.value
            try inner.next()
            return (userKey, value)
        }
        done = true
        return nil
    }

    /// Collects up to `limit` remaining entries.
    public func collect(limit: Int = .max) throws -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        while out.count < limit, let e = try next() { out.append(e) }
        return out
    }
}
