import Glibc
import LSMStore

/// One subtask's keyed state: its own LSMStore, with a write-back cache in front of it.
///
/// Store keys are `key group (2 bytes, big-endian) · state id (1) · key`, plus
/// `· map key` for map state with the key length-prefixed, so key-group ranges are
/// contiguous in the store.
///
/// The cache is a table of slots (key, encoded value, flags) found through a hash index, with
/// CLOCK eviction. Updates stay in their slot until `flush()` writes every dirty slot in one
/// batch: always before a checkpoint's synchronous phase, so a checkpoint sees every update
/// made before its barrier, and whenever eviction meets a dirty slot. A value is re-encoded
/// in place in its slot, so the hot path (a hit) allocates nothing here.
final class KeyedStateBackend {
    let store: LSMStore
    let maxParallelism: Int
    /// Most entries the cache holds, and most bytes (see `charge`).
    let cacheCapacity: Int
    let cacheByteCapacity: Int
    private(set) var cacheBytes = 0

    struct Slot {
        var key: StateKey
        var value: [UInt8]
        /// False: the key has no value (absent in the store, or cleared).
        var present: Bool
        var dirty: Bool
        /// CLOCK's second-chance bit.
        var referenced: Bool
        /// False for a slot on the free list.
        var live = true
        /// The cut epoch in which the slot became dirty: a dirty slot of an earlier epoch
        /// holds a value a cut in progress has yet to capture.
        var dirtyEpoch = 0
    }

    /// What a slot costs in memory: its value bytes, a long key's bytes, and the slot, its
    /// value array's header and its index entry (roughly 100 bytes).
    @inline(__always)
    static func charge(keyCount: Int, valueCount: Int) -> Int { (keyCount > StateKey.inlineCapacity ? keyCount : 0) + valueCount + 100 }

    private var index: [StateKey: Int] = [:]
    private var slots: [Slot] = []
    private var dirtySlots: [Int] = []
    private var freeSlots: [Int] = []
    private var hand = 0

    /// Encoded current key and its key group, set before each element.
    private(set) var currentKey = StateKey()
    private(set) var currentGroup = 0
    /// The slot of the last `slot(state:)` lookup for the current key (a value state's read
    /// and its update share one lookup). Valid until the next admission.
    private var memoState = -1
    private var memoSlot = 0
    /// Reused to build store keys for lookups, so a hit allocates nothing.
    private var scratch: [UInt8] = []

    /// Orders this backend's store accesses after the checkpoint cuts it handed over.
    let gate = CutGate()
    /// Receives each cut once it is complete (the job hands it to the upload thread); set
    /// before the first `beginCut`.
    var onCutComplete: ((StateCut) -> Void)? = nil
    /// Incremented at each barrier.
    private var cutEpoch = 0
    /// The cut being taken: the slots dirty at its barrier, how far the walk has come, and
    /// what it has captured.
    private var pendingSlots: [Int] = []
    private var pendingPosition = 0
    private var cutEntries: [StateCut.Entry] = []
    private var cutCapture: Duration = .zero
    private(set) var cutInProgress = false
    /// Cut entry arrays the upload thread has applied and emptied, handed back for reuse.
    let recycledCuts = Channel<[StateCut.Entry]>(capacity: 2)

    /// Record the entries each flush writes (for a checkpoint's lower bound).
    var trackChanges = false
    /// Entries written since the last `takeChanges()`, in write order (a key may repeat).
    private var changes = ChangeLog()

    /// True while the cache holds every key the store holds: the store was empty when the
    /// backend was made (a fresh job, not a restore) and nothing has been evicted since. A
    /// miss then means "absent", without a store lookup. The first eviction ends it for good.
    private(set) var cacheMirrorsStore: Bool

    init(store: LSMStore, maxParallelism: Int, cacheCapacity: Int = 100_000, cacheByteCapacity: Int = .max) {
        self.store = store
        self.maxParallelism = maxParallelism
        self.cacheCapacity = max(1, cacheCapacity)
        self.cacheByteCapacity = max(1, cacheByteCapacity)
        cacheMirrorsStore = KeyedStateBackend.isEmpty(store)
    }

