import LSMStore

/// Checkpoint cuts of the keyed state backend: the barrier's O(1) cut of the dirty slots and
/// the copy-on-write capture that completes it between records (DESIGN.md §19.5).
extension KeyedStateBackend {
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
        cutRunBytes = 0
        // An entry array handed back by the upload thread, if one is back already; room for
        // the cut is made by its first capture slice, not in this pause (without a handed-back
        // array it is an allocation).
        cutEntries = recycledCuts.tryPop() ?? []
        cutEntries.removeAll(keepingCapacity: true)
        cutInProgress = true
    }

    /// Captures up to `budget` more pending slots; when the cut is complete, hands it to
    /// `onCutComplete` and returns true.
    @discardableResult
    func continueCut(budget: Int) -> Bool {
        guard cutInProgress else { return false }
        let started = ContinuousClock.now
        let end = pendingSlots.count - pendingPosition > budget ? pendingPosition + budget : pendingSlots.count
        // The pending slots lie at random in the cache: each step prefetches the slot 16
        // ahead and the value header (whose reference count the capture bumps) of the slot
        // 8 ahead, read from that slot, which is in cache by then.
        let count = pendingSlots.count
        if pendingPosition == 0 { cutEntries.reserveCapacity(count) }
        while pendingPosition < end {
            let p = pendingPosition
            if p + 16 < count { prefetchSlot(pendingSlots[p + 16]) }
            if p + 8 < count { prefetchValue(ofSlot: pendingSlots[p + 8], lines: 1, forWriting: true) }
            captureIfPending(pendingSlots[p])
            pendingPosition += 1
        }
        cutCapture += ContinuousClock.now - started
        guard pendingPosition == pendingSlots.count else { return false }
        cutInProgress = false
        pendingSlots.removeAll(keepingCapacity: true)
        let cut = StateCut(entries: cutEntries, captureDuration: cutCapture, runBytes: cutRunBytes)
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

    /// Hints the CPU to load slot `s` (both lines it may span).
    @inline(__always)
    func prefetchSlot(_ s: Int) {
        slots.withUnsafeBufferPointer { all in
            guard s < all.count, let base = all.baseAddress else { return }
            let p = UnsafeRawPointer(base + s)
            Prefetch.write(p)
            Prefetch.write(p + (MemoryLayout<Slot>.size - 1))
        }
    }

    /// Hints the CPU to load the first `lines` cache lines of slot `s`'s value (its header
    /// first, for writing when its reference count is about to change).
    @inline(__always)
    func prefetchValue(ofSlot s: Int, lines: Int, forWriting: Bool = false) {
        slots.withUnsafeBufferPointer { all in
            guard s < all.count, let base = all.baseAddress else { return }
            Prefetch.arrayStorage(
                at: UnsafeRawPointer(base + s) + Self.slotValueOffset, lines: lines, forWriting: forWriting)
        }
    }

    /// Where a slot keeps its value's array reference.
    static let slotValueOffset = MemoryLayout<Slot>.offset(of: \Slot.value) ?? 0

    /// Captures the slot's value into the cut in progress if the cut still needs it (dirty
    /// since before the barrier, not captured yet), and marks it clean.
    @inline(__always)
    func captureIfPending(_ s: Int) {
        if slots[s].dirty && slots[s].dirtyEpoch < cutEpoch {
            let entry = StateCut.Entry(key: slots[s].key, value: slots[s].value, present: slots[s].present)
            cutRunBytes += SortedRun.bytes(of: entry)
            cutEntries.append(entry)
            slots[s].dirty = false
        }
    }

    /// The batches written since the last call, in write order; `ChangeLog.forEachDistinct`
    /// turns them into each key's last write (off the hot thread).
    func takeChanges() -> ChangeLog {
        defer { changes = ChangeLog() }
        return changes
    }

    /// The last value written for each key, deletions left out, sorted by key, as arrays
    /// (for tests; the job feeds `forEachDistinct` straight to a `DataBlockSizer`).
    static func distinctSorted(_ changes: ChangeLog) -> [(key: [UInt8], value: [UInt8])] {
        var out: [(key: [UInt8], value: [UInt8])] = []
        changes.forEachDistinctLive { k, v in out.append(([UInt8](k), [UInt8](v))) }
        return out
    }
}
