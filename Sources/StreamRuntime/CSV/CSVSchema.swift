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
