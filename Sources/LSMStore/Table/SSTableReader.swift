import CPlatform

/// Key of a cached block: the table's file number and the block's offset.
struct BlockCacheKey: Hashable, Sendable {
    let fileNumber: UInt64
    let offset: UInt64
}

typealias BlockCache = ClockCache<BlockCacheKey, Block>

/// An open SST: footer, index, filter and properties are read and verified when opened;
/// data blocks are read on demand through the block cache.
final class SSTableReader: @unchecked Sendable {
    let fileNumber: UInt64
    let file: any RandomAccessFile
    let fileSize: UInt64
    let properties: TableProperties
    /// The bloom filter's bytes (`BloomFilter`), nil without one, and a view of them (valid
    /// while the reader lives): a lookup reads them without touching a reference count.
    private let filterContents: BlockContents?
    private let filterBits: UnsafeRawBufferPointer?
    let indexKeys: [[UInt8]]
    let indexHandles: [BlockHandle]
    /// The index keys packed into one buffer (`indexOffsets[i]..<indexOffsets[i+1]`), so the
    /// binary search of a point lookup touches no reference counts.
    private let packedIndex: [UInt8]
    private let indexOffsets: [Int]
    /// The first 16 bytes of each index key's user key, in block order: the binary search
    /// compares these, one array of 16-byte entries, and reads a whole key only on a tie.
    private let indexPrefixes: [UserKeyPrefix]
    let cache: BlockCache?

    var path: String { file.path }

    /// Opens the table at `path`; `mapped`: through `FileSystem.openMapped`.
    static func open(
        fileSystem fs: any FileSystem, path: String, fileNumber: UInt64, cache: BlockCache?, mapped: Bool = false
    ) throws -> SSTableReader {
        let file = try mapped ? fs.openMapped(path) : fs.openRandomAccess(path)
        return try SSTableReader(file: file, fileNumber: fileNumber, cache: cache)
    }

    init(file: any RandomAccessFile, fileNumber: UInt64, cache: BlockCache?) throws {
        self.file = file
        self.fileNumber = fileNumber
        self.cache = cache
        let size = try file.size()
        fileSize = size
        guard size >= UInt64(Footer.size) else {
            throw LSMError.corruption(file: file.path, offset: 0, reason: "file too short to be an SST (\(size) bytes)")
        }
        let footerOffset = size - UInt64(Footer.size)
        let footer = try Footer.decode(
            try file.readExactly(at: footerOffset, count: Footer.size), fileName: file.path, fileOffset: footerOffset)
        func checkHandle(_ h: BlockHandle, _ what: String) throws {
            let trailer = UInt64(blockTrailerSize)
            guard h.offset <= footerOffset, footerOffset - h.offset >= trailer,
                h.size <= footerOffset - h.offset - trailer
            else {
                throw LSMError.corruption(file: file.path, offset: footerOffset, reason: "\(what) handle out of range")
            }
        }
        try checkHandle(footer.index, "index")
        try checkHandle(footer.properties, "properties")
        let propsBlock = try readBlockContents(file, footer.properties)
        guard let props = TableProperties.decode(propsBlock.bytes) else {
            throw LSMError.corruption(file: file.path, offset: footer.properties.offset, reason: "bad properties block")
        }
        properties = props
        if footer.filter.size > 0 {
            try checkHandle(footer.filter, "filter")
            let contents = try readBlockContents(file, footer.filter)
            filterContents = contents
            filterBits = contents.buffer
        } else {
            filterContents = nil
            filterBits = nil
        }
        let indexContents = try readBlockContents(file, footer.index)
        let index = try Block(indexContents, fileName: file.path, fileOffset: footer.index.offset)
        var keys: [[UInt8]] = []
        var handles: [BlockHandle] = []
        for (k, v) in try index.allEntries() {
            guard let h = BlockHandle.decode(v), k.count >= 8 else {
                throw LSMError.corruption(file: file.path, offset: footer.index.offset, reason: "bad index entry")
            }
            try checkHandle(h, "data block")
            if let last = keys.last, compareInternal(last, k) >= 0 {
                throw LSMError.corruption(
                    file: file.path, offset: footer.index.offset, reason: "index keys out of order")
            }
            keys.append(k)
            handles.append(h)
        }
        indexKeys = keys
        indexHandles = handles
        var packed = [UInt8]()
        var offsets = [0]
        var prefixes: [UserKeyPrefix] = []
        prefixes.reserveCapacity(keys.count)
        for k in keys {
            packed.append(contentsOf: k)
            offsets.append(packed.count)
            prefixes.append(k.withUnsafeBytes { UserKeyPrefix(ofInternalKey: $0) })
        }
        indexPrefixes = prefixes
        packedIndex = packed
        indexOffsets = offsets
    }

