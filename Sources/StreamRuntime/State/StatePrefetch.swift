/// Prefetching a batch's state ahead of its records (DESIGN.md §19.3). A record's state
/// read is three dependent cache misses in a cache of a million keys: the index line, the
/// slot, the value. The subtask knows the keys of the records after the current one, so it
/// asks for each of them a few records ahead, one level per step: the index line of the
/// record 8 ahead, then (that line loaded) the slot of the record 4 ahead, then (that slot
/// loaded) the value of the record 2 ahead. The guess is the state the last record read
/// without a map key; a wrong guess only costs the hint.
extension KeyedStateBackend {
    /// Hints the index line of the value of the last-read state for the record with `key`
    /// in key group `group`; returns that store key's hash for the later steps (0 when no
    /// state has been read yet).
    @inline(__always)
    func prefetchIndex(key: StateKey, group: Int) -> UInt64 {
        guard lastValueState >= 0 else { return 0 }
        KeyedStateBackend.buildStoreKey(
            group: group, key: key, state: UInt8(truncatingIfNeeded: lastValueState), mapKey: nil,
            into: &prefetchScratch)
        let hash = prefetchScratch.withUnsafeBytes { StateKey($0) }.hash64
        index.prefetch(hash: hash)
        return hash
    }

    /// Hints the slot the index holds under `hash` (its line is in cache by now).
    @inline(__always)
    func prefetchSlot(hash: UInt64) {
        if hash != 0, let s = index.likelySlot(hash: hash) { prefetchSlot(s) }
    }

    /// Hints the value of the slot under `hash` (the slot is in cache by now): the header and
    /// the first lines of its bytes.
    @inline(__always)
    func prefetchValue(hash: UInt64) {
        if hash != 0, let s = index.likelySlot(hash: hash) { prefetchValue(ofSlot: s, lines: 4) }
    }
}
