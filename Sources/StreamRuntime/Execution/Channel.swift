import Foundation

/// A bounded blocking queue between two threads. `close()` wakes both sides: a closed
/// channel refuses pushes and, once drained, returns nil from `pop`.
///
/// The elements sit in a ring of `capacity` slots, and a pop empties its slot: a popped
/// element is released as soon as its taker drops it, never kept alive by the channel (an
/// element may hold a checkpoint's cut, whose values are a large share of the state).
///
/// A side is woken only when it waits, and a blocked pusher only once the channel has
/// drained to half its capacity: when the taker is the slower side, the pusher then refills
/// half the ring per wake-up instead of one slot per pop. A wake-up costs a system call on
/// each side and, between processors of a virtual machine, an interrupt; one per batch of
/// records was several percent of the keyed job's subtask time. A taker that stops taking
/// with more than half the ring queued leaves a blocked pusher waiting until it goes on,
/// which it can, since what it waits for is already queued.
final class Channel<Element>: @unchecked Sendable {
    private let lock = ChannelCondition()
    private var ring: [Element?]
    /// Slot of the oldest element.
    private var head = 0
    private var count = 0
    private var closed = false
    /// Threads blocked in `push` (full) and in `pop` (empty); never both at once.
    private var pushersWaiting = 0
    private var takersWaiting = 0
    /// A pop wakes blocked pushers once at most this many elements remain.
    private let lowWater: Int

    /// A channel holding at most `capacity` elements (at least 1).
    init(capacity: Int) {
        ring = Array(repeating: nil, count: max(1, capacity))
        lowWater = max(1, capacity) / 2
    }

    /// The most elements it holds.
    var capacity: Int { ring.count }

    /// Blocks while full; false when the channel is closed.
    @discardableResult
    func push(_ e: Element) -> Bool {
        lock.lock()
        while count >= ring.count && !closed {
            pushersWaiting += 1
            lock.wait()
            pushersWaiting -= 1
        }
        if closed {
            lock.unlock()
            return false
        }
        enqueueAndUnlock(e)
        return true
    }

    /// Blocks while empty; nil when closed and drained.
    func pop() -> Element? {
        lock.lock()
        while count == 0 && !closed {
            takersWaiting += 1
            lock.wait()
            takersWaiting -= 1
        }
        return dequeueAndUnlock()
    }

    /// Stores `e` behind the newest element and releases the lock (waking a blocked taker).
    private func enqueueAndUnlock(_ e: Element) {
        var tail = head + count
        if tail >= ring.count { tail -= ring.count }
        ring[tail] = e
        count += 1
        let wake = takersWaiting > 0
        lock.unlock()
        // A waiter counted under the lock is already waiting on the condition, which the
        // broadcast may reach after the unlock.
        if wake { lock.broadcast() }
    }

    /// Takes the oldest element, if any, and releases the lock (waking a blocked pusher).
    private func dequeueAndUnlock() -> Element? {
        if count == 0 {
            lock.unlock()
            return nil
        }
        let e = ring[head]
        ring[head] = nil
        head += 1
        if head == ring.count { head = 0 }
        count -= 1
        let wake = pushersWaiting > 0 && count <= lowWater
        lock.unlock()
        if wake { lock.broadcast() }
        return e
    }

    /// Adds `e` unless the channel is full or closed; never blocks.
    @discardableResult
    func tryPush(_ e: Element) -> Bool {
        lock.lock()
        guard count < ring.count && !closed else {
            lock.unlock()
            return false
        }
        enqueueAndUnlock(e)
        return true
    }

    /// The oldest element, or nil when empty; never blocks.
    func tryPop() -> Element? {
        lock.lock()
        return dequeueAndUnlock()
    }

    func close() {
        lock.lock()
        closed = true
        lock.broadcastAndUnlock()
    }
}

/// NSCondition with the operations the channel needs.
final class ChannelCondition {
    private let condition = NSCondition()
    func lock() { condition.lock() }
    func unlock() { condition.unlock() }
    func wait() { condition.wait() }
    func broadcastAndUnlock() {
        condition.broadcast()
        condition.unlock()
    }
    /// Wakes every waiter; the lock need not be held.
    func broadcast() { condition.broadcast() }
}
