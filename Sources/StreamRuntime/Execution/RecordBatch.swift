/// Records the source hands one subtask at once, as parallel columns: the encoded key, its
/// key group, the key, the record and the record's position in the input.
///
/// The runtime's loops are generic over the key and record types and are not specialized
/// for a job's types (they live in this module, the job's types in another). There, every
/// append to or read of an array of those types looks up the array's type metadata at run
/// time (a hash-table lookup in the Swift runtime), and an array of tuples also the tuple's:
/// profiles of the keyed job put those lookups at about a quarter of the source thread. The
/// key and record columns are therefore buffers this class manages itself, which need only
/// the two type parameters its methods receive with `self`.
final class RecordBatch<K, T> {
    private(set) var keys: [StateKey] = []
    private(set) var groups: [Int] = []
    private(set) var indexes: [Int] = []
    private var values: UnsafeMutablePointer<K>
    private var records: UnsafeMutablePointer<T>
    private var capacity: Int

    /// An empty batch with room for `capacity` records before it grows.
    init(capacity: Int) {
        self.capacity = max(1, capacity)
        values = .allocate(capacity: self.capacity)
        records = .allocate(capacity: self.capacity)
        keys.reserveCapacity(self.capacity)
        groups.reserveCapacity(self.capacity)
        indexes.reserveCapacity(self.capacity)
    }

    deinit {
        values.deinitialize(count: count)
        values.deallocate()
        records.deinitialize(count: count)
        records.deallocate()
    }

    /// The number of records.
    var count: Int { indexes.count }
    var isEmpty: Bool { indexes.isEmpty }

    /// The key of record `i` (`i < count`).
    @inline(__always)
    func value(_ i: Int) -> K {
        precondition(i >= 0 && i < count, "record index out of range")
        return values[i]
    }

    /// Record `i` (`i < count`).
    @inline(__always)
    func record(_ i: Int) -> T {
        precondition(i >= 0 && i < count, "record index out of range")
        return records[i]
    }

    /// Adds a record.
    func append(key: StateKey, group: Int, value: K, record: T, index: Int) {
        let n = count
        if n == capacity { grow() }
        (values + n).initialize(to: value)
        (records + n).initialize(to: record)
        keys.append(key)
        groups.append(group)
        indexes.append(index)
    }

    /// Doubles the room of the key and record columns.
    private func grow() {
        let n = count
        let c = capacity * 2
        let v = UnsafeMutablePointer<K>.allocate(capacity: c)
        v.moveInitialize(from: values, count: n)
        values.deallocate()
        values = v
        let r = UnsafeMutablePointer<T>.allocate(capacity: c)
        r.moveInitialize(from: records, count: n)
        records.deallocate()
        records = r
        capacity = c
    }
}
