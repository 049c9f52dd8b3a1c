/// What a `CSVSource` does with a row it cannot parse.
public enum MalformedRowPolicy: Sendable, Equatable, Hashable, Codable {
    /// Throw `CSVError.malformedRow` naming the line and quoting the row.
    case fail
    /// Count the row in `rowsMalformed` and go on with the next one.
    case skip
}
