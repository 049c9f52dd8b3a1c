/// How many bytes entries take once stored as table data blocks: prefix-compressed keys,
/// restart points, LZ4 when it pays, and the 5-byte block trailers. The checkpoint
/// benchmark uses it for the lower bound of an incremental checkpoint: the stored size of
/// exactly the state that changed.
public enum StoredSize {
    /// Stored size of `entries` (sorted by key, unique) as data blocks of `options`.
    public static func dataBlockBytes(sortedEntries entries: [(key: [UInt8], value: [UInt8])], options: Options = Options()) -> Int {
        var builder = BlockBuilder(restartInterval: options.blockRestartInterval)
        var total = 0
        func flush() {
            guard !builder.isEmpty else { return }
            total += encodeBlockForStorage(builder.finish(), compression: options.compression).bytes.count
        }
        for (k, v) in entries {
            builder.add(InternalKey.make(k, 1, .value), v)
            if builder.estimatedSize >= options.blockSize { flush() }
        }
        flush()
        return total
    }
}
