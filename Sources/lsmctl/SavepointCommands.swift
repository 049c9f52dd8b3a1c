import ArgumentParser
import LSMStore
import StreamRuntime

// Commands that read a stream job's savepoint (docs/FORMAT.md §11) in a folder or in S3.

/// Prints what a savepoint holds.
func printSavepoint(_ info: SavepointInfo, _ out: inout Output) throws {
    try out.line("savepoint: \(info.location)")
    try out.line("id: \(info.id)")
    try out.line("created at (ms since 1970): \(info.createdAtMillis)")
    try out.line("operator: \(info.operatorID)")
    try out.line("source records: \(info.sourceRecords)")
    try out.line("source position: \(info.sourcePosition.count) bytes, \(Hex.encode(info.sourcePosition))")
    try out.line("parallelism: \(info.parallelism)")
    try out.line("key groups: \(info.maxParallelism)")
    try out.line("entries: \(info.entries)")
    try out.line("bytes: \(info.bytes)")
    for s in info.states {
        let codecs =
            s.kind == "map"
            ? "keys \(s.keyCodec) v\(s.keyCodecVersion), values \(s.valueCodec) v\(s.valueCodecVersion)"
            : "\(s.valueCodec) v\(s.valueCodecVersion)"
        try out.line(
            "state \"\(s.name)\": \(s.kind), \(codecs)\(s.hasTtl ? ", time to live" : ""), \(s.entries) entries")
    }
    for p in info.parts {
        try out.line(
            "part \(p.name): key groups \(p.keyGroups.lowerBound)...\(p.keyGroups.upperBound), \(p.entries) entries, \(p.bytes) bytes"
        )
    }
}

/// `lsmctl savepoint-info DIR`: what a savepoint holds, from its metadata.
struct SavepointInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "savepoint-info",
        abstract: "Show what a stream job's savepoint holds: states, key groups, entries, source position, size.",
        discussion: """
            Reads the savepoint's _savepoint metadata (its checksum is checked; the parts are \
            not read: verify-savepoint reads them). The location must exist.
            """)

    @Argument(help: "The savepoint: a folder or s3://BUCKET/PREFIX.")
    var location: String

    @OptionGroup var s3: S3Options

    func run() throws {
        var out = Output()
        let info = try Savepoints.info(
            in: try openExistingStorage(location, endpoint: s3.endpoint), location: location)
        try printSavepoint(info, &out)
        try out.flush()
    }
}

/// `lsmctl verify-savepoint DIR`: reads and checks every part.
struct VerifySavepoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-savepoint",
        abstract: "Check every checksum of a stream job's savepoint.",
        discussion: """
            Checks the metadata's checksum, then each part's size and checksum, each key-group \
            block's checksum, the order of groups and keys, every entry's state, and the entry \
            counts. Prints what was checked, then OK; on damage, prints the problem (naming \
            the object and offset) on standard error and exits with status 1.
            """)

    @Argument(help: "The savepoint: a folder or s3://BUCKET/PREFIX.")
    var location: String

    @OptionGroup var s3: S3Options

    func run() throws {
        var out = Output()
        let storage = try openExistingStorage(location, endpoint: s3.endpoint)
        // No savepoint at all is an error (status 2), not damage.
        guard try storage.size("_savepoint") != nil else {
            throw CLIError("\(location) holds no savepoint (no _savepoint)")
        }
        let info: SavepointInfo
        do {
            info = try Savepoints.verify(in: storage, location: location)
        } catch let e as StreamError {
            try finishVerification(&out, problems: ["\(e)"], subject: "savepoint \(location) has")
            return
        }
        try out.line("parts checked: \(info.parts.count)")
        try out.line("entries checked: \(info.entries)")
        try out.line("bytes checked: \(info.bytes)")
        try finishVerification(&out, problems: [String](), subject: "savepoint \(location) has")
    }
}