    /// Whether the store holds no entry; false when that cannot be read (then keys are looked
    /// up as usual).
    private static func isEmpty(_ store: LSMStore) -> Bool {
        do {
            return try store.scan().next() == nil
        } catch {
            return false
        }
    }

    var cachedEntries: Int { index.count }

    /// Sets the key of the element about to be processed; `group` is its key group when the
    /// caller already knows it.
    func setCurrentKey(_ key: StateKey, group: Int) {
        currentKey = key
        currentGroup = group
        memoState = -1
    }

    /// Sets the current key from its encoding, computing its key group.
    func setCurrentKey(_ key: [UInt8]) {
        setCurrentKey(StateKey(key), group: KeyGroups.group(of: key, maxParallelism: maxParallelism))
    }

    /// Builds the store key of `state` (and `mapKey`) for the current key into `out`.
    private func buildStoreKey(state: UInt8, mapKey: [UInt8]?, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(UInt8(truncatingIfNeeded: currentGroup >> 8))
        out.append(UInt8(truncatingIfNeeded: currentGroup))
        out.append(state)
        if let mapKey {
            var n = currentKey.count
            while n >= 0x80 { out.append(UInt8(n & 0x7f) | 0x80); n >>= 7 }
            out.append(UInt8(n))
            currentKey.withBytes { out.append(contentsOf: $0) }
            out.append(contentsOf: mapKey)
        } else {
            currentKey.withBytes { out.append(contentsOf: $0) }
        }
    }

    func storeKey(state: UInt8, mapKey: [UInt8]? = nil) -> [UInt8] {
        var k: [UInt8] = []
        k.reserveCapacity(3 + currentKey.count + (mapKey.map { $0.count + 5 } ?? 0))
        buildStoreKey(state: state, mapKey: mapKey, into: &k)
        return k
    }

    // MARK: Slots

    /// The slot of the current key's value for `state` (and `mapKey`), loading it from the
    /// store on a miss. The index stays valid until the next call with another key or state.
    func slot(state: UInt8, mapKey: [UInt8]? = nil) throws -> Int {
        if mapKey == nil, memoState == Int(state) { return memoSlot }
        buildStoreKey(state: state, mapKey: mapKey, into: &scratch)
        let key = scratch.withUnsafeBytes { StateKey($0) }
        let s: Int
        if let found = index[key] {
            s = found
            slots[s].referenced = true
        } else {
            var v: [UInt8]? = nil
            if !cacheMirrorsStore {
                // A slot captured by the cut in progress may have been evicted clean since:
                // its value is then only in the cut, so the cut goes to the store first.
                if cutInProgress { finishCut() }
                try gate.wait()
                v = try store.get(scratch)
            }
            s = try admit(Slot(key: key, value: v ?? [], present: v != nil, dirty: false, referenced: true))
        }
        if mapKey == nil {
            memoState = Int(state)
            memoSlot = s
        } else {
            memoState = -1
        }
        return s
    }

    /// Calls `body` with the slot's encoded value, or nil when it has none.
    @inline(__always)
    func withValue<R>(at slot: Int, _ body: (ArraySlice<UInt8>?) throws -> R) rethrows -> R {
        slots[slot].present ? try body(slots[slot].value[...]) : try body(nil)
    }

    /// Re-encodes the slot's value in place.
    @inline(__always)
    func setValue(at slot: Int, _ encode: (inout [UInt8]) -> Void) {
        if cutInProgress { captureIfPending(slot) }
        let before = slots[slot].value.count
        slots[slot].value.removeAll(keepingCapacity: true)
        encode(&slots[slot].value)
        cacheBytes += slots[slot].value.count - before
        slots[slot].present = true
        markDirty(slot)
    }

    /// Removes the slot's value.
    func clearValue(at slot: Int) {
        if cutInProgress { captureIfPending(slot) }
        cacheBytes -= slots[slot].value.count
        slots[slot].value = []
        slots[slot].present = false
        markDirty(slot)
    }

    @inline(__always)
    private func markDirty(_ slot: Int) {
        if !slots[slot].dirty {
            slots[slot].dirty = true
            slots[slot].dirtyEpoch = cutEpoch
            dirtySlots.append(slot)
        }
    }

