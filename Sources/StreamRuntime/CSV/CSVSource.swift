/// Reads typed rows from a CSV file with a header row.
///
/// The header is the first non-blank record; the wanted `columns` are found in it by name
/// (`CSVSchema`). Each data record becomes a `CSVRow` whose values follow the columns' order,
/// except:
/// - a row where a required column is empty is dropped and counted in `rowsDropped` (pandas'
///   `dropna`);
/// - a malformed row (field count differing from the header's, a value that does not parse
///   as its column's type, invalid UTF-8 in a string column, a broken quote) throws
///   `CSVError.malformedRow` under `.fail`, or is counted in `rowsMalformed` and skipped
///   under `.skip`.
///
/// Empty fields (including a quoted `""`) are `.missing`. Blank lines are skipped. An empty
/// file, or one holding only blank lines, is `CSVError.noHeader`; a header alone gives zero
/// rows.
///
/// `position` after a row is where reading continues; `CSVSource(path:columns:policy:resumingAt:)`
/// reopens the file there with the counters restored. After an error the source is stopped:
/// every later `next()` throws the same error.
///
/// Not thread-safe: use one source from one task at a time.
public final class CSVSource {
    /// The file being read.
    public let path: String
    /// The wanted columns resolved against the file's header.
    public let schema: CSVSchema
    /// What happens to malformed rows.
    public let policy: MalformedRowPolicy

    /// Data rows consumed so far: emitted, dropped and skipped ones.
    public var rowsRead: Int { cursor.rowsRead }
    /// Rows dropped because a required column was empty.
    public var rowsDropped: Int { cursor.rowsDropped }
    /// Malformed rows skipped under `.skip`.
    public var rowsMalformed: Int { cursor.rowsMalformed }

    private let reader: CSVReader
    /// All per-row mutable state in one struct, so that a row costs one exclusivity check on
    /// this class instead of one per property access.
    private var cursor: CSVCursor
    private var failure: CSVError?

    /// The default longest record accepted, in bytes (16 MiB).
    public static let defaultMaxRecordLength = CSVReader.defaultMaxRecordLength

    /// Opens `path`, reads its header, and positions the source at the first data row, or at
    /// `position` when resuming (a position this source type reported for the same file).
    ///
    /// - Parameters:
    ///   - columns: the wanted columns; `CSVRow.values` follows their order.
    ///   - policy: what to do with malformed rows.
    ///   - position: where to resume, with the counters to restore; nil to start at the top.
    ///   - maxRecordLength: the longest record accepted, in bytes; a longer one is
    ///     `CSVError.recordTooLong` naming its line.
    /// - Throws: `CSVError.fileNotFound`, `.io`, `.noHeader`, `.missingColumn`,
    ///   `.recordTooLong` (for the header), or `.invalidPosition` when `position` does not fit
    ///   the file.
    public init(
        path: String, columns: [CSVColumn], policy: MalformedRowPolicy = .fail,
        resumingAt position: CSVPosition? = nil,
        maxRecordLength: Int = CSVSource.defaultMaxRecordLength
    ) throws {
        self.path = path
        self.policy = policy
        let reader = try CSVReader(path: path, maxRecordLength: maxRecordLength)
        guard try reader.nextRecord() else { throw CSVError.noHeader(path: path) }
        let header = reader.fieldStrings()
        schema = try CSVSchema(header: header, columns: columns, path: path)
        self.reader = reader
        let headerEnd = reader.nextOffset
        var start = CSVPosition(byteOffset: headerEnd, lineNumber: reader.nextLineNumber)
        if let position {
            try Self.validate(position, headerEnd: headerEnd, reader: reader, path: path)
            reader.seek(to: position.byteOffset, lineNumber: position.lineNumber)
            start = position
        }
        cursor = CSVCursor(schema: schema, policy: policy, path: path, at: start)
    }

    /// Where reading continues (right after the last row consumed), with the counters.
    public var position: CSVPosition { cursor.position }

    /// Rows handed out so far: read minus dropped minus skipped.
    public var rowsEmitted: Int { rowsRead - rowsDropped - rowsMalformed }

    /// The next row, or nil at the end of the file. Dropped rows, and malformed ones under
    /// `.skip`, are counted and passed over.
    ///
    /// - Throws: `CSVError.malformedRow` under `.fail`, `.recordTooLong`, `.io`. The position
    ///   and counters stay after the last good row, and later calls throw the same error.
    public func next() throws -> CSVRow? {
        if let failure { throw failure }
        do {
            return try cursor.nextRow(from: reader)
        } catch let error as CSVError {
            failure = error
            throw error
        }
    }

    private static func validate(
        _ position: CSVPosition, headerEnd: UInt64, reader: CSVReader,
        path: String
    ) throws {
        func invalid(_ reason: String) -> CSVError {
            .invalidPosition(path: path, byteOffset: position.byteOffset, reason: reason)
        }
        let size = try reader.fileSize()
        if position.byteOffset < headerEnd {
            throw invalid("it is inside the header, which ends at \(headerEnd)")
        }
        if position.byteOffset > size {
            throw invalid("the file has only \(size) bytes")
        }
        if position.byteOffset > headerEnd && position.byteOffset < size,
            try reader.fileByte(at: position.byteOffset - 1) != UInt8(ascii: "\n")
        {
            throw invalid("it is not at the start of a line; the file changed since the position was saved")
        }
        if position.lineNumber < 2 || position.rowsRead < 0 || position.rowsDropped < 0
            || position.rowsMalformed < 0 || position.rowsDropped + position.rowsMalformed > position.rowsRead
        {
            throw invalid("its line number or counters are inconsistent")
        }
    }
}

@available(*, unavailable)
extension CSVSource: Sendable {}

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
    public init(
        byteOffset: UInt64, lineNumber: Int, rowsRead: Int = 0, rowsDropped: Int = 0,
        rowsMalformed: Int = 0
    ) {
        self.byteOffset = byteOffset
        self.lineNumber = lineNumber
        self.rowsRead = rowsRead
        self.rowsDropped = rowsDropped
        self.rowsMalformed = rowsMalformed
    }

    /// Rows handed out: read minus dropped minus skipped.
    public var rowsEmitted: Int { rowsRead - rowsDropped - rowsMalformed }
}

/// What a `CSVSource` does with a row it cannot parse.
public enum MalformedRowPolicy: Sendable, Equatable, Hashable, Codable {
    /// Throw `CSVError.malformedRow` naming the line and quoting the row.
    case fail
    /// Count the row in `rowsMalformed` and go on with the next one.
    case skip
}
