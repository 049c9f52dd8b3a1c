import Foundation
import ArgumentParser
import LSMStore
import LSMStoreS3

// Commands that take, list, restore, verify and clean up checkpoints kept in a local folder
// (`LocalCheckpointStorage`) or in S3 (`s3://BUCKET/PREFIX`, `S3CheckpointStorage`). Only
// `checkpoint` creates the storage folder; the others fail with "does not exist" when it is
// missing, so a mistyped path is never silently created. A bucket is never created.

/// `--mode` of `lsmctl checkpoint`.
enum CheckpointModeArgument: String, ExpressibleByArgument, CaseIterable {
    case full
    case incremental

    /// The library's mode.
    var mode: CheckpointMode {
        switch self {
        case .full: return .full
        case .incremental: return .incremental
        }
    }
}

/// Fails unless `path` is an existing directory, so that commands which only read or tidy a
/// checkpoint storage report a missing one instead of creating it (as
/// `LocalCheckpointStorage.init` would).
func requireExistingStorage(_ path: String) throws {
    guard let st = try PosixFileSystem().stat(path) else {
        throw CLIError("checkpoint storage \(path) does not exist")
    }
    guard st.isDirectory else {
        throw CLIError("\(path) is not a checkpoint storage: it is not a directory")
    }
}

/// The checkpoint storage in the existing folder `path`, or at the S3 location `path`
/// (`s3://BUCKET/PREFIX`, its bucket checked; `endpoint` overrides `AWS_ENDPOINT_URL`).
func openExistingStorage(_ path: String, endpoint: String?) throws -> any CheckpointStorage {
    if S3Location.isS3(path) { return try S3CheckpointStorage.open(path, endpoint: endpoint) }
    try requireExistingStorage(path)
    return try LocalCheckpointStorage(root: path)
}

/// `--s3-endpoint`, shared by the commands that take a storage.
struct S3Options: ParsableArguments {
    @Option(
        name: .customLong("s3-endpoint"),
        help: "S3 endpoint URL for s3:// storages (default: AWS_ENDPOINT_URL, else AWS's regional endpoint).")
    var endpoint: String?
}

/// `d` in milliseconds with one decimal, e.g. `12.3 ms`.
func formatMilliseconds(_ d: Duration) -> String {
    let (seconds, attoseconds) = d.components
    let tenths = ((Double(seconds) * 1000 + Double(attoseconds) / 1e15) * 10).rounded()
    // Durations here are never negative; clamp anyway so the formatting cannot trap.
    let t = tenths.isFinite ? Int64(max(0, min(tenths, 9e15))) : 0
    return "\(t / 10).\(t % 10) ms"
}

