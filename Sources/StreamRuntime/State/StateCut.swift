import Foundation
import LSMStore

/// The state cache's dirty entries at a checkpoint's barrier. Taking a cut copies no value:
/// each entry shares its slot's value array (copy-on-write), and a slot updated after the
/// barrier gets a new array on that update, leaving the cut's intact. So the subtask stops
/// only to walk its dirty list; sorting the entries, writing them to the store and switching
/// the store's memtable happen on the subtask's upload thread while records flow on.
struct StateCut: @unchecked Sendable {
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

    /// A write batch of the entries in key order (the memtable takes an ascending run
    /// several times faster than random order, and `LSMStore.ingest` requires one).
    ///
    /// The entries and their values lie scattered in memory and the key order visits them
    /// at random; copying them into one batch in a tight loop lets those cache misses
    /// overlap, and everything after (the ingest, the lower bound) reads the batch in order.
    /// `spare`, an earlier batch nobody else holds any more, is taken, cleared and reused,
    /// so its pages need not be faulted in again.
    func sortedBatch(reusing spare: inout WriteBatch?) -> WriteBatch {
        let order = StateKey.sortedOrder(count: entries.count) { entries[$0].key }
        var bytes = 0
        for e in entries { bytes += e.key.count + e.value.count + 12 }
        var batch = spare.take() ?? WriteBatch(reservingCapacity: bytes)
        batch.clear()
        batch.reserveCapacity(bytes)
        entries.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            let valueOffset = MemoryLayout<Entry>.offset(of: \Entry.value) ?? 0
            let n = order.count
            // The entries are visited at random: prefetch the entry 16 ahead and the value of
            // the entry 8 ahead (read from that entry, in cache by then), so the misses overlap.
            for j in 0..<n {
                if j + 16 < n { Prefetch.read(UnsafeRawPointer(base + order[j + 16])) }
                if j + 8 < n {
                    Prefetch.arrayStorage(
                        at: UnsafeRawPointer(base + order[j + 8]) + valueOffset, lines: 4)
                }
                let e = base + order[j]
                batch.add(e.pointee.key, value: e.pointee.value, present: e.pointee.present)
            }
        }
        return batch
    }

    /// A write batch of the entries in key order, in a new batch.
    func sortedBatch() -> WriteBatch {
        var none: WriteBatch? = nil
        return sortedBatch(reusing: &none)
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
