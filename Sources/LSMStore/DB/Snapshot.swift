/// A consistent read view of the store at one sequence number. Reads through a snapshot see
/// exactly the writes made before it was taken, whatever is written or compacted later.
/// The view is released when the snapshot is released or deallocated.
public final class Snapshot: @unchecked Sendable {
    /// The sequence number of the last write the snapshot sees.
    public let sequence: UInt64
    private let list: SnapshotList
    private var released = false
    private let lock = Monitor()

    init(sequence: UInt64, list: SnapshotList) {
        self.sequence = sequence
        self.list = list
        list.add(sequence)
    }

    /// Releases the view; compaction may then drop versions only it needed. Idempotent.
    public func release() {
        let first = lock.withLock { () -> Bool in
            defer { released = true }
            return !released
        }
        if first { list.remove(sequence) }
    }

    deinit { if !released { list.remove(sequence) } }
}

/// The sequence numbers of live snapshots (a multiset).
final class SnapshotList: @unchecked Sendable {
    private let lock = Monitor()
    private var counts: [UInt64: Int] = [:]

    func add(_ s: UInt64) { lock.withLock { counts[s, default: 0] += 1 } }

    func remove(_ s: UInt64) {
        lock.withLock {
            if let c = counts[s] { counts[s] = c > 1 ? c - 1 : nil }
        }
    }

    /// The oldest live snapshot, or nil.
    var oldest: UInt64? { lock.withLock { counts.keys.min() } }

    /// Live snapshot sequence numbers, ascending.
    var sorted: [UInt64] { lock.withLock { counts.keys.sorted() } }
    var count: Int { lock.withLock { counts.values.reduce(0, +) } }
}