/// `lsmctl checkpoint DB STORAGE --mode full|incremental [--retained N]`: takes one checkpoint.
struct Checkpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take a full or incremental checkpoint of a store.",
        discussion: """
            Opens the store (which must exist), flushes its memtable and writes a checkpoint \
            into STORAGE, a folder created if missing. A full checkpoint copies every table \
            into its own chk-N folder; an incremental one uploads into shared/ only the tables \
            no retained checkpoint has yet (hard-linked when the folder is on the same file \
            system as the store) and reuses the others.

            After the checkpoint completes, the oldest checkpoints beyond --retained are \
            discarded, with the shared files nothing else references. Prints the report: id, \
            mode, sequence, durations, bytes written by this checkpoint (the delta, including \
            _metadata), the full size a restore needs, file counts, the bytes the storage \
            occupies (each inode once) and the ids discarded.
            """)

    @Argument(help: "Directory of the store.")
    var db: String

    @Argument(help: "Checkpoint storage: a folder (created if missing) or s3://BUCKET/PREFIX.")
    var storage: String

    @OptionGroup var s3: S3Options

    @Option(help: "Checkpoint mode: full or incremental.")
    var mode: CheckpointModeArgument

    @Option(help: "How many completed checkpoints to keep (at least 1).")
    var retained: Int = 1

    func validate() throws {
        guard retained >= 1 else {
            throw ValidationError("--retained must be at least 1, got \(retained)")
        }
    }

    func run() throws {
        let report = try withStore(db, mayCreate: false) { store in
            let checkpointer = try Checkpointer(
                store: store,
                storage: S3Location.isS3(storage)
                    ? try S3CheckpointStorage.open(storage, endpoint: s3.endpoint)
                    : try LocalCheckpointStorage(root: storage),
                retained: retained)
            for (id, problem) in checkpointer.damagedCheckpoints.sorted(by: { $0.key < $1.key }) {
                printError("warning: checkpoint \(id) is damaged and ignored: \(problem.description)")
            }
            return try checkpointer.checkpoint(mode: mode.mode)
        }
        var out = Output()
        try out.line("id: \(report.id)")
        try out.line("mode: \(report.mode.rawValue)")
        try out.line("sequence: \(report.sequence)")
        try out.line("sync: \(formatMilliseconds(report.syncDuration))")
        try out.line("async: \(formatMilliseconds(report.asyncDuration))")
        try out.line("total: \(formatMilliseconds(report.totalDuration))")
        try out.line("bytes written (delta): \(report.bytesWritten)")
        try out.line("full size: \(report.fullSize)")
        try out.line("files: \(report.fileCount)")
        try out.line("files new: \(report.filesNew)")
        try out.line("files reused: \(report.filesReused)")
        try out.line("files linked: \(report.filesLinked)")
        try out.line("storage on disk: \(report.storageBytesOnDisk)")
        if let r = report.requests {
            try out.line(
                "requests: \(r.requests) (put \(r.puts), get \(r.gets), head \(r.heads), list \(r.lists), "
                    + "delete \(r.deletes), parts \(r.parts), multipart \(r.multipartControl)); retries \(r.retries); "
                    + "bytes sent \(r.bytesSent), received \(r.bytesReceived)")
        }
        let discarded = report.discardedCheckpoints.map(String.init).joined(separator: " ")
        try out.line("discarded: \(discarded.isEmpty ? "none" : discarded)")
        try out.flush()
    }
}

/// One row of `lsmctl checkpoints` (and one object of its `--json` output).
struct CheckpointSummary: Codable, Equatable {
    /// Checkpoint id (the N of chk-N).
    var id: UInt64
    /// `full` or `incremental`.
    var mode: String
    /// Sequence number of the last write the checkpoint holds.
    var sequence: UInt64
    /// Bytes of the table files this checkpoint uploaded itself.
    var delta: UInt64
    /// Bytes of every table file the checkpoint references.
    var fullSize: UInt64
    /// Table files referenced.
    var files: Int
    /// Referenced files under shared/ (incremental checkpoints).
    var sharedReferences: Int
    /// Id (hex) of the store that took it; empty for a damaged checkpoint.
    var store: String
    /// For a damaged checkpoint (mode `damaged`): what is wrong with its `_metadata`.
    var problem: String?

    init(_ m: CheckpointMetadata) {
        id = m.id
        store = m.storeID
        problem = nil
        mode = m.mode.rawValue
        sequence = m.sequence
        delta = m.files.reduce(0) { $0 + ($1.uploadedHere ? $1.size : 0) }
        fullSize = m.fullSize
        files = m.files.count
        sharedReferences = m.files.reduce(0) { $0 + ($1.name.hasPrefix("shared/") ? 1 : 0) }
    }

    /// A row for a checkpoint whose `_metadata` is damaged.
    init(damaged id: UInt64, _ error: LSMError) {
        self.id = id
        mode = "damaged"
        sequence = 0
        delta = 0
        fullSize = 0
        files = 0
        sharedReferences = 0
        store = ""
        problem = error.description
    }
}

