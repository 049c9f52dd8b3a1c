/// Where a `CSVSource` is in its file, with its counters: saved in checkpoints, and given back
/// to `CSVSource(path:columns:policy:resumingAt:)` to continue right after the last row read.
public struct CSVPosition: Sendable, Codable, Equatable, Hashable {
    /// File offset where the next record starts (right after the last row consumed).
    public var byteOffset: UInt64
    /// The 1-based line number at `byteOffset`.
    public var lineNumber: Int
    /// Data rows consumed so far: emitted, dropped and skipped ones.
    public var rowsRead: Int
    /// Rows dropped because a required column was empty (pandas' `dropna`).
    public var rowsDropped: Int
    /// Malformed rows skipped under `MalformedRowPolicy.skip`.
    public var rowsMalformed: Int

    /// Creates a position.
    public init(byteOffset: UInt64, lineNumber: Int, rowsRead: Int = 0, rowsDropped: Int = 0,
                rowsMalformed: Int = 0) {
        self.byteOffset = byteOffset
        self.lineNumber = lineNumber
        self.rowsRead = rowsRead
        self.rowsDropped = rowsDropped
        self.rowsMalformed = rowsMalformed
    }

    /// Rows handed out: read minus dropped minus skipped.
    public var rowsEmitted: Int { rowsRead - rowsDropped - rowsMalformed }
}
