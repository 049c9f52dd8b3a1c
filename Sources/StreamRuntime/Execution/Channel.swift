import Foundation

/// A bounded blocking queue between two threads. `close()` wakes both sides: a closed
/// channel refuses pushes and, once drained, returns nil from `pop`.
final class Channel<Element>: @unchecked Sendable {
    private let lock = ChannelCondition()
    private var items: [Element] = []
    private var head = 0
    private let capacity: Int
    private var closed = false

    init(capacity: Int) { self.capacity = capacity }

    private var count: Int { items.count - head }

    /// Blocks while full; false when the channel is closed.
    @discardableResult
    func push(_ e: Element) -> Bool {
        lock.lock()
        while count >= capacity && !closed { lock.wait() }
        if closed {
            lock.unlock()
            return false
        }
        items.append(e)
        lock.broadcastAndUnlock()
        return true
    }

    /// Blocks while empty; nil when closed and drained.
    func pop() -> Element? {
        lock.lock()
        while count == 0 && !closed { lock.wait() }
        return dequeueAndUnlock()
    }

    /// Takes the oldest element, if any, and releases the lock (waking a blocked pusher).
    private func dequeueAndUnlock() -> Element? {
        if count == 0 {
            lock.unlock()
            return nil
        }
        let e = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        lock.broadcastAndUnlock()
        return e
    }

    /// Adds `e` unless the channel is full or closed; never blocks.
    @discardableResult
    func tryPush(_ e: Element) -> Bool {
        lock.lock()
        guard count < capacity && !closed else {
            lock.unlock()
            return false
        }
        items.append(e)
        lock.broadcastAndUnlock()
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