/// `lsmctl checkpoints STORAGE [--json]`: lists the completed checkpoints.
struct Checkpoints: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the completed checkpoints in a checkpoint storage.",
        discussion: """
            Prints one row per completed checkpoint, oldest first: id, mode, sequence, delta \
            (bytes of the table files that checkpoint uploaded), full size (bytes of every \
            table file it references), files referenced, how many of them are shared \
            references (under shared/), and the first 8 hex digits of the id of the store that \
            took it. Sizes count table files only, not _metadata. A checkpoint whose _metadata \
            is damaged is listed with the mode `damaged`, and its problem is printed on \
            standard error; lsmctl then exits with status 1. Incomplete checkpoints (in \
            progress, failed or abandoned) are not listed.

            With --json, prints a JSON array of objects with the keys id, mode, sequence, \
            delta, fullSize, files, sharedReferences, store (the full store id) and, for a \
            damaged checkpoint, problem. The storage must exist.
            """)

    @Argument(help: "Checkpoint storage: a folder or s3://BUCKET/PREFIX.")
    var storage: String

    @OptionGroup var s3: S3Options

    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    func run() throws {
        let catalog = try CheckpointCatalog.load(try openExistingStorage(storage, endpoint: s3.endpoint))
        let rows = catalog.ids.compactMap { id -> CheckpointSummary? in
            switch catalog.states[id] {
            case .completed(let m)?: return CheckpointSummary(m)
            case .damaged(let e)?: return CheckpointSummary(damaged: id, e)
            default: return nil
            }
        }
        var out = Output()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try out.write(Array(try encoder.encode(rows)))
            try out.write("\n")
        } else {
            let header = ["ID", "MODE", "SEQUENCE", "DELTA", "FULL SIZE", "FILES", "SHARED", "STORE"]
            let cells = rows.map { r in
                [
                    String(r.id), r.mode, String(r.sequence), String(r.delta), String(r.fullSize),
                    String(r.files), String(r.sharedReferences), String(r.store.prefix(8)),
                ]
            }
            var widths = header.map(\.count)
            for row in cells {
                for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
            }
            func format(_ row: [String]) -> String {
                row.enumerated().map { i, cell in
                    let pad = String(repeating: " ", count: widths[i] - cell.count)
                    return i == 1 || i == 7 ? cell + pad : pad + cell  // mode and store left-aligned, numbers right
                }.joined(separator: "  ")
            }
            try out.line(format(header))
            for row in cells { try out.line(format(row)) }
        }
        try out.flush()
        for (id, e) in catalog.damaged { printError("checkpoint \(id) is damaged: \(e.description)") }
        if !catalog.damaged.isEmpty { throw ExitCode(Status.negative) }
    }
}

/// `lsmctl restore STORAGE [--id N | --store ID] [--fall-back-past-damaged] DB`: builds a new
/// store from a checkpoint.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a checkpoint into a new store.",
        discussion: """
            Builds a store in DB from checkpoint N, or without --id from the latest completed \
            one (of the store --store names: needed when the storage holds checkpoints of \
            several stores). Tables are hard-linked from the storage when possible and copied \
            otherwise, and every byte of every table is checked against the checkpoint's \
            checksums before the store opens. If a checkpoint newer than the latest completed \
            one is damaged, restore fails naming it, unless --fall-back-past-damaged (then it \
            says which checkpoints it passed over). DB must not exist or be an empty \
            directory. Prints the checkpoint restored, the restored store's last sequence \
            number, the number of table files (and how many were linked), and the time spent \
            transferring and verifying them. The storage must exist.
            """)

    @Argument(help: "Checkpoint storage: a folder or s3://BUCKET/PREFIX.")
    var storage: String

    @OptionGroup var s3: S3Options

    @Option(help: "Id of the checkpoint to restore (default: the latest completed one).")
    var id: UInt64?

    @Option(help: "Id (hex) of the store whose latest checkpoint to restore.")
    var store: String?

    @Flag(help: "Restore the latest intact checkpoint when newer ones are damaged.")
    var fallBackPastDamaged = false

    @Argument(help: "Directory of the new store (must not exist, or be empty).")
    var db: String

    func validate() throws {
        if id != nil && store != nil { throw ValidationError("--id and --store exclude each other") }
    }

    func run() throws {
        let storage = try openExistingStorage(storage, endpoint: s3.endpoint)
        let (store, report) = try LSMStore.restoreReporting(
            from: storage, checkpoint: id, storeID: self.store, fallBackPastDamaged: fallBackPastDamaged, to: db)
        let stats = store.stats  // read from memory: nothing can fail before close
        try store.close()
        for (skipped, e) in report.passedOver {
            printError("warning: passed over damaged checkpoint \(skipped): \(e.description)")
        }
        var out = Output()
        try out.line("restored into: \(db)")
        try out.line("checkpoint: \(report.checkpoint)")
        try out.line("last sequence: \(stats.lastSequence)")
        try out.line("files: \(stats.levels.reduce(0) { $0 + $1.files }) (linked: \(report.filesLinked))")
        try out.line("transfer: \(formatMilliseconds(report.transferDuration))")
        try out.line("verify: \(formatMilliseconds(report.verifyDuration))")
        try out.flush()
    }
}

