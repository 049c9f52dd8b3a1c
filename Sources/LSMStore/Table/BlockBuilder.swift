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
        putVarint32(&buffer, UInt32(shared))
        putVarint32(&buffer, UInt32(key.count - shared))
        putVarint32(&buffer, UInt32(value.count))
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: key[shared...]))
        buffer.append(contentsOf: value)
        lastKey.removeAll(keepingCapacity: true)
        lastKey.append(contentsOf: key)
        counter += 1
        entryCount += 1
    }

    /// Returns the finished block and resets the builder.
    mutating func finish() -> [UInt8] {
        var out = buffer
        for r in restarts { putFixed32(&out, r) }
        putFixed32(&out, UInt32(restarts.count))
        buffer.removeAll(keepingCapacity: true)
        restarts = [0]
        counter = 0
        lastKey.removeAll(keepingCapacity: true)
        entryCount = 0
        return out
    }
}
