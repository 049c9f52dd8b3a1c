/// When a subtask writes its dirty cache entries back to its store between checkpoints
/// (`StateBackendConfig.writeBacksPerInterval`, DESIGN.md §19.5).
///
/// A barrier's cut holds every entry dirty at the barrier, and the checkpoint waits while
/// they are sorted, compressed into tables and synced. Writing most of them back before the
/// barrier leaves the cut only what changed since the last write-back. The next barrier is
/// predicted from the records between the last two (checkpoints come every so many records,
/// or every so many milliseconds at a steady rate): `n` write-backs are due at 1/(n+1),
/// 2/(n+1), ... n/(n+1) of that many records after a barrier, so the last one has as long
/// to finish before the predicted barrier as the records it covers took to arrive. Before
/// the second barrier nothing is predicted and nothing is written back.
///
/// A write-back may start only in the first half of its slot (from k/(n+1) to
/// (k+1/2)/(n+1) of the interval); one that could not start by then (the upload thread was
/// still busy with the one before, or too few entries were dirty) is skipped, not started
/// late. Started late, it ran into the barrier, whose cut then waited behind its ingest.
///
/// Nor is anything written back in an interval after one in which the cache evicted: then
/// dirty entries reach the store anyway (an eviction that meets one writes them all), and
/// while a write-back is outstanding every eviction must park its value and pass over
/// dirty slots (DESIGN.md §19.5), which in the keyed job with a 32 MiB cache cost about a
/// fifth of its throughput.
struct WriteBackSchedule {
    /// Write-backs per checkpoint interval (0: none).
    let perInterval: Int
    /// Fewest dirty entries worth a write-back (each makes tables and syncs them).
    let minimumEntries: Int
    /// Records processed when the last barrier arrived.
    private(set) var lastBarrier = 0
    /// Records between the last two barriers (0: not known yet).
    private(set) var interval = 0
    /// The slot (1...perInterval) of the last write-back started or skipped since the last
    /// barrier (0: none).
    private(set) var slot = 0
    private var barriersSeen = 0
    /// Write-backs started in all.
    private(set) var total = 0

    init(perInterval: Int, minimumEntries: Int) {
        self.perInterval = max(0, perInterval)
        self.minimumEntries = max(1, minimumEntries)
    }

    /// Whether the cache evicted in the last interval (no write-backs in this one).
    private(set) var evicting = false
    private var lastEvictions = 0

    /// A barrier arrived after `processed` records in all, with the cache's evictions so far.
    mutating func barrier(processed: Int, evictions: Int) {
        if barriersSeen > 0 { interval = processed - lastBarrier }
        barriersSeen += 1
        lastBarrier = processed
        slot = 0
        evicting = evictions != lastEvictions
        lastEvictions = evictions
    }

    /// The slot whose window is open after `processed` records (nil: none), the latest
    /// whose start has passed: slot k opens at k/(n+1) of the interval and closes half a
    /// slot later.
    private func openSlot(processed: Int) -> Int? {
        guard perInterval > 0, interval > 0 else { return nil }
        // In half slots: slot k's window is [2k, 2k + 1) half slots.
        let halves = 2 * (processed - lastBarrier) * (perInterval + 1) / interval
        let k = halves / 2
        guard k >= 1, k <= perInterval, halves % 2 == 0 else { return nil }
        return k
    }

    /// Whether a write-back is due after `processed` records with `dirty` entries dirty:
    /// the window of a slot not yet used is open.
    func isDue(processed: Int, dirty: Int) -> Bool {
        guard !evicting, dirty >= minimumEntries, let k = openSlot(processed: processed) else { return false }
        return k > slot
    }

    /// A write-back began after `processed` records (in the slot open then; the slots
    /// before it that were not used are skipped).
    mutating func began(processed: Int) {
        if let k = openSlot(processed: processed) { slot = max(slot, k) }
        total += 1
    }
}