    /// Whether the table has a bloom filter.
    var hasFilter: Bool { filterBits != nil }

    /// Starts loading the cache line of the bloom filter that a lookup of a user key hashing
    /// to `userKeyHash` reads: a point read prefetches the lines of all the L0 tables it will
    /// ask before asking the first, so their cache misses overlap.
    @inline(__always)
    func prefetchFilter(userKeyHash: UInt64) {
        if let filterBits, let line = BloomFilter.probedLine(bits: filterBits, userKeyHash: userKeyHash) {
            lsm_prefetch(line)
        }
    }

    /// What a block of `rawLength` uncompressed bytes costs in the block cache.
    private static func cacheCharge(_ rawLength: Int) -> Int { rawLength + 64 }

    /// Data block `i`, from the cache or disk (verified). A bulk read (`fillCache` false:
    /// compaction, verification) reads from disk and leaves the cache alone: it reads each
    /// block once, so a lookup would seldom hit, and each lookup takes the cache's lock, which
    /// a compaction thread at a low CPU priority could hold while it waits for a core,
    /// keeping point reads waiting behind it.
    func dataBlock(_ i: Int, fillCache: Bool = true) throws -> Block {
        let h = indexHandles[i]
        let key = BlockCacheKey(fileNumber: fileNumber, offset: h.offset)
        if fillCache, let cache, let b = cache.get(key) { return b }
        let contents = try readBlockContents(file, h)
        let block = try Block(contents, fileName: file.path, fileOffset: h.offset)
        let charge = Self.cacheCharge(contents.count)
        if fillCache, let cache, cache.shouldAdmit(key, charge: charge) { cache.insert(key, block, charge: charge) }
        return block
    }

    /// Index of the first data block whose last key is >= `ikey`, or `indexKeys.count`.
    func blockIndex(for ikey: [UInt8]) -> Int { ikey.withUnsafeBytes { blockIndex(for: $0) } }

