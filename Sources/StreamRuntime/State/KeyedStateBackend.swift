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
    let cacheCapacity: Int

    struct Slot {
        var key: [UInt8]
        var value: [UInt8]
        /// False: the key has no value (absent in the store, or cleared).
        var present: Bool
        var dirty: Bool
        /// CLOCK's second-chance bit.
        var referenced: Bool
    }

    private var index: [StateKey: Int] = [:]
    private var slots: [Slot] = []
    private var dirtySlots: [Int] = []
    private var hand = 0

    /// Encoded current key and its key group, set before each element.
    private(set) var currentKey: [UInt8] = []
    private(set) var currentGroup = 0
    /// The slot of the last `slot(state:)` lookup for the current key (a value state's read
    /// and its update share one lookup). Valid until the next admission.
    private var memoState = -1
    private var memoSlot = 0
    /// Reused to build store keys for lookups, so a hit allocates nothing.
    private var scratch: [UInt8] = []

    /// Record the entries each flush writes (for a checkpoint's lower bound).
    var trackChanges = false
    /// Entries written since the last `takeChanges()`, in write order (a key may repeat).
    private var changes: [(key: [UInt8], value: [UInt8]?)] = []

    init(store: LSMStore, maxParallelism: Int, cacheCapacity: Int = 100_000) {
        self.store = store
        self.maxParallelism = maxParallelism
        self.cacheCapacity = max(1, cacheCapacity)
        index.reserveCapacity(min(self.cacheCapacity, 1 << 20))
        slots.reserveCapacity(min(self.cacheCapacity, 1 << 20))
    }

    var cachedEntries: Int { index.count }

    /// Sets the key of the element about to be processed; `group` is its key group when the
    /// caller already knows it.
    func setCurrentKey(_ key: [UInt8], group: Int? = nil) {
        currentKey = key
        currentGroup = group ?? KeyGroups.group(of: key, maxParallelism: maxParallelism)
        memoState = -1
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
            out.append(contentsOf: currentKey)
            out.append(contentsOf: mapKey)
        } else {
            out.append(contentsOf: currentKey)
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
        var key = scratch
        scratch = []  // keep `key` uniquely referenced while it is rebuilt
        buildStoreKey(state: state, mapKey: mapKey, into: &key)
        let s: Int
        if let found = index[StateKey(key)] {
            s = found
            slots[s].referenced = true
            scratch = key
        } else {
            let v = try store.get(key)
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
        slots[slot].value.removeAll(keepingCapacity: true)
        encode(&slots[slot].value)
        slots[slot].present = true
        markDirty(slot)
    }

    /// Removes the slot's value.
    func clearValue(at slot: Int) {
        slots[slot].value = []
        slots[slot].present = false
        markDirty(slot)
    }

    @inline(__always)
    private func markDirty(_ slot: Int) {
        if !slots[slot].dirty {
            slots[slot].dirty = true
            dirtySlots.append(slot)
        }
    }

    /// Puts a new entry in the cache, evicting one (CLOCK) when it is full.
    private func admit(_ entry: Slot) throws -> Int {
        let s: Int
        if slots.count < cacheCapacity {
            s = slots.count
            slots.append(entry)
        } else {
            s = try victim()
            index[StateKey(slots[s].key)] = nil
            slots[s] = entry
        }
        index[StateKey(entry.key)] = s
        memoState = -1
        return s
    }

    /// A slot to reuse: the first one CLOCK's hand finds not recently referenced. A dirty
    /// victim is written first, with every other dirty slot, in one batch.
    private func victim() throws -> Int {
        while true {
            let s = hand
            hand = hand + 1 == slots.count ? 0 : hand + 1
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
        guard !dirtySlots.isEmpty else { return }
        var order = dirtySlots.map { s in
            slots[s].key.withUnsafeBytes { k in (KeyedStateBackend.word(k, 0), KeyedStateBackend.word(k, 8), s) }
        }
        order.sort { a, b in
            if a.0 != b.0 { return a.0 < b.0 }
            if a.1 != b.1 { return a.1 < b.1 }
            return compareBytes(slots[a.2].key, slots[b.2].key) < 0
        }
        var bytes = 0
        for s in dirtySlots { bytes += slots[s].key.count + slots[s].value.count + 12 }
        var batch = WriteBatch(reservingCapacity: bytes)
        for (_, _, s) in order {
            if slots[s].present { batch.put(slots[s].key, slots[s].value) } else { batch.delete(slots[s].key) }
        }
        try store.write(batch)
        for (_, _, s) in order {
            slots[s].dirty = false
            if trackChanges { changes.append((slots[s].key, slots[s].present ? slots[s].value : nil)) }
        }
        dirtySlots.removeAll(keepingCapacity: true)
    }

    /// The entries written since the last call, in write order; `distinctSorted` turns them
    /// into the distinct live entries (off the hot thread).
    func takeChanges() -> [(key: [UInt8], value: [UInt8]?)] {
        defer { changes.removeAll(keepingCapacity: true) }
        return changes
    }

    /// The last value written for each key, deletions left out, sorted by key.
    static func distinctSorted(_ changes: [(key: [UInt8], value: [UInt8]?)]) -> [(key: [UInt8], value: [UInt8])] {
        // Each flush appends its entries sorted and distinct, so one flush since the last
        // checkpoint (the usual case) needs no sort.
        var ascending = true
        var i = 1
        while ascending && i < changes.count {
            ascending = compareBytes(changes[i - 1].key, changes[i].key) < 0
            i += 1
        }
        if ascending { return changes.compactMap { c in c.value.map { (c.key, $0) } } }
        // Stable sort by key, then keep the last write of each key.
        let order = changes.indices.sorted { a, b in
            let c = compareBytes(changes[a].key, changes[b].key)
            return c != 0 ? c < 0 : a < b
        }
        var out: [(key: [UInt8], value: [UInt8])] = []
        out.reserveCapacity(order.count)
        i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count, compareBytes(changes[order[j + 1]].key, changes[order[i]].key) == 0 { j += 1 }
            if let v = changes[order[j]].value { out.append((changes[order[j]].key, v)) }
            i = j + 1
        }
        return out
    }

    // MARK: Map state

    /// Entries of map state `state` for the current key, from the store after a flush.
    func mapEntries(state: UInt8) throws -> [(key: [UInt8], value: [UInt8])] {
        try flush()
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

extension KeyedStateBackend {
    /// Bytes `at..<at+8` of `k` as a big-endian number, zero-padded: comparing two keys'
    /// words in order agrees with memcmp order on those bytes.
    @inline(__always)
    static func word(_ k: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
        if k.count >= at + 8 { return UInt64(bigEndian: k.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        var w: UInt64 = 0
        var i = at
        while i < at + 8 {
            w = (w << 8) | (i < k.count ? UInt64(k[i]) : 0)
            i += 1
        }
        return w
    }
}

/// memcmp order, then length.
func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { x in
        b.withUnsafeBytes { y in
            let n = min(x.count, y.count)
            if n > 0, let xp = x.baseAddress, let yp = y.baseAddress {
                let c = memcmp(xp, yp, n)
                if c != 0 { return Int(c) }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        }
    }
}

/// A store key with a fast hash (eight bytes at a time), for the state cache: hashing an
/// `[UInt8]` feeds the hasher one byte at a time.
struct StateKey: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { raw in
            var h: UInt64 = UInt64(raw.count) &* 0x9E37_79B9_7F4A_7C15
            var i = 0
            while raw.count - i >= 8 {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
                h ^= h >> 29
                i += 8
            }
            while i < raw.count {
                h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                i += 1
            }
            hasher.combine(h)
        }
    }
}
