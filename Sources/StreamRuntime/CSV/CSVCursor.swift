/// The mutable core of a `CSVSource`: turns the reader's records into typed rows and keeps the
/// position and counters. A struct so the per-row work runs under a single exclusivity access.
struct CSVCursor {
    private let path: String
    private let policy: MalformedRowPolicy
    private let columnNames: [String]
    private let headerFieldCount: Int
    /// Field index in the file per wanted column; -1 when an optional column is absent.
    private let fieldIndices: [Int]
    private let types: [CSVColumnType]
    private let required: [Bool]

    private(set) var position: CSVPosition
    /// Reused between rows: when the caller has let go of the previous row, filling it in
    /// place allocates nothing.
    private var values: [CSVValue]
    private var malformedReason = ""

    var rowsRead: Int { position.rowsRead }
    var rowsDropped: Int { position.rowsDropped }
    var rowsMalformed: Int { position.rowsMalformed }

    init(schema: CSVSchema, policy: MalformedRowPolicy, path: String, at position: CSVPosition) {
        self.path = path
        self.policy = policy
        columnNames = schema.columns.map(\.name)
        headerFieldCount = schema.header.count
        fieldIndices = schema.fieldIndices.map { $0 ?? -1 }
        types = schema.columns.map(\.type)
        required = schema.columns.map(\.required)
        values = Array(repeating: .missing, count: schema.columns.count)
        self.position = position
    }

    private enum Outcome { case emit, dropped, malformed }

    /// The next row the reader yields that is neither dropped nor (under `.skip`) malformed.
    mutating func nextRow(from reader: CSVReader) throws -> CSVRow? {
        while try reader.nextRecord() {
            let outcome = parse(reader)
            if outcome == .malformed && policy == .fail {
                throw CSVError.malformedRow(
                    path: path, line: reader.recordLineNumber,
                    content: reader.recordText(maxCharacters: 200),
                    reason: malformedReason)
            }
            position.byteOffset = reader.nextOffset
            position.lineNumber = reader.nextLineNumber
            position.rowsRead += 1
            switch outcome {
            case .emit: return CSVRow(lineNumber: reader.recordLineNumber, values: values)
            case .dropped: position.rowsDropped += 1
            case .malformed: position.rowsMalformed += 1
            }
        }
        return nil
    }

    /// Fills `values` from the reader's current record.
    private mutating func parse(_ reader: CSVReader) -> Outcome {
        if let issue = reader.recordIssue {
            malformedReason = issue.reason
            return .malformed
        }
        guard reader.fieldCount == headerFieldCount else {
            malformedReason = "expected \(headerFieldCount) fields as in the header, found \(reader.fieldCount)"
            return .malformed
        }
        var dropped = false
        for k in 0..<fieldIndices.count {
            let fieldIndex = fieldIndices[k]
            if fieldIndex < 0 {
                values[k] = .missing
                continue
            }
            let raw = reader.rawField(fieldIndex)
            if raw.isEmpty {
                values[k] = .missing
                if required[k] { dropped = true }
                continue
            }
            switch types[k] {
            case .int64:
                guard !reader.fieldHasDoubledQuotes(fieldIndex), let v = CSVFieldParser.int64(raw) else {
                    return malformed(reader, k, fieldIndex, "is not an integer in the Int64 range")
                }
                values[k] = .int(v)
            case .decimal2:
                guard !reader.fieldHasDoubledQuotes(fieldIndex), let v = CSVFieldParser.decimal2(raw) else {
                    return malformed(
                        reader, k, fieldIndex,
                        "is not a number with at most 2 decimals in the Int64 range of hundredths")
                }
                values[k] = .decimal(v)
            case .string:
                guard let s = reader.withField(fieldIndex, CSVFieldParser.utf8String) else {
                    return malformed(reader, k, fieldIndex, "is not valid UTF-8")
                }
                values[k] = .string(s)
            }
        }
        return dropped ? .dropped : .emit
    }

    private mutating func malformed(
        _ reader: CSVReader, _ column: Int, _ fieldIndex: Int,
        _ what: String
    ) -> Outcome {
        var text = reader.fieldString(fieldIndex)
        if text.count > 40 { text = String(text.prefix(40)) + "…" }
        malformedReason = "column \"\(columnNames[column])\": \"\(text)\" \(what)"
        return .malformed
    }
}
