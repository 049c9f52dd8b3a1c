/// The in-memory write buffer: a skip list of internal keys (user key + sequence + kind)
/// with their values.
///
/// Concurrency: one writer at a time (the store serializes writers) and any number of
/// readers and iterators. A short internal lock guards the links; nodes are never removed,
/// so an iterator holding a node can always continue from it.
final class Memtable: @unchecked Sendable {
    final class Node {
        let key: [UInt8]  // internal key
        let value: [UInt8]
        var next: ContiguousArray<Node?>

        init(key: [UInt8], value: [UInt8], height: Int) {
            self.key = key
            self.value = value
            self.next = ContiguousArray(repeating: nil, count: height)
        }
    }

    static let maxHeight = 12
    private let head = Node(key: [], value: [], height: Memtable.maxHeight)
    private var height = 1
    private var rng: UInt64 = 0x2545_F491_4F6C_DD1D
    private let lock = Mutex()
    private var _approximateSize = 0
    private var _count = 0

    /// Bytes of keys and values plus per-node overhead.
    var approximateSize: Int { lock.withLock { _approximateSize } }
    var count: Int { lock.withLock { _count } }
    var isEmpty: Bool { count == 0 }

    private func randomHeight() -> Int {
        var h = 1
        while h < Memtable.maxHeight {
            rng ^= rng << 13
            rng ^= rng >> 7
            rng ^= rng << 17
            if rng & 3 != 0 { break }  // branching factor 4
            h += 1
        }
        return h
    }

    /// First node whose key is >= `key`; fills `prev` with the predecessors when given.
    private func findGreaterOrEqual(_ key: UnsafeRawBufferPointer, prev: UnsafeMutablePointer<Node>?) -> Node? {
        var x = head
        var level = height - 1
        while true {
            let next = x.next[level]
            if let n = next, n.key.withUnsafeBytes({ compareInternal($0, key) }) < 0 {
                x = n
            } else {
                if let prev { prev[level] = x }
                if level == 0 { return next }
                level -= 1
            }
        }
    }

    /// Adds an entry. Callers never add the same internal key twice (sequence numbers are unique).
    func add(sequence: UInt64, kind: ValueKind, key: [UInt8], value: [UInt8]) {
        let ikey = InternalKey.make(key, sequence, kind)
        lock.withLock {
            withUnsafeTemporaryAllocation(of: Node.self, capacity: Memtable.maxHeight) { prevBuf in
                let prev = prevBuf.baseAddress!
                for i in 0..<Memtable.maxHeight { (prev + i).initialize(to: head) }
                _ = ikey.withUnsafeBytes { findGreaterOrEqual($0, prev: prev) }
                let h = randomHeight()
                if h > height { height = h }
                let node = Node(key: ikey, value: value, height: h)
                for i in 0..<h {
                    node.next[i] = prev[i].next[i]
                    prev[i].next[i] = node
                }
                _ = prevBuf.deinitialize()
            }
            _approximateSize += ikey.count + value.count + 48 + 8 * Memtable.maxHeight / 3
            _count += 1
        }
    }

    /// Result of a point lookup.
    enum LookupResult {
        case found([UInt8])
        case deleted
        case absent
    }

    /// The newest entry for `userKey` at or below `sequence`.
    func get(_ userKey: [UInt8], sequence: UInt64) -> LookupResult {
        let lookup = InternalKey.lookup(userKey, sequence)
        return lock.withLock {
            guard let n = lookup.withUnsafeBytes({ findGreaterOrEqual($0, prev: nil) }) else { return .absent }
            guard n.key.count == lookup.count, sameUserKey(n.key, lookup) else { return .absent }
            switch InternalKey.kind(n.key) {
            case .value: return .found(n.value)
            case .deletion: return .deleted
            case nil: return .absent
            }
        }
    }

    fileprivate func first() -> Node? { lock.withLock { head.next[0] } }
    fileprivate func next(_ n: Node) -> Node? { lock.withLock { n.next[0] } }
    fileprivate func seek(_ key: [UInt8]) -> Node? {
        lock.withLock { key.withUnsafeBytes { findGreaterOrEqual($0, prev: nil) } }
    }

    func makeIterator() -> MemtableIterator { MemtableIterator(self) }
}

/// Iterates a memtable in internal-key order. Entries added after the iterator was made may
/// or may not be seen; readers filter by sequence number.
final class MemtableIterator: InternalIterator {
    private let table: Memtable
    private var node: Memtable.Node?

    init(_ table: Memtable) { self.table = table }

    var isValid: Bool { node != nil }
    func seekToFirst() throws { node = table.first() }
    func seek(_ target: [UInt8]) throws { node = table.seek(target) }
    func next() throws { if let n = node { node = table.next(n) } }
    var key: [UInt8] { node!.key }
    var value: [UInt8] { node!.value }
}
