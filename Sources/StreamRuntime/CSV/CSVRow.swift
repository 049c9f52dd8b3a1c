/// A typed data row.
public struct CSVRow: Sendable, Equatable {
    /// The 1-based line on which the row starts (the header is line 1).
    public let lineNumber: Int
    /// One value per schema column, in `CSVSchema.columns` order.
    public let values: [CSVValue]

    /// Creates a row.
    public init(lineNumber: Int, values: [CSVValue]) {
        self.lineNumber = lineNumber
        self.values = values
    }

    /// The value of the schema column at `index`.
    @inlinable
    public subscript(index: Int) -> CSVValue { values[index] }
}

/// One typed value of a row.
public enum CSVValue: Sendable, Equatable, Hashable {
    /// An `.int64` column's value.
    case int(Int64)
    /// A `.decimal2` column's value in hundredths (`12345` is 123.45).
    case decimal(Int64)
    /// A `.string` column's value.
    case string(String)
    /// The field was empty, or the optional column is not in the file.
    case missing

    /// The integer of `.int` or the hundredths of `.decimal`; nil otherwise.
    @inlinable
    public var int64: Int64? {
        switch self {
        case let .int(v), let .decimal(v): return v
        default: return nil
        }
    }

    /// The text of `.string`; nil otherwise.
    @inlinable
    public var string: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// Whether the value is `.missing`.
    @inlinable
    public var isMissing: Bool {
        if case .missing = self { return true }
        return false
    }
}
