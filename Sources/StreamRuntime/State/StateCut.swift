import Foundation
import LSMStore

/// The state cache's dirty entries at a checkpoint's barrier. Taking a cut copies no value:
/// each entry shares its slot's value array (copy-on-write), and a slot updated after the
/// barrier gets a new array on that update, leaving the cut's intact. So the subtask stops
/// only to walk its dirty list; sorting the entries, writing them to the store and switching
/// the store's memtable happen on the subtask's upload thread while records flow on.
struct StateCut: Sendable {
    struct Entry {
        var key: StateKey
        /// The value at the barrier; ignored when `present` is false (a cleared value).
        var value: [UInt8]
        var present: Bool
    }

    /// One entry per dirty key, in slot order. Keys are distinct.
    var entries: [Entry]
    /// Time the subtask spent walking its pending list to capture it.
    var captureDuration: Duration = .zero
    /// The bytes of the entries' sorted run (`SortedRun.bytes(of:)` summed), when the capture
    /// counted them (it reads each value's length as it takes the value); nil: counted here.
    var runBytes: Int? = nil

    /// The entries copied in key order into one buffer (`LSMStore.ingestSorted` takes them
    /// from there, and so does the lower bound's measurement).
    ///
    /// The entries and their values lie scattered in memory and the key order visits them
    /// at random: the copy prefetches the entry 16 ahead and the value of the entry 8 ahead
    /// (read from that entry, in cache by then), so those misses overlap, and everything
    /// after reads the run in order. `spare`, an earlier run nobody else holds any more, is
    /// taken and reused, so its pages need not be faulted in again.
    ///
    /// The copy writes through a raw cursor into the run's storage: nothing in the loop can
    /// release an entry's value, so the values are read without being retained (a retain
    /// and release per entry, on headers far apart, was about a twentieth of the upload
    /// thread).
    func sortedRun(reusing spare: inout SortedRun?) -> SortedRun {
        let order = StateKey.sortedOrder(count: entries.count) { entries[$0].key }
        let bytes = runBytes ?? entries.reduce(0) { $0 + SortedRun.bytes(of: $1) }
        var run = spare.take() ?? SortedRun()
        run.prepare(bytes: bytes)
        entries.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            let valueOffset = MemoryLayout<Entry>.offset(of: \Entry.value) ?? 0
            let n = order.count
            run.withCursor { cursor in
                for j in 0..<n {
                    if j + 16 < n { Prefetch.read(UnsafeRawPointer(base + order[j + 16])) }
                    if j + 8 < n {
                        Prefetch.arrayStorage(at: UnsafeRawPointer(base + order[j + 8]) + valueOffset, lines: 4)
                    }
                    let e = base + order[j]
                    e.pointee.key.withBytes { k in
                        if e.pointee.present {
                            e.pointee.value.withUnsafeBytes { cursor.append(key: k, value: $0) }
                        } else {
                            cursor.append(key: k, value: nil)
                        }
                    }
                }
            }
        }
        return run
    }
}

extension [StateCut.Entry] {
    /// Releases every entry's value, prefetching the value 8 entries ahead for writing. A
    /// cut's values lie at random in memory and are mostly out of the processor's caches by
    /// the time the checkpoint is acknowledged, so releasing them in a plain loop (each a
    /// reference count decrement on a header far from the last) waited for a cache miss per
    /// entry: about a tenth of the upload thread's samples in the keyed job.
    mutating func releaseValuesPrefetching() {
        withUnsafeMutableBufferPointer { entries in
            guard let base = entries.baseAddress else { return }
            let valueOffset = MemoryLayout<StateCut.Entry>.offset(of: \StateCut.Entry.value) ?? 0
            let n = entries.count
            for i in 0..<n {
                if i + 8 < n {
                    Prefetch.arrayStorage(at: UnsafeRawPointer(base + i + 8) + valueOffset, lines: 1, forWriting: true)
                }
                entries[i].value = []
            }
        }
    }
}

/// A cut's entries in key order, in one buffer: per entry `key length (UInt32) · value length
/// (UInt32; UInt32.max for a cleared value) · key · value`, lengths in native byte order (it
/// never leaves the process). Written once, then read in order.
struct SortedRun: Sendable {
    /// Bytes an entry takes besides its key and value.
    static let entryOverhead = 8
    private var storage: [UInt8] = []
    /// Bytes written.
    private(set) var byteCount = 0
    /// Entries written.
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Empties the run and makes room for `bytes` bytes of entries, keeping its storage.
    mutating func prepare(bytes: Int) {
        byteCount = 0
        count = 0
        if storage.count < bytes { storage.append(contentsOf: repeatElement(0, count: bytes - storage.count)) }
    }

    /// The bytes a cut's entry takes in a run.
    @inline(__always)
    static func bytes(of entry: StateCut.Entry) -> Int {
        entryOverhead + entry.key.count + (entry.present ? entry.value.count : 0)
    }

