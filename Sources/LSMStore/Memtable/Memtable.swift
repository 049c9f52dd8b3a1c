import Glibc

import Synchronization

/// The in-memory write buffer: a skip list of internal keys (user key + sequence + kind)
/// with their values, laid out in an arena as LevelDB's memtable is.
///
/// Each node is one arena allocation: `keyLength u32 · valueLength u32 · height u32 · pad ·
/// next pointers (8 bytes × height) · internal key · value`. Nodes are never removed or
/// moved, so a node pointer stays valid for the memtable's lifetime, and freeing the arena
/// frees everything at once (no per-node reference counting or recursive deinit).
///
/// Concurrency: one writer at a time (the store serializes writers) and any number of
/// readers and iterators. A short internal lock guards the links; a node's bytes are
/// written before it is linked under the lock and never change afterwards. Once `freeze()`d
/// (switched out to be flushed) nothing changes any more, and reads take no lock: the
/// flush thread walking it and readers looking into it no longer contend.
final class Memtable: @unchecked Sendable {
    typealias Node = UnsafeMutableRawPointer

    static let maxHeight = 12
    private static let arenaBlockSize = 256 << 10
    private static let headerSize = 16

    private var arenaBlocks: [UnsafeMutableRawPointer] = []
    private var arenaCursor: UnsafeMutableRawPointer? = nil
    private var arenaRemaining = 0
    /// Bytes handed out by the arena (what the memtable holds, excluding unused block tails).
    private var usedBytes = 0

    private var head: Node! = nil
    private var height = 1
    private var rng: UInt64 = 0x2545_F491_4F6C_DD1D
    private let lock = Monitor()
    /// Set (with release order) once no more entries will be added; read with acquire order,
    /// so a reader that sees it also sees every insert.
    private let frozen = Atomic<Bool>(false)
    private var _count = 0
    /// The last node added and, per level, the node after which a larger key's search
    /// resumes (the predecessors of the last insert, or the node itself at its levels).
    private var lastInserted: Node? = nil
    private let finger = UnsafeMutableBufferPointer<Node>.allocate(capacity: Memtable.maxHeight)
    /// Point-lookup index: user key -> the newest node with that user key (older versions
    /// follow it on level 0). Open addressing with linear probing; each slot is the key's
    /// hash and the node's address (0: empty); at most half full. Written by the one writer
    /// under the lock, read under the lock or, once frozen, without it. A get finds its key
    /// with one hash and one key comparison instead of a skip-list descent (about 20 nodes
    /// deep in a 4 MiB memtable, each a likely cache miss).
    private var index: UnsafeMutablePointer<(hash: UInt64, node: UInt)>
    private var indexCapacity = 1024
    private var indexCount = 0

    init() {
        index = .allocate(capacity: indexCapacity)
        index.initialize(repeating: (0, 0), count: indexCapacity)
        head = allocateNode(height: Memtable.maxHeight, keyCount: 0, valueCount: 0)
        for i in 0..<Memtable.maxHeight { Memtable.setNext(head, i, nil) }
        finger.initialize(repeating: head)
    }

    deinit {
        index.deallocate()
        finger.deallocate()
        for b in arenaBlocks { b.deallocate() }
    }

    // MARK: Arena

    private func allocate(_ n: Int) -> UnsafeMutableRawPointer {
        let size = (n + 7) & ~7
        if size > arenaRemaining {
            if size > Memtable.arenaBlockSize / 4 {
                // A large entry gets a block of its own so the current block is not wasted.
                let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
                arenaBlocks.append(p)
                usedBytes += size
                return p
            }
            let p = UnsafeMutableRawPointer.allocate(byteCount: Memtable.arenaBlockSize, alignment: 8)
            arenaBlocks.append(p)
            arenaCursor = p
            arenaRemaining = Memtable.arenaBlockSize
        }
        let p = arenaCursor!
        arenaCursor = p + size
        arenaRemaining -= size
        usedBytes += size
        return p
    }

    private func allocateNode(height: Int, keyCount: Int, valueCount: Int) -> Node {
        let p = allocate(Memtable.headerSize + 8 * height + keyCount + valueCount)
        p.storeBytes(of: UInt32(keyCount), toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: UInt32(valueCount), toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: UInt32(height), toByteOffset: 8, as: UInt32.self)
        return p
    }

    // MARK: Node layout

    @inline(__always) static func next(_ n: Node, _ level: Int) -> Node? {
        UnsafeMutableRawPointer(bitPattern: n.load(fromByteOffset: headerSize + 8 * level, as: UInt.self))
    }

    @inline(__always) static func setNext(_ n: Node, _ level: Int, _ to: Node?) {
        n.storeBytes(of: UInt(bitPattern: to), toByteOffset: headerSize + 8 * level, as: UInt.self)
    }

