/// Settings an SST is built with.
struct TableOptions: Sendable {
    var blockSize = 4096
    var restartInterval = 16
    var bloomBitsPerKey = 10
    var compression: Compression = .lz4
    var bytesPerSync = 1 << 20

    init() {}

    init(_ o: Options) {
        blockSize = o.blockSize
        restartInterval = o.blockRestartInterval
        bloomBitsPerKey = o.bloomBitsPerKey
        compression = o.compression
        bytesPerSync = o.bytesPerSync
    }
}

/// Writes an immutable sorted table (see docs/FORMAT.md): data blocks, a bloom filter block,
/// a properties block, an index block and the footer. Entries must arrive in internal-key
/// order; output is buffered and appended in large writes.
///
/// One thread at a time uses a writer (it is not `Sendable`), so its per-entry fields skip the
/// run-time exclusivity checks, which took a fifth of `add`'s time.
final class SSTableWriter {
    private let file: any WritableFile
    private let options: TableOptions
    @exclusivity(unchecked) private var dataBlock: BlockBuilder
    @exclusivity(unchecked) private var indexBlock = BlockBuilder(restartInterval: 1)
    @exclusivity(unchecked) private var filter: BloomFilterBuilder?
    @exclusivity(unchecked) private var pending: [UInt8] = []
    /// LZ4's output for a block, reused from block to block.
    @exclusivity(unchecked) private var scratch: [UInt8] = []
    /// A block handle's encoding for the index, reused.
    @exclusivity(unchecked) private var handleBytes: [UInt8] = []
    @exclusivity(unchecked) private var offset: UInt64 = 0
    /// `offset` when writeback was last started (`TableOptions.bytesPerSync`).
    @exclusivity(unchecked) private var writebackOffset: UInt64 = 0
    /// The last internal key of the data blocks finished so far (a buffer of its own, set
    /// once per block from the block builder, which keeps the last key of its open block).
    private let lastKey = KeyBuffer()
    @exclusivity(unchecked) private var lastUserKeyHash: UInt64? = nil
    @exclusivity(unchecked) private(set) var properties = TableProperties()
    @exclusivity(unchecked) private var finished = false

    init(file: any WritableFile, options: TableOptions) {
        self.file = file
        self.options = options
        self.dataBlock = BlockBuilder(restartInterval: options.restartInterval)
        if options.bloomBitsPerKey > 0 { filter = BloomFilterBuilder(bitsPerKey: options.bloomBitsPerKey) }
        pending.reserveCapacity(256 << 10)
    }

    /// Bytes the file will have if finished now (approximately).
    var estimatedFileSize: UInt64 { offset + UInt64(pending.count + dataBlock.estimatedSize) }
    var entryCount: UInt64 { properties.entryCount }

    func add(_ ikey: [UInt8], _ value: [UInt8]) throws {
        try ikey.withUnsafeBytes { k in try value.withUnsafeBytes { v in try add(k, v) } }
    }

