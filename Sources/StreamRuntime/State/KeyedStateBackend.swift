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
///
/// `@usableFromInline`, as are the few methods the states call, so the states' accessors
/// can be `@inlinable` and specialized for the value type in the job's module.
///
/// A backend belongs to its subtask's thread (the upload thread only receives cuts and
/// hands their arrays back through a channel). The fields touched on every record are
/// `@exclusivity(unchecked)`: Swift checks a class's stored properties for overlapping
/// access at run time, and profiles of the keyed job put those checks at several percent
/// of the subtask's time. The compile-time checks still apply, and no method of the
/// backend holds an access to one of these fields across a call that touches it again.
@usableFromInline
final class KeyedStateBackend {
    let store: LSMStore
    let maxParallelism: Int
    /// Most entries the cache holds, and most bytes (see `charge`).
    let cacheCapacity: Int
    let cacheByteCapacity: Int
    @exclusivity(unchecked) private(set) var cacheBytes = 0

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
    static func charge(keyCount: Int, valueCount: Int) -> Int {
        (keyCount > StateKey.inlineCapacity ? keyCount : 0) + valueCount + 100
    }

    let index = SlotIndex()
    /// Values evicted while a cut was outstanding (taken or not yet written to the store), by
    /// key: until the cuts are in the store, a miss finds them here. A key is never both here
    /// and in the cache.
    private var parked: [StateKey: (value: [UInt8], present: Bool)] = [:]
    @exclusivity(unchecked) var slots: [Slot] = []
    @exclusivity(unchecked) var dirtySlots: [Int] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    @exclusivity(unchecked) private var hand = 0
    /// Entries evicted so far.
    @exclusivity(unchecked) private(set) var evictions = 0

    /// Encoded current key and its key group, set before each element.
    @exclusivity(unchecked) private(set) var currentKey = StateKey()
    @exclusivity(unchecked) private(set) var currentGroup = 0
    /// The slot of the last `slot(state:)` lookup for the current key (a value state's read
    /// and its update share one lookup). Valid until the next admission.
    @exclusivity(unchecked) private var memoState = -1
    @exclusivity(unchecked) private var memoSlot = 0
    /// Reused to build store keys for lookups, so a hit allocates nothing.
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    /// The state last read without a map key: prefetching ahead guesses the next records
    /// read the same one (-1: none yet).
    @exclusivity(unchecked) var lastValueState = -1
    /// The store key being built for a prefetch.
    @exclusivity(unchecked) var prefetchScratch: [UInt8] = []

    // MARK: Declarations and savepoints

    /// The job's declared states (what savepoints list), the ids declared in this subtask,
    /// and, in an attempt started from a savepoint, its states not yet declared here.
    var declaredStates = DeclaredStates()
    var declaredHere = Set<UInt8>()
    var restoredSavepoint: RestoredSavepointStates? = nil

    // MARK: Time to live

    /// The job's states with a time to live, the source of processing time, and where this
    /// subtask publishes the time for its compaction filter.
    var ttlStates = TtlStates()
    var ttlTime = TtlTimeProvider.system
    var ttlClock = TtlClock()
    /// Publish every time read to `ttlClock` (a job without checkpoints).
    var ttlPublishesEveryRead = false
    /// Position of the record being processed (from 1 over the whole job).
    @exclusivity(unchecked) var currentRecord = 0
    @exclusivity(unchecked) private var timeRecord = -1
    @exclusivity(unchecked) private var time: Int64 = 0

    /// The processing time for the record being processed, read once per record.
    func ttlNow() -> Int64 {
        if timeRecord != currentRecord {
            time = ttlTime.now(currentRecord)
            timeRecord = currentRecord
            if ttlPublishesEveryRead { ttlClock.publish(time) }
        }
        return time
    }

    /// Orders this backend's store accesses after the checkpoint cuts it handed over.
    let gate = CutGate()
    /// Receives each cut once it is complete (the job hands it to the upload thread); set
    /// before the first `beginCut`.
    var onCutComplete: ((StateCut) -> Void)? = nil
    /// Incremented at each barrier.
    @exclusivity(unchecked) var cutEpoch = 0
    /// The cut being taken: the slots dirty at its barrier, how far the walk has come, and
    /// what it has captured.
    @exclusivity(unchecked) var pendingSlots: [Int] = []
    @exclusivity(unchecked) var pendingPosition = 0
    @exclusivity(unchecked) var cutEntries: [StateCut.Entry] = []
    var cutCapture: Duration = .zero
    /// The bytes of the cut in progress as a sorted run (counted as each entry is captured,
    /// when its value's header is in cache anyway).
    var cutRunBytes = 0
    @exclusivity(unchecked) var cutInProgress = false
    /// Cut entry arrays the upload thread has applied and emptied, handed back for reuse.
    let recycledCuts = Channel<[StateCut.Entry]>(capacity: 2)

