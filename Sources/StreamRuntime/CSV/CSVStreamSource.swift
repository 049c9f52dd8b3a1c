import Foundation

/// A CSV file as a job's source: rows are typed by `columns`, rows with an empty required
/// column are dropped and counted (as the original experiment's `dropna`), and malformed rows
/// fail the job (naming the line) or are skipped and counted, by `policy`. The position saved
/// in each checkpoint is the byte offset after the last row read plus the counters, so a
/// restart resumes right after the last checkpointed row.
public struct CSVStreamSource: StreamSource {
    /// The file.
    public let path: String
    /// The columns to read.
    public let columns: [CSVColumn]
    /// What to do with malformed rows.
    public let policy: MalformedRowPolicy
    private var source: CSVSource?

    /// A source reading `path`.
    public init(path: String, columns: [CSVColumn], policy: MalformedRowPolicy = .fail) {
        self.path = path
        self.columns = columns
        self.policy = policy
    }

    /// See `StreamSource`.
    public mutating func open(at position: [UInt8]?) throws {
        var resume: CSVPosition? = nil
        if let position {
            do {
                resume = try JSONDecoder().decode(CSVPosition.self, from: Data(position))
            } catch {
                throw StreamError.checkpoint("bad CSV source position: \(error)")
            }
        }
        source = try CSVSource(path: path, columns: columns, policy: policy, resumingAt: resume)
    }

    /// See `StreamSource`.
    public mutating func next() throws -> CSVRow? {
        guard let source else { throw StreamError.invalidJob("CSV source used before open") }
        return try source.next()
    }

    /// See `StreamSource`.
    public func position() -> [UInt8] {
        guard let source, let data = try? JSONEncoder().encode(source.position) else { return [] }
        return [UInt8](data)
    }

    /// See `StreamSource`.
    public var counters: [String: Int] {
        guard let s = source else { return [:] }
        return ["rows read": s.rowsRead, "rows dropped": s.rowsDropped, "rows malformed": s.rowsMalformed]
    }
}
