/// The state cache's hash index: key hash to slot number, open addressing with linear
/// probing in one array of 8-byte entries (`fingerprint << 32 | slot + 1`; 0 is empty), and
/// backward-shift deletion, so no tombstones build up however many keys come and go.
///
/// A lookup touches one cache line of the table and then the slot whose fingerprint (the
/// key hash's low 32 bits, whose low bits are also the home position) matches; the caller
/// confirms the key. `Dictionary` touched its bucket map, keys and values, and hashed
/// through SipHash; on a cache of a million keys that was the larger part of a lookup.
final class SlotIndex {
    private var table: UnsafeMutablePointer<UInt64>
    private var mask: Int
    /// Entries held.
    private(set) var count = 0

    init(capacity: Int = 16) {
        var n = 16
        while n < capacity * 2 { n *= 2 }
        table = .allocate(capacity: n)
        table.initialize(repeating: 0, count: n)
        mask = n - 1
    }

    deinit { table.deallocate() }

    @inline(__always)
    private static func fingerprint(_ hash: UInt64) -> UInt64 { hash & 0xFFFF_FFFF }

    /// The slot of the key with `hash` for which `matches(slot)` holds, or nil.
    @inline(__always)
    func find(hash: UInt64, _ matches: (Int) -> Bool) -> Int? {
        let fp = SlotIndex.fingerprint(hash)
        var i = Int(truncatingIfNeeded: fp) & mask
        while true {
            let e = table[i]
            if e == 0 { return nil }
            if e >> 32 == fp, matches(Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1) {
                return Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1
            }
            i = (i + 1) & mask
        }
    }

    /// Hints the CPU to load the table line where a lookup of `hash` starts.
    @inline(__always)
    func prefetch(hash: UInt64) {
        Prefetch.read(UnsafeRawPointer(table + (Int(truncatingIfNeeded: SlotIndex.fingerprint(hash)) & mask)))
    }

    /// The first slot whose fingerprint matches `hash` (the key not confirmed), looking at no
    /// more than 8 entries: a guess of where a lookup will land, for prefetching it.
    @inline(__always)
    func likelySlot(hash: UInt64) -> Int? {
        let fp = SlotIndex.fingerprint(hash)
        var i = Int(truncatingIfNeeded: fp) & mask
        for _ in 0..<8 {
            let e = table[i]
            if e == 0 { return nil }
            if e >> 32 == fp { return Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1 }
            i = (i + 1) & mask
        }
        return nil
    }

    /// Adds `slot` under `hash` (the key must not be in the index).
    func insert(hash: UInt64, slot: Int) {
        precondition(slot >= 0 && slot < Int(UInt32.max), "slot \(slot) out of the index's range")
        if (count + 1) * 2 > mask + 1 { grow() }
        place(SlotIndex.fingerprint(hash) << 32 | UInt64(slot + 1))
        count += 1
    }

    /// Removes `slot`, held under `hash`. Returns whether it was there.
    @discardableResult
    func remove(hash: UInt64, slot: Int) -> Bool {
        let entry = SlotIndex.fingerprint(hash) << 32 | UInt64(slot + 1)
        var i = Int(truncatingIfNeeded: SlotIndex.fingerprint(hash)) & mask
        while table[i] != entry {
            if table[i] == 0 { return false }
            i = (i + 1) & mask
        }
        // Backward shift: move later entries of the run into the hole when their home
        // position is not in the cyclic range (hole, their position].
        var hole = i
        var j = i
        while true {
            j = (j + 1) & mask
            let e = table[j]
            if e == 0 { break }
            let home = Int(truncatingIfNeeded: e >> 32) & mask
            let stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
            if !stays {
                table[hole] = e
                hole = j
            }
        }
        table[hole] = 0
        count -= 1
        return true
    }

    /// Removes every entry.
    func removeAll() {
        table.update(repeating: 0, count: mask + 1)
        count = 0
    }

    private func place(_ entry: UInt64) {
        var i = Int(truncatingIfNeeded: entry >> 32) & mask
        while table[i] != 0 { i = (i + 1) & mask }
        table[i] = entry
    }

    private func grow() {
        let old = table
        let oldSize = mask + 1
        let n = oldSize * 2
        table = .allocate(capacity: n)
        table.initialize(repeating: 0, count: n)
        mask = n - 1
        for i in 0..<oldSize where old[i] != 0 { place(old[i]) }
        old.deallocate()
    }
}
