/// A group of puts and deletes applied atomically: after a crash either all of them are in
/// the store or none is.
///
/// Encoding (also the WAL record payload): sequence (fixed64) · count (fixed32) · entries,
/// each `kind (1) · varint key length · key · [varint value length · value]` (values only
/// for puts). See docs/FORMAT.md.
public struct WriteBatch: Sendable {
    static let headerSize = 12
    var rep: [UInt8]

    /// An empty batch.
    public init() {
        rep = [UInt8](repeating: 0, count: WriteBatch.headerSize)
    }

    /// An empty batch with room for about `bytes` bytes of operations (each costs its key
    /// and value plus a few bytes), so building a large batch does not reallocate.
    public init(reservingCapacity bytes: Int) {
        // One allocation: an empty array allocates nothing until `reserveCapacity`.
        var r = [UInt8]()
        r.reserveCapacity(WriteBatch.headerSize + max(0, bytes))
        r.append(contentsOf: repeatElement(0, count: WriteBatch.headerSize))
        rep = r
    }

    init(rep: [UInt8]) { self.rep = rep }

    /// Makes room for about `bytes` more bytes of operations without reallocating.
    public mutating func reserveCapacity(_ bytes: Int) {
        rep.reserveCapacity(rep.count + max(0, bytes))
    }

    /// Number of operations in the batch.
    public var count: Int { Int(decodeFixed32(rep, 8)) }

    /// True when the batch holds no operation.
    public var isEmpty: Bool { count == 0 }

    /// Approximate encoded size in bytes.
    public var byteSize: Int { rep.count }

    private mutating func setCount(_ n: Int) {
        let v = UInt32(n)
        rep[8] = UInt8(truncatingIfNeeded: v)
        rep[9] = UInt8(truncatingIfNeeded: v >> 8)
        rep[10] = UInt8(truncatingIfNeeded: v >> 16)
        rep[11] = UInt8(truncatingIfNeeded: v >> 24)
    }

    /// Adds a put of `value` under `key`.
    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        rep.append(ValueKind.value.rawValue)
        putLengthPrefixed(&rep, key)
        putLengthPrefixed(&rep, value)
        setCount(count + 1)
    }

    /// Adds a put of `value` under `key`, from borrowed bytes.
    public mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        rep.append(ValueKind.value.rawValue)
        putVarint64(&rep, UInt64(key.count))
        rep.append(contentsOf: key)
        putVarint64(&rep, UInt64(value.count))
        rep.append(contentsOf: value)
        setCount(count + 1)
    }

    /// Adds a deletion of `key`, from borrowed bytes.
    public mutating func delete(key: UnsafeRawBufferPointer) {
        rep.append(ValueKind.deletion.rawValue)
        putVarint64(&rep, UInt64(key.count))
        rep.append(contentsOf: key)
        setCount(count + 1)
    }

    /// Adds a deletion of `key`.
    public mutating func delete(_ key: [UInt8]) {
        rep.append(ValueKind.deletion.rawValue)
        putLengthPrefixed(&rep, key)
        setCount(count + 1)
    }

    /// Removes every operation.
    /// Removes every operation, keeping the storage for reuse.
    public mutating func clear() {
        rep.removeSubrange(WriteBatch.headerSize...)
        for i in 0..<WriteBatch.headerSize { rep[i] = 0 }
    }

    var sequence: UInt64 {
        get { decodeFixed64(rep, 0) }
        set {
            for i in 0..<8 { rep[i] = UInt8(truncatingIfNeeded: newValue >> (8 * UInt64(i))) }
        }
    }

    /// Calls `body` for each operation, in the order they were added, with views into the
    /// batch's bytes (valid only during the call): the key, and the value of a put or nil
    /// for a deletion.
    public func forEachOperation(_ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) -> Void) {
        forEachUnchecked { kind, key, value in body(key, kind == .value ? value : nil) }
    }

    /// Calls `body` for each operation with views into the batch's bytes (no copies).
    /// Only for batches this process built (entries already validated).
    func forEachUnchecked(_ body: (ValueKind, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void) {
        rep.withUnsafeBytes { raw in
            let base = raw.baseAddress!
            var p = WriteBatch.headerSize
            let end = raw.count
            while p < end {
                let kind: ValueKind = raw[p] == ValueKind.value.rawValue ? .value : .deletion
                p += 1
                let klen = Int(decodeVarint64(base, &p, end) ?? 0)
                let key = UnsafeRawBufferPointer(start: base + p, count: klen)
                p += klen
                var value = UnsafeRawBufferPointer(start: base + p, count: 0)
                if kind == .value {
                    let vlen = Int(decodeVarint64(base, &p, end) ?? 0)
                    value = UnsafeRawBufferPointer(start: base + p, count: vlen)
                    p += vlen
                }
                body(kind, key, value)
            }
        }
    }

    /// Calls `body` for each operation in order. Returns nil on success, or the byte offset of
    /// the first malformed entry.
    func forEach(_ body: (ValueKind, [UInt8], [UInt8]) throws -> Void) rethrows -> Int? {
        guard rep.count >= WriteBatch.headerSize else { return 0 }
        var r = ByteReader(rep, from: WriteBatch.headerSize)
        var seen = 0
        while !r.isAtEnd {
            let at = r.position
            guard let tag = r.readByte(), let kind = ValueKind(rawValue: tag),
                let key = r.readLengthPrefixed()
            else { return at }
            if kind == .value {
                guard let value = r.readLengthPrefixed() else { return at }
                try body(.value, key, value)
            } else {
                try body(.deletion, key, [])
            }
            seen += 1
        }
        return seen == count ? nil : rep.count
    }
}