    /// Puts a new entry in the cache, evicting (CLOCK) while it is over either capacity.
    private func admit(_ entry: Slot) throws -> Int {
        let charge = KeyedStateBackend.charge(keyCount: entry.key.count, valueCount: entry.value.count)
        while index.count > 0 && (index.count >= cacheCapacity || cacheBytes + charge > cacheByteCapacity) {
            let v = try victim()
            cacheMirrorsStore = false
            index[slots[v].key] = nil
            cacheBytes -= KeyedStateBackend.charge(keyCount: slots[v].key.count, valueCount: slots[v].value.count)
            slots[v] = Slot(key: StateKey(), value: [], present: false, dirty: false, referenced: false, live: false)
            freeSlots.append(v)
        }
        let s: Int
        if let f = freeSlots.popLast() {
            s = f
            slots[s] = entry
        } else {
            s = slots.count
            slots.append(entry)
        }
        index[entry.key] = s
        cacheBytes += charge
        memoState = -1
        return s
    }

    /// A slot to evict: the first live one CLOCK's hand finds not recently referenced. A
    /// dirty victim is written first, with every other dirty slot, in one batch.
    private func victim() throws -> Int {
        while true {
            let s = hand
            hand = hand + 1 >= slots.count ? 0 : hand + 1
            if !slots[s].live { continue }
            if slots[s].referenced {
                slots[s].referenced = false
                continue
            }
            if slots[s].dirty { try flush() }
            return s
        }
    }

    /// Writes every dirty slot to the store in one batch, in key order (the memtable takes
    /// an ascending run several times faster than random order).
    func flush() throws {
        // A cut in progress is completed and handed over first: the store must not get a
        // write from after its barrier before it.
        if cutInProgress { finishCut() }
        guard !dirtySlots.isEmpty else { return }
        let order = StateKey.sortedOrder(count: dirtySlots.count) { slots[dirtySlots[$0]].key }.map { dirtySlots[$0] }
        var bytes = 0
        for s in dirtySlots { bytes += slots[s].key.count + slots[s].value.count + 12 }
        var batch = WriteBatch(reservingCapacity: bytes)
        for s in order { batch.add(slots[s].key, value: slots[s].value, present: slots[s].present) }
        try gate.wait()
        try store.write(batch)
        for s in order { slots[s].dirty = false }
        if trackChanges { changes.append(batch) }
        dirtySlots.removeAll(keepingCapacity: true)
    }

    // MARK: Checkpoint cuts

    /// A checkpoint's barrier: starts a cut of every entry dirty now, in O(1) (the dirty list
    /// becomes the cut's pending list and the epoch advances). Nothing is copied here: a
    /// pending slot's value is captured (shared, copy-on-write) when `continueCut` reaches
    /// it or when it is about to change, whichever comes first, so the subtask never stops
    /// for the whole walk. The store is not touched; the caller writes the cut from another
    /// thread and reports to `gate`.
    func beginCut() throws {
        try gate.check()
        if cutInProgress { finishCut() }
        cutEpoch += 1
        swap(&pendingSlots, &dirtySlots)
        dirtySlots.removeAll(keepingCapacity: true)
        pendingPosition = 0
        cutCapture = .zero
        cutEntries = recycledCuts.tryPop() ?? []
        cutEntries.removeAll(keepingCapacity: true)
        cutEntries.reserveCapacity(pendingSlots.count)
        cutInProgress = true
    }

    /// Captures up to `budget` more pending slots; when the cut is complete, hands it to
    /// `onCutComplete` and returns true.
    @discardableResult
    func continueCut(budget: Int) -> Bool {
        guard cutInProgress else { return false }
        let started = ContinuousClock.now
        let end = pendingSlots.count - pendingPosition > budget ? pendingPosition + budget : pendingSlots.count
        while pendingPosition < end {
            captureIfPending(pendingSlots[pendingPosition])
            pendingPosition += 1
        }
        cutCapture += ContinuousClock.now - started
        guard pendingPosition == pendingSlots.count else { return false }
        cutInProgress = false
        pendingSlots.removeAll(keepingCapacity: true)
        let cut = StateCut(entries: cutEntries, captureDuration: cutCapture)
        cutEntries = []
        gate.took()
        onCutComplete?(cut)
        return true
    }

