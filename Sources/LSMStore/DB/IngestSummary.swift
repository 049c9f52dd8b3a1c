/// What one ingest (`LSMStore.ingest(_:)`, `LSMStore.ingestSorted(_:)`) wrote.
public struct IngestSummary: Sendable, Equatable {
    /// Entries written, values and deletions.
    public var entries: Int
    /// New level-0 tables (one ingest is cut into several at partition boundaries under the
    /// partitioned compaction style).
    public var tables: Int
    /// Bytes of the new tables' files.
    public var fileBytes: UInt64
    /// Stored bytes of the new tables' data blocks, block trailers included: the entries'
    /// size as written (prefix-compressed keys, compressed blocks), without each table's
    /// filter, properties, index and footer.
    public var dataBlockBytes: UInt64

    /// A summary of the given figures (all zero: an ingest that wrote nothing).
    public init(entries: Int = 0, tables: Int = 0, fileBytes: UInt64 = 0, dataBlockBytes: UInt64 = 0) {
        self.entries = entries
        self.tables = tables
        self.fileBytes = fileBytes
        self.dataBlockBytes = dataBlockBytes
    }
}