    func blockIndex(for t: UnsafeRawBufferPointer) -> Int {
        var lo = 0, hi = indexHandles.count
        let target = UserKeyPrefix(ofInternalKey: t)
        packedIndex.withUnsafeBytes { packed in
            indexOffsets.withUnsafeBufferPointer { offsets in
                indexPrefixes.withUnsafeBufferPointer { prefixes in
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        let p = prefixes[mid]
                        let before: Bool
                        if p != target {
                            #if DEBUG
                                ComparisonCounter.record()
                            #endif
                            before = p.precedes(target)
                        } else {
                            let key = UnsafeRawBufferPointer(rebasing: packed[offsets[mid]..<offsets[mid + 1]])
                            before = compareInternal(key, t) < 0
                        }
                        if before { lo = mid + 1 } else { hi = mid }
                    }
                }
            }
        }
        return lo
    }

    /// Looks up internal key `lookup` (whose user key hashes to `userKeyHash`, see `bloomHash`):
    /// the first entry at or after it,
    /// if it has the same user key, is handed to `body` as its kind and a borrowed view of
    /// its value (valid during the call). `.absent` when the table has no entry for the key.
    func get<R>(
        _ lookup: UnsafeRawBufferPointer, userKeyHash: UInt64,
        _ body: (ValueKind?, UnsafeRawBufferPointer) throws -> R
    ) throws -> TableLookup<R> {
        if let filterBits, !BloomFilter.mayContain(bits: filterBits, userKeyHash: userKeyHash) { return .absent }
        let i = blockIndex(for: lookup)
        guard i < indexKeys.count else { return .absent }
        let h = indexHandles[i]
        let key = BlockCacheKey(fileNumber: fileNumber, offset: h.offset)
        if let cache, let block = cache.get(key) { return try Self.lookUp(lookup, in: block, body) }
        return try withStoredBlock(file, h) { stored in
            let charge = Self.cacheCharge(stored.rawLength)
            if let cache, cache.shouldAdmit(key, charge: charge) {
                let block = try Block(
                    stored.contents(file: file, handle: h), fileName: file.path, fileOffset: h.offset)
                cache.insert(key, block, charge: charge)
                return try Self.lookUp(lookup, in: block, body)
            }
            // Not kept: decoded into the thread's scratch memory, or searched where it was
            // read when stored raw. Nothing is allocated.
            if stored.type == .uncompressed, let base = stored.payload.baseAddress {
                return try lookUp(lookup, inView: base, count: stored.rawLength, handle: h, body)
            }
            return try withScratchBuffer(byteCount: stored.rawLength) { out in
                let base = out.baseAddress!  // at least one byte is handed over
                try stored.decode(into: base, file: file, handle: h)
                return try lookUp(lookup, inView: UnsafeRawPointer(base), count: stored.rawLength, handle: h, body)
            }
        }
    }

    /// The lookup of `get` in a block the cache holds.
    private static func lookUp<R>(
        _ lookup: UnsafeRawBufferPointer, in block: Block, _ body: (ValueKind?, UnsafeRawBufferPointer) throws -> R
    ) throws -> TableLookup<R> {
        guard let (kind, range) = try block.find(lookup) else { return .absent }
        return try withExtendedLifetime(block) {
            .found(
                try body(
                    ValueKind(rawValue: kind),
                    UnsafeRawBufferPointer(start: block.contents.base + range.lowerBound, count: range.count)))
        }
    }

    /// The lookup of `get` in the `count` bytes of an uncompressed block at `base`, which
    /// live for the call.
    private func lookUp<R>(
        _ lookup: UnsafeRawBufferPointer, inView base: UnsafeRawPointer, count: Int, handle: BlockHandle,
        _ body: (ValueKind?, UnsafeRawBufferPointer) throws -> R
    ) throws -> TableLookup<R> {
        let found: (kind: UInt8, value: Range<Int>)?
        do {
            found = try BlockView(base, count: count).find(lookup)
        } catch {
            throw blockDamage(file, handle, error.reason)
        }
        guard let (kind, range) = found else { return .absent }
        return .found(
            try body(
                ValueKind(rawValue: kind), UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
        )
    }

    func makeIterator(fillCache: Bool = true) -> TableIterator { TableIterator(self, fillCache: fillCache) }

    /// Reads every data block from disk (not the cache), checking each checksum and entry
    /// order. Returns the number of entries.
    func verify() throws -> UInt64 {
        var count: UInt64 = 0
        var prev: [UInt8]? = nil
        for i in indexKeys.indices {
            let h = indexHandles[i]
            let block = try Block(try readBlockContents(file, h), fileName: file.path, fileOffset: h.offset)
            let it = block.makeIterator()
            try it.seekToFirst()
            while it.isValid {
                let k = it.key
                guard k.count >= 8, InternalKey.kind(k) != nil else {
                    throw LSMError.corruption(file: file.path, offset: h.offset, reason: "malformed internal key")
                }
                if let p = prev, compareInternal(p, k) >= 0 {
                    throw LSMError.corruption(file: file.path, offset: h.offset, reason: "keys out of order")
                }
                prev = k
                count += 1
                try it.next()
            }
            if let p = prev, compareInternal(p, indexKeys[i]) != 0 {
                throw LSMError.corruption(
                    file: file.path, offset: h.offset, reason: "block's last key differs from its index entry")
            }
        }
        if count != properties.entryCount {
            throw LSMError.corruption(
                file: file.path, offset: 0,
                reason: "properties say \(properties.entryCount) entries, blocks hold \(count)")
        }
        return count
    }
}

/// What a table lookup found.
enum TableLookup<R> {
    /// No entry for the user key in this table.
    case absent
    /// The newest visible entry's result (`body` was called with its kind and value).
    case found(R)
}

/// Iterates every entry of a table, block after block.
final class TableIterator: InternalIterator {
    private let table: SSTableReader
    private let fillCache: Bool
    private var blockIndex = 0
    @exclusivity(unchecked) private var blockIter = HeldObject<BlockIterator>()

    init(_ table: SSTableReader, fillCache: Bool) {
        self.table = table
        self.fillCache = fillCache
    }

    var isValid: Bool { blockIter.with { $0.isValid } ?? false }
    var keyView: UnsafeRawBufferPointer {
        blockIter.with { $0.keyView } ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }
    var valueView: UnsafeRawBufferPointer {
        blockIter.with { $0.valueView } ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }

    private func load(_ i: Int) throws {
        blockIndex = i
        blockIter.set(i < table.indexKeys.count ? try table.dataBlock(i, fillCache: fillCache).makeIterator() : nil)
    }

    private func skipEmptyBlocks() throws {
        while blockIter.with({ !$0.isValid }) == true {
            try load(blockIndex + 1)
            try blockIter.with { try $0.seekToFirst() }
        }
    }

    func seekToFirst() throws {
        try load(0)
        try blockIter.with { try $0.seekToFirst() }
        try skipEmptyBlocks()
    }

    func seek(_ target: [UInt8]) throws {
        try load(table.blockIndex(for: target))
        try blockIter.with { try $0.seek(target) }
        try skipEmptyBlocks()
    }

    func next() throws {
        try blockIter.with { try $0.next() }
        try skipEmptyBlocks()
    }
}
