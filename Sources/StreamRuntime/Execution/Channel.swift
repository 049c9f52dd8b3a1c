import Foundation

/// A bounded blocking queue between two threads. `close()` wakes both sides: a closed
/// channel refuses pushes and, once drained, returns nil from `pop`.
///
/// The elements sit in a ring of `capacity` slots, and a pop empties its slot: a popped
/// element is released as soon as its taker drops it, never kept alive by the channel (an
/// element may hold a checkpoint's cut, whose values are a large share of the state).
final class Channel<Element>: @unchecked Sendable {
    private let lock = ChannelCondition()
    private var ring: [Element?]
    /// Slot of the oldest element.
    private var head = 0
    private var count = 0
    private var closed = false

    /// A channel holding at most `capacity` elements (at least 1).
    init(capacity: Int) { ring = Array(repeating: nil, count: max(1, capacity)) }

    /// The most elements it holds.
    var capacity: Int { ring.count }

    /// Blocks while full; false when the channel is closed.
    @discardableResult
    func push(_ e: Element) -> Bool {
        lock.lock()
        while count >= ring.count && !closed { lock.wait() }
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
        while count == 0 && !closed { lock.wait() }
        return dequeueAndUnlock()
    }

    /// Stores `e` behind the newest element and releases the lock (waking a blocked taker).
    private func enqueueAndUnlock(_ e: Element) {
        var tail = head + count
        if tail >= ring.count { tail -= ring.count }
        ring[tail] = e
        count += 1
        lock.broadcastAndUnlock()
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
        lock.broadcastAndUnlock()
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

/// NSCondition with the two operations the channel needs.
final class ChannelCondition {
    private let condition = NSCondition()
    func lock() { condition.lock() }
    func unlock() { condition.unlock() }
    func wait() { condition.wait() }
    func broadcastAndUnlock() {
        condition.broadcast()
        condition.unlock()
    }
}
