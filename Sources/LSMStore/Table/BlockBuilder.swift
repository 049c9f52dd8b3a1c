/// Builds a block of sorted entries with prefix-compressed keys (LevelDB's block format):
/// each entry is `varint shared · varint non_shared · varint value_length · key delta · value`;
/// every `restartInterval` entries a key is stored whole and its offset recorded as a restart
/// point. The block ends with the restart offsets (fixed32 each) and their count (fixed32).
struct BlockBuilder {
    let restartInterval: Int
    /// The block so far: `length` bytes at the start of `storage`, whose count is its
    /// capacity (written through one raw pointer per entry, not appended to piece by piece).
    private var storage: [UInt8] = []
    private var length = 0
    private var restarts: [UInt32] = [0]
    private var counter = 0
    /// The last key added: `lastKeyLength` bytes at the start of `lastKey`.
    private var lastKey: [UInt8] = []
    private var lastKeyLength = 0
    private(set) var entryCount = 0

    init(restartInterval: Int) { self.restartInterval = restartInterval }

    var isEmpty: Bool { entryCount == 0 }

    /// Size the block will have once finished.
    var estimatedSize: Int { length + restarts.count * 4 + 4 }

    /// Appends an entry; keys must be added in increasing order.
    mutating func add(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(k, v) } }
    }

    /// Makes room for `count` bytes at `length`, doubling the storage as it grows.
    @inline(__always)
    private mutating func reserve(_ count: Int) {
        let need = length + count
        if need > storage.count {
            storage.append(contentsOf: repeatElement(0, count: max(need, 2 * storage.count, 256) - storage.count))
        }
    }

    /// Appends an entry from views (copied; the views may change afterwards).
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let n = min(lastKeyLength, key.count)
            lastKey.withUnsafeBytes { l in
                // Eight bytes at a time, then the first differing byte of the word.
                while shared + 8 <= n {
                    let x = l.loadUnaligned(fromByteOffset: shared, as: UInt64.self)
                    let y = key.loadUnaligned(fromByteOffset: shared, as: UInt64.self)
                    if x != y {
                        shared += (UInt64(littleEndian: x) ^ UInt64(littleEndian: y)).trailingZeroBitCount / 8
                        return
                    }
                    shared += 8
                }
                while shared < n && key[shared] == l[shared] { shared += 1 }
            }
        } else {
            restarts.append(UInt32(length))
            counter = 0
        }
        let suffix = UnsafeRawBufferPointer(rebasing: key[shared...])
        // At most 15 bytes of varints, the key's new suffix and the value.
        reserve(15 + suffix.count + value.count)
        let start = length
        length = storage.withUnsafeMutableBytes { raw -> Int in
            guard let base = raw.baseAddress else { return start }
            var i = start
            @inline(__always) func put(_ v: Int) {
                var v = UInt32(v)
                while v >= 0x80 {
                    base.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: i, as: UInt8.self)
                    v >>= 7
                    i += 1
                }
                base.storeBytes(of: UInt8(v), toByteOffset: i, as: UInt8.self)
                i += 1
            }
            put(shared)
            put(suffix.count)
            put(value.count)
            if let p = suffix.baseAddress, !suffix.isEmpty { (base + i).copyMemory(from: p, byteCount: suffix.count) }
            i += suffix.count
            if let p = value.baseAddress, !value.isEmpty { (base + i).copyMemory(from: p, byteCount: value.count) }
            return i + value.count
        }
        // The last key keeps the shared prefix and takes the new suffix (LevelDB's way).
        if lastKey.count < key.count {
            lastKey.append(contentsOf: repeatElement(0, count: max(key.count, 2 * lastKey.count) - lastKey.count))
        }
        lastKey.withUnsafeMutableBytes { l in
            if let d = l.baseAddress, let p = suffix.baseAddress, !suffix.isEmpty {
                (d + shared).copyMemory(from: p, byteCount: suffix.count)
            }
        }
        lastKeyLength = key.count
        counter += 1
        entryCount += 1
    }

    /// The last key added since the block was started (empty when none), valid until the
    /// next change to the builder.
    func withLastKey<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try lastKey.withUnsafeBytes {
            try body(UnsafeRawBufferPointer(rebasing: $0[0..<(entryCount == 0 ? 0 : lastKeyLength)]))
        }
    }

    /// Returns the finished block and resets the builder.
    mutating func finish() -> [UInt8] {
        finish { Array($0) }
    }

    /// Finishes the block in the builder's own buffer, passes it to `body` (the view is valid
    /// only during the call) and resets the builder, keeping its storage for the next block.
    mutating func finish<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        reserve(4 * restarts.count + 4)
        storage.withUnsafeMutableBytes { raw in
            for r in restarts {
                raw.storeBytes(of: r.littleEndian, toByteOffset: length, as: UInt32.self)
                length += 4
            }
            raw.storeBytes(of: UInt32(restarts.count).littleEndian, toByteOffset: length, as: UInt32.self)
            length += 4
        }
        defer {
            length = 0
            restarts.removeAll(keepingCapacity: true)
            restarts.append(0)
            counter = 0
            lastKeyLength = 0
            entryCount = 0
        }
        return try storage.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
    }
}
