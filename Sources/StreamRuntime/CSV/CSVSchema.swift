/// How a CSV column's text is parsed.
public enum CSVColumnType: Sendable, Equatable, Hashable, Codable {
    /// A base-10 integer with an optional sign, parsed to `Int64`.
    case int64
    /// A decimal number with at most 2 fractional digits, parsed to `Int64` hundredths:
    /// `"123.45"` → 12345, `"7"` → 700, `"-1.5"` → -150. More decimals, an exponent, or a
    /// value outside `Int64` hundredths is malformed.
    case decimal2
    /// Text, which must be valid UTF-8.
    case string
}

/// A column the reader wants from the file: looked up by `name` in the header.
public struct CSVColumn: Sendable, Equatable, Hashable, Codable {
    /// The header name, matched exactly (case-sensitive, no trimming).
    public var name: String
    /// How values are parsed.
    public var type: CSVColumnType
    /// A required column must be in the header, and a row where it is empty is dropped (as
    /// pandas' `dropna`). An optional column may be absent from the header; then, and when the
    /// field is empty, its value is `.missing`.
    public var required: Bool

    /// Creates a column description.
    public init(name: String, type: CSVColumnType, required: Bool) {
        self.name = name
        self.type = type
        self.required = required
    }
}

/// The columns a source reads, resolved against a file's header row: each wanted column is
/// found by name, in whatever order the file has it; extra columns in the file are ignored.
public struct CSVSchema: Sendable, Equatable {
    /// The file's header names, in file order.
    public let header: [String]
    /// The wanted columns; `CSVRow.values` follows this order.
    public let columns: [CSVColumn]
    /// For each wanted column, its field index in the file, or nil when an optional column is
    /// absent from the header.
    public let fieldIndices: [Int?]

    /// Resolves `columns` against `header`. Throws `CSVError.missingColumn` (naming the column
    /// and listing the header) when a required column is absent. When a name appears more than
    /// once in the header, its first occurrence is used.
    public init(header: [String], columns: [CSVColumn], path: String = "CSV") throws {
        var firstIndex: [String: Int] = [:]
        for (i, name) in header.enumerated() where firstIndex[name] == nil { firstIndex[name] = i }
        var indices: [Int?] = []
        indices.reserveCapacity(columns.count)
        for column in columns {
            let index = firstIndex[column.name]
            if index == nil && column.required {
                throw CSVError.missingColumn(path: path, column: column.name, header: header)
            }
            indices.append(index)
        }
        self.header = header
        self.columns = columns
        self.fieldIndices = indices
    }

    /// The position of the column named `name` in `columns` (and so in `CSVRow.values`).
    public func index(of name: String) -> Int? {
        columns.firstIndex { $0.name == name }
    }

    /// Whether the file's header has a column named `name`.
    public func fileHasColumn(_ name: String) -> Bool { header.contains(name) }
}
