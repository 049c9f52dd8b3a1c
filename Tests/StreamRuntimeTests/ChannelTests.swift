import Foundation
import LSMStore
import Testing

@testable import StreamRuntime

/// The bounded queue between the runtime's threads: order and capacity against an array
/// model, release of what it hands out, and closing. Prints its seed (`LSM_SEED` replays one).
@Suite struct ChannelTests {
    /// Random non-blocking pushes and pops, wrapping around the ring many times: the same
    /// elements in the same order as an array queue of the same capacity.
    @Test func matchesAQueueModel() {
        let seed = testSeed()
        var rng = SplitMix64(seed: seed)
        for capacity in [1, 2, 3, 8] {
            let channel = Channel<Int>(capacity: capacity)
            var model: [Int] = []
            var next = 0
            for step in 0..<20_000 {
                if rng.next() % 2 == 0 {
                    let pushed = channel.tryPush(next)
                    #expect(pushed == (model.count < capacity), "seed \(seed), capacity \(capacity), step \(step)")
                    if pushed { model.append(next) }
                    next += 1
                } else {
                    let got = channel.tryPop()
                    #expect(got == model.first, "seed \(seed), capacity \(capacity), step \(step)")
                    if !model.isEmpty { model.removeFirst() }
                }
            }
        }
    }

    final class Payload: Sendable {}

    /// A popped element is not kept alive by the channel: a checkpoint's cut handed to the
    /// upload thread holds old values of the state, and keeping every cut ever sent would
    /// keep all of them.
    @Test func releasesWhatItHandsOut() {
        let channel = Channel<Payload>(capacity: 2)
        var watched: [Weak] = []
        for _ in 0..<10 {
            do {
                let p = Payload()
                watched.append(Weak(p))
                channel.push(p)
                _ = channel.pop()
            }
        }
        #expect(watched.allSatisfy { $0.value == nil }, "the channel kept popped elements alive")
        // Still held while queued.
        var queued: Payload? = Payload()
        let w = Weak(queued!)
        channel.push(queued!)
        queued = nil
        #expect(w.value != nil)
        _ = channel.tryPop()
        #expect(w.value == nil)
    }

    struct Weak {
        weak var value: Payload?
        init(_ v: Payload) { value = v }
    }

    /// A closed channel refuses pushes and hands out what it holds, then nil; a taker blocked
    /// on an empty channel wakes with nil.
    @Test func closeDrainsThenEnds() {
        let channel = Channel<Int>(capacity: 4)
        channel.push(1)
        channel.push(2)
        channel.close()
        #expect(!channel.push(3))
        #expect(!channel.tryPush(3))
        #expect(channel.pop() == 1)
        #expect(channel.pop() == 2)
        #expect(channel.pop() == nil)
        let empty = Channel<Int>(capacity: 1)
        let done = DispatchSemaphore(value: 0)
        let result = TestingBox<Int?>(0)
        Thread {
            result.value = empty.pop()
            done.signal()
        }.start()
        usleep(10_000)
        empty.close()
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(result.value == nil)
    }

    /// A pusher blocked on a full channel goes on once a taker makes room, in order, at
    /// every capacity (the pusher and the taker each the faster side in turn).
    @Test func blockedPusherResumes() {
        for capacity in [1, 2, 3, 8] {
            let channel = Channel<Int>(capacity: capacity)
            let done = DispatchSemaphore(value: 0)
            Thread {
                for i in 0..<2_000 {
                    if i % 500 == 250 { usleep(2_000) }
                    channel.push(i)
                }
                done.signal()
            }.start()
            var got: [Int] = []
            for i in 0..<2_000 {
                if i % 500 == 0 { usleep(2_000) }
                got.append(channel.pop() ?? -1)
            }
            #expect(done.wait(timeout: .now() + 5) == .success, "capacity \(capacity)")
            #expect(got == Array(0..<2_000), "capacity \(capacity)")
        }
    }

    /// A blocked pusher is woken once the channel has drained to half its capacity, not at
    /// every pop; then it refills it.
    @Test func blockedPusherWakesAtHalf() {
        let channel = Channel<Int>(capacity: 4)
        for i in 0..<4 { channel.push(i) }
        let pushed = DispatchSemaphore(value: 0)
        Thread {
            channel.push(4)
            pushed.signal()
        }.start()
        usleep(20_000)
        #expect(channel.pop() == 0)
        // Three queued, more than half: the pusher stays blocked.
        #expect(pushed.wait(timeout: .now() + .milliseconds(50)) == .timedOut)
        #expect(channel.pop() == 1)
        #expect(pushed.wait(timeout: .now() + 5) == .success)
        #expect([channel.pop(), channel.pop(), channel.pop()] == [2, 3, 4])
    }
}

/// A value shared with a test's helper thread (read after the thread is joined).
final class TestingBox<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