    @inline(__always) static func keyStart(_ n: Node) -> UnsafeMutableRawPointer {
        n + headerSize + 8 * Int(n.load(fromByteOffset: 8, as: UInt32.self))
    }

    @inline(__always) static func key(_ n: Node) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: keyStart(n), count: Int(n.load(fromByteOffset: 0, as: UInt32.self)))
    }

    @inline(__always) static func value(_ n: Node) -> UnsafeRawBufferPointer {
        let k = Int(n.load(fromByteOffset: 0, as: UInt32.self))
        return UnsafeRawBufferPointer(start: keyStart(n) + k, count: Int(n.load(fromByteOffset: 4, as: UInt32.self)))
    }

    // MARK: Size

    /// Bytes of entries held (keys, values and links); the flush trigger compares this.
    var approximateSize: Int { read { usedBytes } }
    var count: Int { read { _count } }

    /// Marks the memtable read-only; the caller guarantees no `add` runs now or later.
    func freeze() { frozen.store(true, ordering: .releasing) }

    /// Runs a read under the lock, or without it once frozen.
    @inline(__always)
    private func read<T>(_ body: () throws -> T) rethrows -> T {
        if frozen.load(ordering: .acquiring) { return try body() }
        return try lock.withLock(body)
    }
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
    /// Caller holds the lock.
    private func findGreaterOrEqual(_ key: UnsafeRawBufferPointer, prev: UnsafeMutablePointer<Node>?) -> Node? {
        var x: Node = head
        var level = height - 1
        while true {
            let next = Memtable.next(x, level)
            if let n = next, compareInternal(Memtable.key(n), key) < 0 {
                x = n
            } else {
                if let prev { prev[level] = x }
                if level == 0 { return next }
                level -= 1
            }
        }
    }

    /// Adds an entry. Callers never add the same internal key twice (sequence numbers are unique).
    func add(sequence: UInt64, kind: ValueKind, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        precondition(!frozen.load(ordering: .relaxed), "add to a frozen memtable")
        lock.withLock {
            let h = randomHeight()
            let node = allocateNode(height: h, keyCount: key.count + 8, valueCount: value.count)
            let k = Memtable.keyStart(node)
            if key.count > 0 { k.copyMemory(from: key.baseAddress!, byteCount: key.count) }
            k.storeBytes(
                of: ((sequence << 8) | UInt64(kind.rawValue)).littleEndian, toByteOffset: key.count, as: UInt64.self)
            if value.count > 0 { (k + key.count + 8).copyMemory(from: value.baseAddress!, byteCount: value.count) }
            let newKey = Memtable.key(node)
            if let last = lastInserted, compareInternal(Memtable.key(last), newKey) < 0 {
                // Ascending inserts (RocksDB's "splice" idea). `finger[level]` precedes the
                // previous key at each level, so it precedes `newKey` too, and a finger nearer
                // the bottom is never behind one above it. First find the lowest level whose
                // finger still brackets `newKey` (its successor is not smaller): every level
                // above it does too and keeps its finger. Below it, each level's search starts
                // from whichever is further of its own finger and the node where the level
                // above stopped, compared only when the level above moved. A sorted run costs
                // O(1) comparisons per entry; a random larger key O(log n), as from the head.
                var valid = 0
                while valid < Memtable.maxHeight, let n = Memtable.next(finger[valid], valid),
                    compareInternal(Memtable.key(n), newKey) < 0
                {
                    valid += 1
                }
                var above: Node = valid < Memtable.maxHeight ? finger[valid] : head
                var aboveMoved = false
                var level = min(valid, height) - 1
                while level >= 0 {
                    var x = finger[level]
                    if aboveMoved, x == head || compareInternal(Memtable.key(x), Memtable.key(above)) < 0 {
                        x = above
                    }
                    while let n = Memtable.next(x, level), compareInternal(Memtable.key(n), newKey) < 0 { x = n }
                    aboveMoved = x != finger[level]
                    finger[level] = x
                    above = x
                    level -= 1
                }
                // Levels at and above `height` never change from `head` (see below).
            } else {
                for i in 0..<Memtable.maxHeight { finger[i] = head }
                _ = findGreaterOrEqual(newKey, prev: finger.baseAddress)
            }
            if h > height { height = h }
            for i in 0..<h {
                Memtable.setNext(node, i, Memtable.next(finger[i], i))
                Memtable.setNext(finger[i], i, node)
                finger[i] = node  // the new node precedes any larger key at its levels
            }
            lastInserted = node
            _count += 1
            indexInsert(node)
        }
    }

    // MARK: Point-lookup index

    @inline(__always)
    private static func userKey(_ ikey: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: ikey.baseAddress, count: ikey.count - 8)
    }

    @inline(__always)
    private static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// Records `node` as the newest version of its user key. Caller holds the lock.
    private func indexInsert(_ node: Node) {
        if (indexCount + 1) * 2 > indexCapacity { growIndex() }
        let key = Memtable.key(node)
        let user = Memtable.userKey(key)
        let h = bloomHash(user)
        let mask = indexCapacity - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = index[i]
            if slot.node == 0 {
                index[i] = (h, UInt(bitPattern: node))
                indexCount += 1
                return
            }
            if slot.hash == h, let existing = UnsafeMutableRawPointer(bitPattern: slot.node) {
                let other = Memtable.key(existing)
                if Memtable.sameBytes(Memtable.userKey(other), user) {
                    // Sequence numbers only grow, but keep the newer one whatever the order.
                    if InternalKey.trailer(key) >> 8 > InternalKey.trailer(other) >> 8 {
                        index[i].node = UInt(bitPattern: node)
                    }
                    return
                }
            }
            i = (i + 1) & mask
        }
    }

    private func growIndex() {
        let old = index, oldCapacity = indexCapacity
        indexCapacity *= 2
        index = .allocate(capacity: indexCapacity)
        index.initialize(repeating: (0, 0), count: indexCapacity)
        let mask = indexCapacity - 1
        for j in 0..<oldCapacity where old[j].node != 0 {
            var i = Int(truncatingIfNeeded: old[j].hash) & mask
            while index[i].node != 0 { i = (i + 1) & mask }
            index[i] = old[j]
        }
        old.deallocate()
    }

    /// The newest node whose user key is `user`, through the index. Caller holds the lock
    /// (or the memtable is frozen).
    private func newestNode(_ user: UnsafeRawBufferPointer) -> Node? {
        let h = bloomHash(user)
        let mask = indexCapacity - 1
        var i = Int(truncatingIfNeeded: h) & mask
        while true {
            let slot = index[i]
            guard let n = UnsafeMutableRawPointer(bitPattern: slot.node) else { return nil }
            if slot.hash == h, Memtable.sameBytes(Memtable.userKey(Memtable.key(n)), user) { return n }
            i = (i + 1) & mask
        }
    }

    /// Convenience for tests and recovery.
    func add(sequence: UInt64, kind: ValueKind, key: [UInt8], value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(sequence: sequence, kind: kind, key: k, value: v) }
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
        return lookup.withUnsafeBytes { lk in
            switch find(lk) {
            case .found(let v): return .found([UInt8](v))
            case .deleted: return .deleted
            case .absent: return .absent
            }
        }
    }

    /// What `find` found: a borrowed view of the value, valid while the memtable is alive.
    enum ViewResult {
        case found(UnsafeRawBufferPointer)
        case deleted
        case absent
    }

    /// The newest entry of `lookup`'s user key whose sequence is at most `lookup`'s (a lookup
    /// key: user key, the reader's sequence, the seek kind). Found through the index, then
    /// older versions are passed on level 0 until one is visible. Allocates nothing.
    func find(_ lk: UnsafeRawBufferPointer) -> ViewResult {
        guard lk.count >= 8 else { return .absent }
        let user = Memtable.userKey(lk)
        let sequence = InternalKey.trailer(lk) >> 8
        return read {
            guard var n = newestNode(user) else { return .absent }
            while true {
                let k = Memtable.key(n)
                if InternalKey.trailer(k) >> 8 <= sequence { break }
                guard let older = Memtable.next(n, 0), Memtable.sameBytes(Memtable.userKey(Memtable.key(older)), user)
                else { return .absent }
                n = older
            }
            let k = Memtable.key(n)
            switch k[k.count - 8] {
            case ValueKind.value.rawValue: return .found(Memtable.value(n))
            case ValueKind.deletion.rawValue: return .deleted
            default: return .absent
            }
        }
    }

    fileprivate func first() -> Node? { read { Memtable.next(head, 0) } }
    fileprivate func next(_ n: Node) -> Node? { read { Memtable.next(n, 0) } }
    fileprivate func seek(_ key: [UInt8]) -> Node? {
        read { key.withUnsafeBytes { findGreaterOrEqual($0, prev: nil) } }
    }

    func makeIterator() -> MemtableIterator { MemtableIterator(self) }
}
/// Iterates a memtable in internal-key order. Entries added after the iterator was made may
/// or may not be seen; readers filter by sequence number. Holds the memtable alive.
final class MemtableIterator: InternalIterator {
    private let table: Memtable
    private var node: Memtable.Node?

    init(_ table: Memtable) { self.table = table }

    var isValid: Bool { node != nil }
    func seekToFirst() throws { node = table.first() }
    func seek(_ target: [UInt8]) throws { node = table.seek(target) }
    func next() throws { if let n = node { node = table.next(n) } }
    var keyView: UnsafeRawBufferPointer { Memtable.key(node!) }
    var valueView: UnsafeRawBufferPointer { Memtable.value(node!) }
}