    /// Adds an entry from views (copied).
    func add(_ ikey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        precondition(!finished)
        let trailer = InternalKey.trailer(ikey)
        let seq = trailer >> 8
        if properties.entryCount == 0 {
            properties.smallestKey = [UInt8](ikey)
            properties.smallestSequence = seq
            properties.largestSequence = seq
        }
        properties.smallestSequence = min(properties.smallestSequence, seq)
        properties.largestSequence = max(properties.largestSequence, seq)
        properties.entryCount += 1
        if UInt8(truncatingIfNeeded: trailer) == ValueKind.deletion.rawValue { properties.deletionCount += 1 }
        properties.rawKeyBytes += UInt64(ikey.count)
        properties.rawValueBytes += UInt64(value.count)
        let userKey = UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)])
        if filter != nil {
            let h = bloomHash(userKey)
            // Another version of the last user key adds nothing (the keys are compared only
            // when the hashes match).
            if h != lastUserKeyHash || !previousKeyHasUserKey(userKey) {
                filter!.add(userKeyHash: h)
                lastUserKeyHash = h
            }
        }
        dataBlock.add(ikey, value)
        if dataBlock.estimatedSize >= options.blockSize { try flushDataBlock() }
    }

    /// Whether the entry added last has user key `userKey` (the open block's last key, or the
    /// last key of the block finished before it).
    private func previousKeyHasUserKey(_ userKey: UnsafeRawBufferPointer) -> Bool {
        @inline(__always) func same(_ k: UnsafeRawBufferPointer) -> Bool {
            k.count == userKey.count + 8
                && compareBytes(UnsafeRawBufferPointer(rebasing: k[0..<userKey.count]), userKey) == 0
        }
        return dataBlock.isEmpty ? same(lastKey.view) : dataBlock.withLastKey(same)
    }

    /// Finishes the data block straight into `pending` (compressed through `scratch`): no
    /// allocation per block once the buffers have grown.
    private func flushDataBlock() throws {
        guard !dataBlock.isEmpty else { return }
        let start = pending.count
        let compression = options.compression
        dataBlock.withLastKey { lastKey.set($0) }
        let type = dataBlock.finish { raw in
            appendStoredBlock(raw, compression: compression, to: &pending, scratch: &scratch)
        }
        let stored = pending.count - start
        let handle = BlockHandle(offset: offset + UInt64(start), size: UInt64(stored - blockTrailerSize))
        properties.dataBlockCount += 1
        properties.dataBytes += UInt64(stored)
        if type == .lz4 { properties.compressedBlockCount += 1 }
        handleBytes.removeAll(keepingCapacity: true)
        handle.encode(into: &handleBytes)
        handleBytes.withUnsafeBytes { indexBlock.add(lastKey.view, $0) }
        if pending.count >= 256 << 10 { try flushPending() }
    }

    /// CRC32C of every byte written so far (the whole file once finished): recorded in the
    /// manifest and in checkpoint metadata so copies can be verified without parsing.
    private(set) var fileChecksum: UInt32 = 0

    private func flushPending() throws {
        guard !pending.isEmpty else { return }
        fileChecksum = pending.withUnsafeBytes { CRC32C.extend(fileChecksum, $0) }
        try file.append(pending)
        offset += UInt64(pending.count)
        pending.removeAll(keepingCapacity: true)
        if options.bytesPerSync > 0 && offset - writebackOffset >= UInt64(options.bytesPerSync) {
            try file.startWriteback()
            writebackOffset = offset
        }
    }

    private func writeRawBlock(_ raw: [UInt8], compression: Compression) -> BlockHandle {
        let (stored, _) = encodeBlockForStorage(raw, compression: compression)
        let handle = BlockHandle(offset: offset + UInt64(pending.count), size: UInt64(stored.count - blockTrailerSize))
        pending.append(contentsOf: stored)
        return handle
    }

    /// Writes the meta blocks and footer, fsyncs and closes the file. Returns the file size.
    func finish(sync: Bool = true) throws -> UInt64 {
        precondition(!finished)
        finished = true
        try flushDataBlock()
        properties.largestKey = [UInt8](lastKey.view)
        var filterHandle = BlockHandle(offset: 0, size: 0)
        if let f = filter, !f.isEmpty {
            filterHandle = writeRawBlock(f.finish(), compression: .none)
        }
        let propsHandle = writeRawBlock(properties.encode(), compression: .none)
        let indexHandle = writeRawBlock(indexBlock.finish(), compression: .none)
        pending.append(contentsOf: Footer(index: indexHandle, filter: filterHandle, properties: propsHandle).encode())
        try flushPending()
        if sync { try file.sync() }
        try file.close()
        return offset
    }

    /// Finishes the table and describes it for the manifest.
    func finish(number: UInt64, sync: Bool = true) throws -> FileMetaData {
        let size = try finish(sync: sync)
        return FileMetaData(
            number: number, size: size, smallest: properties.smallestKey, largest: properties.largestKey,
            checksum: fileChecksum)
    }

    /// Closes the file without finishing it (the caller deletes it).
    func abandon() {
        finished = true
        try? file.close()
    }
}