    /// Completes the cut in progress at once.
    func finishCut() { continueCut(budget: .max) }

    /// A whole cut at once (begin and finish), returned instead of handed over.
    func cut() throws -> StateCut {
        let handler = onCutComplete
        defer { onCutComplete = handler }
        var taken: StateCut? = nil
        onCutComplete = { taken = $0 }
        try beginCut()
        finishCut()
        return taken ?? StateCut(entries: [])
    }

    /// Captures the slot's value into the cut in progress if the cut still needs it (dirty
    /// since before the barrier, not captured yet), and marks it clean.
    @inline(__always)
    private func captureIfPending(_ s: Int) {
        if slots[s].dirty && slots[s].dirtyEpoch < cutEpoch {
            cutEntries.append(StateCut.Entry(key: slots[s].key, value: slots[s].value, present: slots[s].present))
            slots[s].dirty = false
        }
    }

    /// The batches written since the last call, in write order; `forEachDistinctLive` turns
    /// them into the distinct live entries (off the hot thread).
    func takeChanges() -> ChangeLog {
        defer { changes = ChangeLog() }
        return changes
    }

    /// The last value written for each key, deletions left out, sorted by key, as arrays
    /// (for tests; the job feeds `forEachDistinctLive` straight to a `DataBlockSizer`).
    static func distinctSorted(_ changes: ChangeLog) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        changes.forEachDistinctLive { k, v in out.append(([UInt8](k), [UInt8](v))) }
        return out
    }

    // MARK: Map state

    /// Entries of map state `state` for the current key, from the store after a flush.
    func mapEntries(state: UInt8) throws -> [(key: [UInt8], value: [UInt8])] {
        try flush()
        try gate.wait()
        let prefix = storeKey(state: state, mapKey: [])
        var upper = prefix
        // The smallest key after every key with this prefix.
        while let last = upper.last, last == 0xff { upper.removeLast() }
        if !upper.isEmpty { upper[upper.count - 1] += 1 }
        return try store.scan(from: prefix, to: upper.isEmpty ? nil : upper).collect().map {
            (Array($0.key[prefix.count...]), $0.value)
        }
    }
}

/// What a backend wrote since the last checkpoint: the batches its flushes wrote to the
/// store, kept as they are (the store has its own copy), so tracking changes costs the hot
/// thread one array append per flush and no per-entry work.
struct ChangeLog: Sendable {
    private(set) var batches: [WriteBatch] = []

    var isEmpty: Bool { batches.isEmpty }

    mutating func append(_ batch: WriteBatch) {
        if !batch.isEmpty { batches.append(batch) }
    }

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
                let c = compareRaw(view(entries[a].key), view(entries[b].key))
                return c != 0 ? c < 0 : a < b
            }
            var i = 0
            while i < order.count {
                var j = i
                while j + 1 < order.count, compareRaw(view(entries[order[j + 1]].key), view(entries[order[i]].key)) == 0 { j += 1 }
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
            if !first { ascending = previous.withUnsafeBytes { compareRaw($0, k) } < 0 }
            first = false
            previous.removeAll(keepingCapacity: true)
            previous.append(contentsOf: k)
        }
        return ascending
    }
}

/// memcmp order, then length.
func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { x in b.withUnsafeBytes { y in compareRaw(x, y) } }
}

/// A store key as the state cache holds it: keys of up to 16 bytes (every value-state key
/// with an 8-byte key) live inline in two words, so a lookup allocates nothing and touches
/// no second object; longer keys also keep their bytes in an array. Hashes fast (two
/// multiplies), unlike `[UInt8]`, which feeds the hasher one byte at a time.
struct StateKey: Hashable {
    static let inlineCapacity = 16
    /// The first 16 bytes, zero-padded, as loaded from memory (native byte order).
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private(set) var count = 0
    /// Every byte, for keys longer than 16 bytes.
    private var long: [UInt8]? = nil

