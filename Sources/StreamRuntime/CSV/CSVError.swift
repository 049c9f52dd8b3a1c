import Glibc

/// Everything that can go wrong while reading a CSV file. Each case names the file, and where
/// it applies the 1-based line number, so the message alone locates the problem.
public enum CSVError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A system call failed on `path` (`operation` is e.g. "open", "read"; `errno` its code).
    case io(path: String, operation: String, errno: Int32)
    /// The input file does not exist.
    case fileNotFound(path: String)
    /// The file is empty or holds only blank lines, so there is no header row.
    case noHeader(path: String)
    /// A required column is not in the header; `header` lists the header's column names.
    case missingColumn(path: String, column: String, header: [String])
    /// A data row cannot be read under the schema (wrong number of fields, a value that does
    /// not parse, invalid UTF-8, a broken quote). `content` is the row's text, truncated to
    /// about 200 characters.
    case malformedRow(path: String, line: Int, content: String, reason: String)
    /// The record starting at `line` is longer than the reader's limit of `limit` bytes
    /// (often a quote that is never closed).
    case recordTooLong(path: String, line: Int, limit: Int)
    /// A saved position does not fit the file (past its end, inside the header, or not at the
    /// start of a record: the file changed since the position was saved).
    case invalidPosition(path: String, byteOffset: UInt64, reason: String)

    /// A one-line, human-readable message.
    public var description: String {
        switch self {
        case let .io(path, operation, code):
            return "\(path): \(operation) failed: \(csvErrnoDescription(code)) (errno \(code))"
        case let .fileNotFound(path):
            return "\(path): no such file"
        case let .noHeader(path):
            return "\(path) has no header row (the file is empty or holds only blank lines)"
        case let .missingColumn(path, column, header):
            let listed = header.map { "\"\($0)\"" }.joined(separator: ", ")
            return "\(path): required column \"\(column)\" is missing; the header has [\(listed)]"
        case let .malformedRow(path, line, content, reason):
            return "\(path) line \(line): malformed row (\(reason)): \"\(content)\""
        case let .recordTooLong(path, line, limit):
            return "\(path) line \(line): record longer than the limit of \(limit) bytes"
                + " (an unclosed quote makes the record run on)"
        case let .invalidPosition(path, byteOffset, reason):
            return "\(path): cannot resume at byte offset \(byteOffset): \(reason)"
        }
    }

    /// The line number the error refers to, when it refers to one.
    public var lineNumber: Int? {
        switch self {
        case let .malformedRow(_, line, _, _), let .recordTooLong(_, line, _): return line
        default: return nil
        }
    }
}

func csvErrnoDescription(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "unknown error" }
    return String(cString: s)
}
