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
