/// An iterator over internal keys in internal-key order, the building block of reads,
/// flushes and compactions. `key` and `value` may only be read while `isValid`.
protocol InternalIterator: AnyObject {
    var isValid: Bool { get }
    func seekToFirst() throws
    /// Positions at the first entry whose internal key is >= `target`.
    func seek(_ target: [UInt8]) throws
    func next() throws
    var key: [UInt8] { get }
    var value: [UInt8] { get }
}

/// Merges several sorted iterators into one sorted stream (ties broken by child order, so
/// children listed first win; internal keys are unique so ties do not occur in practice).
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    private var current: Int = -1
    /// Min-heap of child indices ordered by their current key.
    private var heap: [Int] = []

    init(_ children: [any InternalIterator]) { self.children = children }

    var isValid: Bool { current >= 0 }
    var key: [UInt8] { children[current].key }
    var value: [UInt8] { children[current].value }

    private func less(_ a: Int, _ b: Int) -> Bool {
        let c = compareInternal(children[a].key, children[b].key)
        return c < 0 || (c == 0 && a < b)
    }

    private func siftDown(_ start: Int) {
        var i = start
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && less(heap[l], heap[m]) { m = l }
            if r < n && less(heap[r], heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }

    private func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let p = (i - 1) / 2
            if less(heap[i], heap[p]) { heap.swapAt(i, p); i = p } else { return }
        }
    }

    private func rebuild() {
        heap = children.indices.filter { children[$0].isValid }
        if heap.count > 1 {
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
        current = heap.first ?? -1
    }

    func seekToFirst() throws {
        for c in children { try c.seekToFirst() }
        rebuild()
    }

    func seek(_ target: [UInt8]) throws {
        for c in children { try c.seek(target) }
        rebuild()
    }

    func next() throws {
        guard current >= 0 else { return }
        let child = children[current]
        try child.next()
        if child.isValid {
            siftDown(0)
        } else {
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
            if !heap.isEmpty { siftDown(0) }
        }
        current = heap.first ?? -1
    }
}

/// An iterator over nothing.
final class EmptyIterator: InternalIterator {
    var isValid: Bool { false }
    func seekToFirst() throws {}
    func seek(_ target: [UInt8]) throws {}
    func next() throws {}
    var key: [UInt8] { [] }
    var value: [UInt8] { [] }
}