    /// Record the entries each flush writes (for a checkpoint's lower bound).
    var trackChanges = false
    /// Entries written since the last `takeChanges()`, in write order (a key may repeat).
    var changes = ChangeLog()

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
        KeyedStateBackend.buildStoreKey(group: currentGroup, key: currentKey, state: state, mapKey: mapKey, into: &out)
    }

    /// Builds the store key of `state` (and `mapKey`) for `key` in key group `group` into
    /// `out` (the layout above).
    static func buildStoreKey(group: Int, key: StateKey, state: UInt8, mapKey: [UInt8]?, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        out.append(UInt8(truncatingIfNeeded: group >> 8))
        out.append(UInt8(truncatingIfNeeded: group))
        out.append(state)
        if let mapKey {
            var n = key.count
            while n >= 0x80 {
                out.append(UInt8(n & 0x7f) | 0x80)
                n >>= 7
            }
            out.append(UInt8(n))
            key.withBytes { out.append(contentsOf: $0) }
            out.append(contentsOf: mapKey)
        } else {
            key.withBytes { out.append(contentsOf: $0) }
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
    @usableFromInline
    func slot(state: UInt8, mapKey: [UInt8]? = nil) throws -> Int {
        if mapKey == nil, memoState == Int(state) { return memoSlot }
        buildStoreKey(state: state, mapKey: mapKey, into: &scratch)
        let key = scratch.withUnsafeBytes { StateKey($0) }
        let hash = key.hash64
        let s: Int
        if let found = index.find(hash: hash, { slots[$0].key == key }) {
            s = found
            slots[s].referenced = true
        } else {
            var v: [UInt8]? = nil
            if !cacheMirrorsStore {
                // A miss completes the cut in progress (cheap: it copies no value), so the
                // upload thread can start on it; nothing waits for the store to take it.
                if cutInProgress { finishCut() }
                // A value evicted since a cut that is not in the store yet is parked; any other
                // key's newest value is in the store already, so nothing waits.
                if try cutsOutstanding(), let p = parked.removeValue(forKey: key) {
                    v = p.present ? p.value : nil
                } else {
                    v = try store.get(scratch)
                }
            }
            s = try admit(
                Slot(key: key, value: v ?? [], present: v != nil, dirty: false, referenced: true), hash: hash)
        }
        if mapKey == nil {
            memoState = Int(state)
            memoSlot = s
            lastValueState = Int(state)
        } else {
            memoState = -1
        }
        return s
    }

    /// Calls `body` with the slot's encoded value, or nil when it has none.
    @inline(__always) @usableFromInline
    func withValue<R>(at slot: Int, _ body: (ArraySlice<UInt8>?) throws -> R) rethrows -> R {
        slots[slot].present ? try body(slots[slot].value[...]) : try body(nil)
    }

    /// Re-encodes the slot's value in place.
    @inline(__always) @usableFromInline
    func setValue(at slot: Int, _ encode: (inout [UInt8]) -> Void) {
        if cutInProgress { captureIfPending(slot) }
        let before = slots[slot].value.count
        slots[slot].value.removeAll(keepingCapacity: true)
        encode(&slots[slot].value)
        cacheBytes += slots[slot].value.count - before
        slots[slot].present = true
        markDirty(slot)
    }

    /// Sets the access time in the header of the slot's value (a state with a time to live;
    /// the value is present and at least a header long).
    func setTimestamp(at slot: Int, _ timestamp: Int64) {
        if cutInProgress { captureIfPending(slot) }
        TtlValue.setTimestamp(timestamp, in: &slots[slot].value)
        markDirty(slot)
    }

    /// Removes the slot's value.
    @usableFromInline
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
    private func admit(_ entry: Slot, hash: UInt64) throws -> Int {
        let charge = KeyedStateBackend.charge(keyCount: entry.key.count, valueCount: entry.value.count)
        while index.count > 0 && (index.count >= cacheCapacity || cacheBytes + charge > cacheByteCapacity) {
            // While a cut is outstanding, an evicted (clean) value may exist nowhere else yet:
            // it is parked until the cuts are in the store.
            let outstanding = try cutsOutstanding()
            let v = try victim(passingOverDirty: outstanding)
            if outstanding { parked[slots[v].key] = (slots[v].value, slots[v].present) }
            cacheMirrorsStore = false
            index.remove(hash: slots[v].key.hash64, slot: v)
            cacheBytes -= KeyedStateBackend.charge(keyCount: slots[v].key.count, valueCount: slots[v].value.count)
            slots[v] = Slot(key: StateKey(), value: [], present: false, dirty: false, referenced: false, live: false)
            freeSlots.append(v)
            evictions += 1
        }
        let s: Int
        if let f = freeSlots.popLast() {
            s = f
            slots[s] = entry
        } else {
            s = slots.count
            slots.append(entry)
        }
        index.insert(hash: hash, slot: s)
        cacheBytes += charge
        memoState = -1
        return s
    }

    /// A slot to evict: the first live one CLOCK's hand finds not recently referenced. A
    /// dirty victim is written first, with every other dirty slot, in one batch. With
    /// `passingOverDirty` (a cut is outstanding: the write would wait for it) dirty slots are
    /// passed over, unless a whole turn of the clock finds no clean one.
    private func victim(passingOverDirty: Bool) throws -> Int {
        var skipDirty = passingOverDirty
        var skipped = 0
        while true {
            let s = hand
            hand = hand + 1 >= slots.count ? 0 : hand + 1
            if !slots[s].live { continue }
            if slots[s].referenced {
                slots[s].referenced = false
                continue
            }
            if slots[s].dirty {
                if skipDirty {
                    skipped += 1
                    if skipped > slots.count { skipDirty = false }
                    continue
                }
                try flush()
            }
            return s
        }
    }

    /// Whether a cut is being taken or has not reached the store yet. When none is, parked
    /// values are no longer needed (the store holds them) and are dropped; when too many are
    /// parked, the cuts are waited for.
    private func cutsOutstanding() throws -> Bool {
        if !cutInProgress, try gate.isSettled() {
            if !parked.isEmpty { parked.removeAll(keepingCapacity: true) }
            return false
        }
        if parked.count >= max(1024, cacheCapacity / 4) {
            if cutInProgress { finishCut() }
            try gate.wait()
            parked.removeAll(keepingCapacity: true)
            return false
        }
        return true
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
