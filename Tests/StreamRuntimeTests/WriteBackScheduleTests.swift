import LSMStore
import Testing

@testable import StreamRuntime

/// When write-backs fall between barriers: counted in records, slot k opening at k/(n+1) of
/// the interval between the last two barriers and closing half a slot later, never before
/// that interval is known, never below the minimum of dirty entries, never more than n per
/// interval, and never after a slot's window has closed. Prints its seed (`LSM_SEED`
/// replays one).
@Suite struct WriteBackScheduleTests {
    @Test func dueInTheFirstHalfOfEachSlot() {
        var s = WriteBackSchedule(perInterval: 2, minimumEntries: 10)
        // No interval known before the second barrier.
        #expect(!s.isDue(processed: 1_000, dirty: 1_000))
        s.barrier(processed: 0, evictions: 0)
        #expect(!s.isDue(processed: 1_000, dirty: 1_000))
        s.barrier(processed: 300, evictions: 0)
        #expect(s.interval == 300)
        // Slot 1: records 400..<450 after this barrier; slot 2: 500..<550.
        #expect(!s.isDue(processed: 399, dirty: 50))
        #expect(s.isDue(processed: 400, dirty: 50))
        #expect(s.isDue(processed: 449, dirty: 50))
        #expect(!s.isDue(processed: 450, dirty: 50))
        // Too few dirty entries: it waits, within the window.
        #expect(!s.isDue(processed: 420, dirty: 9))
        s.began(processed: 420)
        #expect(!s.isDue(processed: 430, dirty: 50))
        #expect(!s.isDue(processed: 499, dirty: 50))
        #expect(s.isDue(processed: 500, dirty: 50))
        s.began(processed: 500)
        #expect(!s.isDue(processed: 510, dirty: 50))
        #expect(!s.isDue(processed: 10_000, dirty: 50))
        #expect(s.total == 2)
        // The next barrier, early: the interval is what it was.
        s.barrier(processed: 540, evictions: 0)
        #expect(s.interval == 240)
        #expect(!s.isDue(processed: 619, dirty: 50))
        #expect(s.isDue(processed: 620, dirty: 50))
        // Evictions in an interval: none in the next, until an interval without any.
        s.barrier(processed: 780, evictions: 3)
        #expect(!s.isDue(processed: 860, dirty: 500))
        s.barrier(processed: 1_020, evictions: 3)
        #expect(s.isDue(processed: 1_100, dirty: 500))
    }

    @Test func noneWhenTurnedOff() {
        var s = WriteBackSchedule(perInterval: 0, minimumEntries: 1)
        s.barrier(processed: 0, evictions: 0)
        s.barrier(processed: 100, evictions: 0)
        for p in stride(from: 100, to: 1_000, by: 7) { #expect(!s.isDue(processed: p, dirty: 1_000)) }
    }

    /// A write-back that could not start in its slot's window (the upload thread was busy)
    /// is skipped: it does not start late, close to the barrier, and the next slot's
    /// write-back starts on time.
    @Test func aMissedSlotIsSkipped() {
        var s = WriteBackSchedule(perInterval: 3, minimumEntries: 1)
        s.barrier(processed: 0, evictions: 0)
        s.barrier(processed: 400, evictions: 0)
        // Slots: 500..<550, 600..<650, 700..<750.
        #expect(s.isDue(processed: 500, dirty: 5))
        s.began(processed: 500)
        // Busy until 660: slot 2's window has closed.
        #expect(!s.isDue(processed: 660, dirty: 5))
        #expect(s.isDue(processed: 700, dirty: 5))
        s.began(processed: 700)
        #expect(!s.isDue(processed: 720, dirty: 5))
        #expect(!s.isDue(processed: 799, dirty: 5))
        #expect(s.total == 2)
        // Missed slot 1 entirely, started in slot 2: slot 3 is still due.
        s.barrier(processed: 800, evictions: 0)
        #expect(s.isDue(processed: 1_010, dirty: 5))
        s.began(processed: 1_010)
        #expect(!s.isDue(processed: 1_040, dirty: 5))
        #expect(s.isDue(processed: 1_100, dirty: 5))
    }

    /// Random barrier spacing, write-backs that keep the caller busy for a random number of
    /// records, and random dirty counts, against the rule stated directly: every write-back
    /// starts inside an open window of a slot not used before in its interval, at most
    /// `perInterval` start per interval, and none before the second barrier or in an
    /// interval after one with evictions.
    @Test func matchesTheWindowsStatedDirectly() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let n = Int(rng.next() % 5)
            let minimum = 1 + Int(rng.next() % 20)
            var s = WriteBackSchedule(perInterval: n, minimumEntries: minimum)
            var processed = 0
            var barriers: [Int] = []
            var evictions = 0
            var evictionsAt: [Int] = [0]
            var busyUntil = 0
            var usedSlots: Set<Int> = []
            var started = 0
            var nextBarrier = 50 + Int(rng.next() % 400)
            while barriers.count < 12 {
                processed += 1 + Int(rng.next() % 7)
                if processed >= nextBarrier {
                    if rng.next() % 5 == 0 { evictions += 1 }
                    s.barrier(processed: processed, evictions: evictions)
                    barriers.append(processed)
                    evictionsAt.append(evictions)
                    usedSlots = []
                    started = 0
                    nextBarrier = processed + 50 + Int(rng.next() % 400)
                    continue
                }
                let dirty = Int(rng.next() % 30)
                let due = s.isDue(processed: processed, dirty: dirty)
                // The rule, stated directly: the slot whose window is open, if any.
                var window: Int? = nil
                if barriers.count >= 2, dirty >= minimum, n > 0,
                    evictionsAt[evictionsAt.count - 1] == evictionsAt[evictionsAt.count - 2]
                {
                    let interval = barriers[barriers.count - 1] - barriers[barriers.count - 2]
                    let since = processed - barriers[barriers.count - 1]
                    window = (1...n).last {
                        since * (n + 1) >= $0 * interval && 2 * since * (n + 1) < (2 * $0 + 1) * interval
                    }
                }
                let expected = window.map { k in usedSlots.allSatisfy { $0 < k } } ?? false
                #expect(due == expected, "seed \(seed), n \(n), processed \(processed), barriers \(barriers)")
                if due && processed >= busyUntil, let k = window {
                    usedSlots.insert(k)
                    s.began(processed: processed)
                    started += 1
                    #expect(started <= n, "seed \(seed)")
                    busyUntil = processed + Int(rng.next() % 200)
                }
            }
        }
    }
}
