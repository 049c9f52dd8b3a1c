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
