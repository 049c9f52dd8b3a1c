/// An iterator over internal keys in internal-key order, the building block of reads,
/// flushes and compactions. Keys and values may only be read while `isValid`.
///
/// `keyView` and `valueView` are zero-copy views, valid until the iterator moves (or is
/// released): hot loops (compaction, flush, scans) use them; `key` and `value` copy.
protocol InternalIterator: AnyObject {
    var isValid: Bool { get }
    func seekToFirst() throws
    /// Positions at the first entry whose internal key is >= `target`.
    func seek(_ target: [UInt8]) throws
    func next() throws
    var keyView: UnsafeRawBufferPointer { get }
    var valueView: UnsafeRawBufferPointer { get }
}

extension InternalIterator {
    /// A copy of the current internal key.
    var key: [UInt8] { [UInt8](keyView) }
    /// A copy of the current value.
    var value: [UInt8] { [UInt8](valueView) }
}

/// Merges several sorted iterators into one sorted stream (ties broken by child order, so
/// children listed first win; internal keys are unique so ties do not occur in practice).
final class MergingIterator: InternalIterator {
    private let children: [any InternalIterator]
    private var current: Int = -1
    /// Min-heap of child indices ordered by their current key.
    private var heap: [Int] = []
    /// Each child's current key view, refreshed whenever that child moves (a view stays
    /// valid until its iterator moves), so the heap's comparisons read plain pointers
    /// instead of calling through the children's existentials.
    private let keys: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    /// Each child's current value view, refreshed with its key: reading the current value
    /// through the child's existential retained and released the child for every entry.
    private let values: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>

    init(_ children: [any InternalIterator]) {
        self.children = children
        keys = .allocate(capacity: max(children.count, 1))
        keys.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
        values = .allocate(capacity: max(children.count, 1))
        values.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    var isValid: Bool { current >= 0 }
    var keyView: UnsafeRawBufferPointer { keys[current] }
    var valueView: UnsafeRawBufferPointer { values[current] }

    @inline(__always)
    private func less(_ a: Int, _ b: Int) -> Bool {
        let c = compareInternal(keys[a], keys[b])
        return c < 0 || (c == 0 && a < b)
    }

    private func siftDown(_ start: Int) {
        heap.withUnsafeMutableBufferPointer { heap in
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
    }

    private func rebuild() {
        heap = children.indices.filter { children[$0].isValid }
        for i in heap {
            keys[i] = children[i].keyView
            values[i] = children[i].valueView
        }
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
            keys[current] = child.keyView
            values[current] = child.valueView
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
    var keyView: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
    var valueView: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }
}
