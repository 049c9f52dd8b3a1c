/// How many bytes entries take once stored as table data blocks: prefix-compressed keys,
/// restart points, LZ4 when it pays, and the 5-byte block trailers. The checkpoint
/// benchmark uses it for the lower bound of an incremental checkpoint: the stored size of
/// exactly the state that changed. A measurement for the experiment, not part of the
/// store's API: reachable with `@_spi(Measurement) import LSMStore`.
@_spi(Measurement) public enum StoredSize {
    /// Stored size of `entries` (sorted by key, unique) as data blocks of `options`.
    public static func dataBlockBytes(
        sortedEntries entries: [(key: [UInt8], value: [UInt8])], options: Options = Options()
    ) -> Int {
        var sizer = DataBlockSizer(options: options)
        for (k, v) in entries {
            k.withUnsafeBytes { kb in v.withUnsafeBytes { vb in sizer.add(key: kb, value: vb) } }
        }
        return sizer.finish()
    }
}

/// Adds up, entry by entry, what `StoredSize.dataBlockBytes` computes for a whole array:
/// the stored size of a run of entries as the data blocks a table writer would make of them
/// (each entry as a put with one fixed sequence number). Entries come as borrowed bytes, so
/// measuring a large run allocates nothing per entry.
@_spi(Measurement) public struct DataBlockSizer {
    private var builder: BlockBuilder
    private var internalKey: [UInt8] = []
    private let blockSize: Int
    private let compression: Compression
    private var total = 0
    /// The last block as stored, and LZ4's output, reused from block to block.
    private var stored: [UInt8] = []
    private var scratch: [UInt8] = []

    /// A sizer for the block size, restart interval and compression of `options`.
    public init(options: Options = Options()) {
        builder = BlockBuilder(restartInterval: options.blockRestartInterval)
        blockSize = options.blockSize
        compression = options.compression
    }

    /// Adds one entry; keys must be added in increasing order, each once.
    public mutating func add(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        add(key: key, kind: .value, value: value)
    }

    /// Adds one entry, or a deletion of `key` when `value` is nil (as a table stores it: the
    /// key with an empty value); keys must be added in increasing order, each once.
    public mutating func add(key: UnsafeRawBufferPointer, valueOrDeletion value: UnsafeRawBufferPointer?) {
        if let value {
            add(key: key, kind: .value, value: value)
        } else {
            add(key: key, kind: .deletion, value: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    private mutating func add(key: UnsafeRawBufferPointer, kind: ValueKind, value: UnsafeRawBufferPointer) {
        internalKey.removeAll(keepingCapacity: true)
        internalKey.append(contentsOf: key)
        putFixed64(&internalKey, (1 << 8) | UInt64(kind.rawValue))
        internalKey.withUnsafeBytes { builder.add($0, value) }
        if builder.estimatedSize >= blockSize { finishBlock() }
    }

    /// Stores the block as a table writer would (`appendStoredBlock`) into a buffer reused
    /// from block to block, and counts its bytes.
    private mutating func finishBlock() {
        guard !builder.isEmpty else { return }
        stored.removeAll(keepingCapacity: true)
        let compression = compression
        builder.finish { raw in _ = appendStoredBlock(raw, compression: compression, to: &stored, scratch: &scratch) }
        total += stored.count
    }

    /// Stored bytes of every entry added so far, the last partial block included.
    public mutating func finish() -> Int {
        finishBlock()
        return total
    }
}
