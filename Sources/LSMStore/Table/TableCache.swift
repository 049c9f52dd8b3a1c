/// Open table readers by file number, bounded by `maxOpenFiles` (CLOCK).
final class TableCache: @unchecked Sendable {
    let dir: String
    let fs: any FileSystem
    let blockCache: BlockCache?
    /// Open tables with `FileSystem.openMapped` (`Options.memoryMappedReads`).
    let mapped: Bool
    private let readers: ClockCache<UInt64, SSTableReader>

    init(dir: String, fs: any FileSystem, capacity: Int, blockCache: BlockCache?, mapped: Bool) {
        self.dir = dir
        self.fs = fs
        self.blockCache = blockCache
        self.mapped = mapped
        self.readers = ClockCache(capacity: capacity)
    }

    func reader(_ number: UInt64) throws -> SSTableReader {
        if let r = readers.get(number) { return r }
        let r = try SSTableReader.open(
            fileSystem: fs, path: FileNames.table(dir, number), fileNumber: number, cache: blockCache, mapped: mapped)
        readers.insert(number, r, charge: 1)
        return r
    }

    /// The reader of `file` for a point lookup: the one pinned in its metadata, or one from
    /// the cache, then pinned while the cache is under its capacity (so with more live files
    /// than `maxOpenFiles`, the rest stay bounded by the cache). A pinned reader's file stays
    /// open until no version references the metadata.
    func reader(for file: FileMetaData) throws -> SSTableReader {
        if let r = file.pinnedReader.load() { return r }
        let r = try reader(file.number)
        if readers.count < readers.capacity { return file.pinnedReader.storeIfNil(r) }
        return r
    }

    /// Calls `body` with the reader of `file`, which the caller keeps alive (a version holding
    /// it): a pinned reader is used without reference counting (the metadata holds it),
    /// another comes from `reader(for:)`.
    @inline(__always)
    func withReader<R>(for file: Unmanaged<FileMetaData>, _ body: (SSTableReader) throws -> R) throws -> R {
        if let pinned = file._withUnsafeGuaranteedRef({ $0.pinnedReader.loadUnmanaged() }) {
            return try pinned._withUnsafeGuaranteedRef(body)
        }
        return try body(try file._withUnsafeGuaranteedRef { try reader(for: $0) })
    }

    /// Prefetches the bloom filter line a lookup of `userKeyHash` in `file` reads, when its
    /// reader is pinned (`SSTableReader.prefetchFilter`); a hint, nothing else.
    @inline(__always)
    func prefetchFilter(of file: Unmanaged<FileMetaData>, userKeyHash: UInt64) {
        file._withUnsafeGuaranteedRef { $0.pinnedReader.loadUnmanaged() }?
            ._withUnsafeGuaranteedRef { $0.prefetchFilter(userKeyHash: userKeyHash) }
    }

    func evict(_ number: UInt64) {
        readers.erase(number)
        blockCache?.eraseAll { $0.fileNumber == number }
    }
}