    init() {}

    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        withUnsafeMutableBytes(of: &w0) { w in
            let n = min(8, bytes.count)
            if n > 0 { w.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: n) }
        }
        withUnsafeMutableBytes(of: &w1) { w in
            let n = min(8, max(0, bytes.count - 8))
            if n > 0 { w.baseAddress!.copyMemory(from: bytes.baseAddress! + 8, byteCount: n) }
        }
        if bytes.count > StateKey.inlineCapacity { long = [UInt8](bytes) }
    }

    init(_ bytes: [UInt8]) { self = bytes.withUnsafeBytes { StateKey($0) } }

    /// Calls `body` with the key's bytes.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let long { return try long.withUnsafeBytes(body) }
        var words = (w0, w1)
        let n = count
        return try withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// A copy of the key's bytes.
    var bytes: [UInt8] { long ?? withBytes { [UInt8]($0) } }

    /// The first and second 8 bytes as big-endian numbers: comparing them in order agrees
    /// with memcmp order on those bytes (zero padding aside, which `compare` settles).
    var order0: UInt64 { UInt64(bigEndian: w0) }
    var order1: UInt64 { UInt64(bigEndian: w1) }

    /// Positions 0..<count in the order of their keys (`key(i)` is read once per position):
    /// sorted by the first 16 bytes as two integers with a plain comparison, then each run
    /// that ties there (keys longer than 16 bytes) by the whole key.
    static func sortedOrder(count: Int, key: (Int) -> StateKey) -> [Int] {
        var items = [SortItem]()
        items.reserveCapacity(count)
        var keys: [StateKey] = []
        keys.reserveCapacity(count)
        for i in 0..<count {
            let k = key(i)
            keys.append(k)
            items.append(SortItem(o0: k.order0, o1: k.order1, index: i))
        }
        items.sort()
        var start = 0
        while start < items.count {
            var end = start + 1
            while end < items.count && items[end].o0 == items[start].o0 && items[end].o1 == items[start].o1 { end += 1 }
            if end - start > 1 {
                items[start..<end].sort { StateKey.compare(keys[$0.index], keys[$1.index]) < 0 }
            }
            start = end
        }
        return items.map(\.index)
    }

    struct SortItem: Comparable {
        var o0: UInt64
        var o1: UInt64
        var index: Int
        static func < (a: SortItem, b: SortItem) -> Bool {
            a.o0 != b.o0 ? a.o0 < b.o0 : (a.o1 != b.o1 ? a.o1 < b.o1 : a.index < b.index)
        }
    }

    /// memcmp order, then length.
    static func compare(_ a: StateKey, _ b: StateKey) -> Int {
        if a.order0 != b.order0 { return a.order0 < b.order0 ? -1 : 1 }
        if a.order1 != b.order1 { return a.order1 < b.order1 ? -1 : 1 }
        if a.long == nil && b.long == nil { return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1) }
        return a.withBytes { x in b.withBytes { y in compareRaw(x, y) } }
    }

    static func == (a: StateKey, b: StateKey) -> Bool {
        a.count == b.count && a.w0 == b.w0 && a.w1 == b.w1 && a.long == b.long
    }

    func hash(into hasher: inout Hasher) {
        var h = (w0 &* 0x9E37_79B9_7F4A_7C15) ^ (w1 &* 0xff51_afd7_ed55_8ccd) ^ UInt64(count)
        if let long {
            long.withUnsafeBytes { raw in
                var i = StateKey.inlineCapacity
                while i < raw.count {
                    h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                    i += 1
                }
            }
        }
        hasher.combine(h ^ (h >> 29))
    }
}

/// memcmp order, then length.
func compareRaw(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Int {
    let n = min(x.count, y.count)
    if n > 0, let xp = x.baseAddress, let yp = y.baseAddress {
        // The first 8 bytes as one big-endian word: cheaper than a memcmp call.
        if n >= 8 {
            let a = UInt64(bigEndian: xp.loadUnaligned(as: UInt64.self))
            let b = UInt64(bigEndian: yp.loadUnaligned(as: UInt64.self))
            if a != b { return a < b ? -1 : 1 }
            if n == 8 { return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1) }
        }
        let c = memcmp(xp, yp, n)
        if c != 0 { return Int(c) }
    }
    return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
}
