import Testing

@testable import StreamRuntime

/// When write-backs fall between barriers: counted in records, at k/(n+1) of the interval
/// between the last two barriers, never before that interval is known, never below the
/// minimum of dirty entries, and never more than n per interval.
@Suite struct WriteBackScheduleTests {
    @Test func dueAtEvenFractionsOfThePredictedInterval() {
        var s = WriteBackSchedule(perInterval: 2, minimumEntries: 10)
        // No interval known before the second barrier.
        #expect(!s.isDue(processed: 1_000, dirty: 1_000))
        s.barrier(processed: 0, evictions: 0)
        #expect(!s.isDue(processed: 1_000, dirty: 1_000))
        s.barrier(processed: 300, evictions: 0)
        #expect(s.interval == 300)
        #expect(!s.isDue(processed: 399, dirty: 50))
        #expect(s.isDue(processed: 400, dirty: 50))
        // Too few dirty entries: it waits.
        #expect(!s.isDue(processed: 450, dirty: 9))
        s.began()
        #expect(!s.isDue(processed: 499, dirty: 50))
        #expect(s.isDue(processed: 500, dirty: 50))
        s.began()
        #expect(!s.isDue(processed: 10_000, dirty: 50))
        #expect(s.total == 2)
        // The next barrier, early: the interval is what it was.
        s.barrier(processed: 540, evictions: 0)
        #expect(s.interval == 240)
        #expect(!s.isDue(processed: 619, dirty: 50))
        #expect(s.isDue(processed: 620, dirty: 50))
        // Evictions in an interval: none in the next, until an interval without any.
        s.barrier(processed: 780, evictions: 3)
        #expect(!s.isDue(processed: 1_000, dirty: 500))
        s.barrier(processed: 1_020, evictions: 3)
        #expect(s.isDue(processed: 1_100, dirty: 500))
    }

    @Test func noneWhenTurnedOff() {
        var s = WriteBackSchedule(perInterval: 0, minimumEntries: 1)
        s.barrier(processed: 0, evictions: 0)
        s.barrier(processed: 100, evictions: 0)
        for p in stride(from: 100, to: 1_000, by: 7) { #expect(!s.isDue(processed: p, dirty: 1_000)) }
    }

    /// Write-backs started late (the upload thread was busy) do not pile up: each is due
    /// once its point has passed, one at a time.
    @Test func lateWriteBacksStartOneAtATime() {
        var s = WriteBackSchedule(perInterval: 3, minimumEntries: 1)
        s.barrier(processed: 0, evictions: 0)
        s.barrier(processed: 400, evictions: 0)
        var started = 0
        for p in 400...1_200 where s.isDue(processed: p, dirty: 5) {
            s.began()
            started += 1
            #expect(p == [500, 600, 700][started - 1])
        }
        #expect(started == 3)
    }
}