    /// Writes entries after those written, through a cursor over the prepared room.
    mutating func withCursor(_ body: (inout Cursor) -> Void) {
        let start = byteCount
        let (end, added) = storage.withUnsafeMutableBytes { raw -> (Int, Int) in
            var cursor = Cursor(base: raw.baseAddress, offset: start, limit: raw.count)
            body(&cursor)
            return (cursor.offset, cursor.count)
        }
        byteCount = end
        count += added
    }

    /// Appends entries to a run's prepared room through a raw pointer.
    struct Cursor {
        fileprivate let base: UnsafeMutableRawPointer?
        fileprivate var offset: Int
        fileprivate let limit: Int
        fileprivate var count = 0

        fileprivate init(base: UnsafeMutableRawPointer?, offset: Int, limit: Int) {
            self.base = base
            self.offset = offset
            self.limit = limit
        }

        /// Appends an entry (a nil value: cleared). The room must have been prepared.
        @inline(__always)
        mutating func append(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?) {
            let start = offset
            let end = start + SortedRun.entryOverhead + key.count + (value?.count ?? 0)
            precondition(end <= limit, "sorted run: no room prepared")
            guard let base else { return }
            base.storeBytes(of: UInt32(key.count), toByteOffset: start, as: UInt32.self)
            base.storeBytes(of: value.map { UInt32($0.count) } ?? UInt32.max, toByteOffset: start + 4, as: UInt32.self)
            let keyStart = start + SortedRun.entryOverhead
            if let kb = key.baseAddress { (base + keyStart).copyMemory(from: kb, byteCount: key.count) }
            if let value, let vb = value.baseAddress {
                (base + keyStart + key.count).copyMemory(from: vb, byteCount: value.count)
            }
            offset = end
            count += 1
        }
    }

    /// Calls `body` with each entry's key and value (nil for a cleared value), in order.
    func forEach(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) throws -> Void) rethrows {
        try withBytes { raw in
            var p = 0
            while p < raw.count {
                let e = SortedRun.entry(in: raw, at: p)
                try body(e.key, e.value)
                p = e.next
            }
        }
    }

    /// Calls `body` with the written bytes (the entries in the layout above).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<byteCount])) }
    }

    /// The entry at byte `offset` of a run's bytes: its key, its value (nil for a cleared
    /// one) and the offset of the next entry.
    @inline(__always)
    static func entry(
        in raw: UnsafeRawBufferPointer, at offset: Int
    ) -> (
        key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer?, next: Int
    ) {
        let k = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        let v = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
        let keyStart = offset + SortedRun.entryOverhead
        let key = UnsafeRawBufferPointer(rebasing: raw[keyStart..<(keyStart + k)])
        if v == UInt32.max { return (key, nil, keyStart + k) }
        let valueEnd = keyStart + k + Int(v)
        return (key, UnsafeRawBufferPointer(rebasing: raw[(keyStart + k)..<valueEnd]), valueEnd)
    }

    /// Writes the entries straight into tables of `store` (`LSMStore.ingestSorted`) and
    /// returns what that wrote.
    func ingest(into store: LSMStore) throws -> IngestSummary {
        if isEmpty { return IngestSummary() }
        return try store.ingestSorted { add in try forEach(add) }
    }
}

/// Orders a backend's own store accesses after the cuts it handed to the upload thread: a
/// read on a cache miss, a write of evicted entries or a scan waits until every cut taken
/// so far is in the store (and its checkpoint has switched memtables), so the store never
/// answers with a value older than the cache had, and no later write lands before an
/// earlier cut. A cut that could not be applied breaks the gate for good: the next access
/// or cut throws its error and the attempt fails over.
final class CutGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var taken = 0
    private var applied = 0
    private var failure: Error? = nil

    /// A cut was handed over.
    func took() {
        condition.lock()
        taken += 1
        condition.unlock()
    }

    /// The oldest outstanding cut is in the store.
    func didApply() {
        condition.lock()
        applied += 1
        condition.broadcast()
        condition.unlock()
    }

    /// A cut could not be applied: the store misses state the cache no longer marks dirty.
    func fail(_ error: Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    /// The error that broke the gate, if any.
    var error: Error? {
        condition.lock()
        defer { condition.unlock() }
        return failure
    }

    /// Waits until every cut taken is applied; throws the error of one that failed.
    func wait() throws {
        condition.lock()
        defer { condition.unlock() }
        while applied < taken && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Whether every cut taken is applied (no waiting); throws the error of one that failed.
    func isSettled() throws -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        return applied >= taken
    }

    /// Throws the error of a cut that failed, without waiting.
    func check() throws {
        if let e = error { throw e }
    }
}

extension WriteBatch {
    /// A put of `value` under `key`, or a delete when the value is not `present`.
    mutating func add(_ key: StateKey, value: [UInt8], present: Bool) {
        key.withBytes { k in
            if present {
                value.withUnsafeBytes { put(key: k, value: $0) }
            } else {
                delete(key: k)
            }
        }
    }
}