/// `lsmctl verify-checkpoint STORAGE [--id N]`: re-reads a checkpoint's files.
struct VerifyCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-checkpoint",
        abstract: "Check the files of a checkpoint against its metadata.",
        discussion: """
            Checks the size and whole-file checksum of every table checkpoint N (without --id, \
            the newest checkpoint that has a _metadata: a damaged one is reported, not passed \
            over) references, then every block checksum. Prints what was checked, then OK. If problems are found, each is printed on standard error \
            (naming the file) and lsmctl exits with status 1. The storage must exist.
            """)

    @Argument(help: "Checkpoint storage: a folder or s3://BUCKET/PREFIX.")
    var storage: String

    @OptionGroup var s3: S3Options

    @Option(help: "Id of the checkpoint to verify (default: the latest completed one).")
    var id: UInt64?

    func run() throws {
        let report = try Checkpointer.verify(
            storage: try openExistingStorage(storage, endpoint: s3.endpoint), checkpoint: id)
        var out = Output()
        try out.line("checkpoint: \(report.id)")
        try out.line("files checked: \(report.filesChecked)")
        try out.line("bytes checked: \(report.bytesChecked)")
        try out.line("entries checked: \(report.entriesChecked)")
        try finishVerification(&out, problems: report.problems, subject: "checkpoint \(report.id) has")
    }
}

/// `lsmctl cleanup STORAGE [--dry-run]`: removes what failed checkpoints left behind.
struct Cleanup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove orphans from a checkpoint storage.",
        discussion: """
            Orphans are checkpoint folders without _metadata (checkpoints that crashed or were \
            aborted) with their contents, and files under shared/ that no completed checkpoint \
            references. Prints `removed NAME` for each (`would remove NAME` with --dry-run, \
            which deletes nothing), then `orphans: COUNT`.

            Spared: a checkpoint claimed less than --grace-s seconds ago (it may be in progress \
            in another process) and the unreferenced shared files of its store; damaged \
            checkpoints; and, while any checkpoint is damaged, every shared file (what the \
            damaged one references cannot be read). The storage must exist.
            """)

    @Argument(help: "Checkpoint storage: a folder or s3://BUCKET/PREFIX.")
    var storage: String

    @OptionGroup var s3: S3Options

    @Flag(help: "List the orphans without removing them.")
    var dryRun = false

    @Option(help: "Spare incomplete checkpoints claimed less than this many seconds ago.")
    var graceS: Int = 3600

    func validate() throws {
        guard graceS >= 0 else { throw ValidationError("--grace-s must not be negative, got \(graceS)") }
    }

    func run() throws {
        let storage = try openExistingStorage(storage, endpoint: s3.endpoint)
        let names = try Checkpointer.cleanup(
            storage: storage, dryRun: dryRun, sparingClaimsYoungerThan: .seconds(graceS))
        for (id, e) in try CheckpointCatalog.load(storage).damaged {
            printError(
                "warning: checkpoint \(id) is damaged (\(e.description)); shared files are kept until it is repaired or discarded"
            )
        }
        var out = Output()
        for name in names { try out.line((dryRun ? "would remove " : "removed ") + name) }
        try out.line("orphans: \(names.count)")
        try out.flush()
    }
}
