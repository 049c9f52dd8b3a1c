/// A thread-safe least-recently-used cache with a capacity in charge units (bytes for the
/// block cache, open files for the table cache).
final class LRUCache<Key: Hashable, Value>: @unchecked Sendable {
    private final class Node {
        let key: Key
        var value: Value
        var charge: Int
        // Unowned: the list must not form retain cycles, and every linked node is kept
        // alive by `map` (nodes are unlinked before they leave it).
        unowned(unsafe) var prev: Node?
        var next: Node?
        init(key: Key, value: Value, charge: Int) {
            self.key = key
            self.value = value
            self.charge = charge
        }
    }

    let capacity: Int
    private let lock = Monitor()
    private var map: [Key: Node] = [:]
    private var head: Node?  // most recent
    private var tail: Node?  // least recent
    private var _usage = 0
    private var _hits = 0
    private var _misses = 0

    /// Charge in use, hits and misses so far.
    var counters: (usage: Int, hits: Int, misses: Int) { lock.withLock { (_usage, _hits, _misses) } }

    init(capacity: Int) { self.capacity = capacity }

    deinit {
        // Unlink iteratively so a long list is not released by deep recursion.
        var n = head
        while let x = n {
            n = x.next
            x.next = nil
        }
    }

    func get(_ key: Key) -> Value? {
        lock.withLock {
            guard let node = map[key] else {
                _misses += 1
                return nil
            }
            _hits += 1
            moveToFront(node)
            return node.value
        }
    }

    func insert(_ key: Key, _ value: Value, charge: Int) {
        guard capacity > 0 else { return }
        lock.withLock {
            if let node = map[key] {
                _usage += charge - node.charge
                node.value = value
                node.charge = charge
                moveToFront(node)
            } else {
                let node = Node(key: key, value: value, charge: charge)
                map[key] = node
                _usage += charge
                pushFront(node)
            }
            while _usage > capacity, let victim = tail, victim !== head {
                remove(victim)
            }
        }
    }

    func erase(_ key: Key) {
        lock.withLock {
            if let node = map[key] { remove(node) }
        }
    }

    /// Removes every entry whose key satisfies `predicate`.
    func eraseAll(where predicate: (Key) -> Bool) {
        lock.withLock {
            for (k, node) in map where predicate(k) { remove(node) }
        }
    }

    var count: Int { lock.withLock { map.count } }

    private func unlink(_ node: Node) {
        node.prev?.next = node.next
        node.next?.prev = node.prev
        if head === node { head = node.next }
        if tail === node { tail = node.prev }
        node.prev = nil
        node.next = nil
    }

    private func pushFront(_ node: Node) {
        node.next = head
        head?.prev = node
        head = node
        if tail == nil { tail = node }
    }

    private func moveToFront(_ node: Node) {
        guard head !== node else { return }
        unlink(node)
        pushFront(node)
    }

    private func remove(_ node: Node) {
        unlink(node)
        map[node.key] = nil
        _usage -= node.charge
    }
}
