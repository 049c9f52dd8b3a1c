/// Builds a block of sorted entries with prefix-compressed keys (LevelDB's block format):
/// each entry is `varint shared · varint non_shared · varint value_length · key delta · value`;
/// every `restartInterval` entries a key is stored whole and its offset recorded as a restart
/// point. The block ends with the restart offsets (fixed32 each) and their count (fixed32).
struct BlockBuilder {
    let restartInterval: Int
    private(set) var buffer: [UInt8] = []
    private var restarts: [UInt32] = [0]
    private var counter = 0
    private var lastKey: [UInt8] = []
    private(set) var entryCount = 0

    init(restartInterval: Int) { self.restartInterval = restartInterval }

    var isEmpty: Bool { entryCount == 0 }

    /// Size the block will have once finished.
    var estimatedSize: Int { buffer.count + restarts.count * 4 + 4 }

    /// Appends an entry; keys must be added in increasing order.
    mutating func add(_ key: [UInt8], _ value: [UInt8]) {
        key.withUnsafeBytes { k in value.withUnsafeBytes { v in add(k, v) } }
    }

    /// Appends an entry from views (copied; the views may change afterwards).
    mutating func add(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        var shared = 0
        if counter < restartInterval {
            let n = min(lastKey.count, key.count)
            lastKey.withUnsafeBufferPointer { l in
                while shared < n && key[shared] == l[shared] { shared += 1 }
            }
        } else {
            restarts.append(UInt32(buffer.count))
            counter = 0
        }
        // The three varints go in with one append (at most 15 bytes, built on the stack).
        var header: (UInt64, UInt64) = (0, 0)
        let headerLength = withUnsafeMutableBytes(of: &header) { h -> Int in
            var i = 0
            func put(_ v: Int) {
                var v = UInt32(v)
                while v >= 0x80 {
                    h[i] = UInt8(truncatingIfNeeded: v) | 0x80
                    v >>= 7
                    i += 1
                }
                h[i] = UInt8(v)
                i += 1
            }
            put(shared)
            put(key.count - shared)
            put(value.count)
            return i
        }
        withUnsafeBytes(of: &header) {
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<headerLength]))
        }
        let suffix = UnsafeRawBufferPointer(rebasing: key[shared...])
        buffer.append(contentsOf: suffix)
        buffer.append(contentsOf: value)
        // The last key keeps the shared prefix and takes the new suffix (LevelDB's way).
        lastKey.removeSubrange(shared...)
        lastKey.append(contentsOf: suffix)
        counter += 1
        entryCount += 1
    }

    /// Returns the finished block and resets the builder.
    mutating func finish() -> [UInt8] {
        finish { Array($0) }
    }

    /// Finishes the block in the builder's own buffer, passes it to `body` (the view is valid
    /// only during the call) and resets the builder, keeping its storage for the next block.
    mutating func finish<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        for r in restarts { putFixed32(&buffer, r) }
        putFixed32(&buffer, UInt32(restarts.count))
        defer {
            buffer.removeAll(keepingCapacity: true)
            restarts.removeAll(keepingCapacity: true)
            restarts.append(0)
            counter = 0
            lastKey.removeAll(keepingCapacity: true)
            entryCount = 0
        }
        return try buffer.withUnsafeBytes(body)
    }
}
