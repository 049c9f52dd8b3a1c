import ArgumentParser
import LSMStore

/// `lsmctl stats DB`: prints the store's statistics.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print files and bytes per level, memtable sizes and work counters.",
        discussion: "Opens the store (which must exist) and prints its statistics.")

    @Argument(help: "Directory of the store.")
    var db: String

    func run() throws {
        let stats = try withStore(db, mayCreate: false) { $0.stats }
        var out = Output()
        try out.line(stats.description)
        try out.flush()
    }
}

/// `lsmctl manifest DB`: prints the live version recorded in the manifest.
struct Manifest: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the live version recorded in the store's manifest.",
        discussion: """
            Reads CURRENT and the manifest without opening the store, so it works while \
            another process has the store open. Lists the live tables by level as \
            `L<level> <file> <size> bytes <smallest> @<seq> .. <largest> @<seq>`. Keys of \
            printable ASCII are shown in double quotes, others as 0x followed by hex.
            """)

    @Argument(help: "Directory of the store.")
    var db: String

    func run() throws {
        try requireExistingStore(db)
        let info = try Inspector.manifest(at: db)
        var out = Output()
        try out.line("manifest file: \(info.manifestFile)")
        try out.line("store id: \(info.storeID)")
        try out.line("log number: \(info.logNumber)")
        try out.line("next file number: \(info.nextFileNumber)")
        try out.line("last sequence: \(info.lastSequence)")
        try out.line("edits: \(info.editCount)")
        try out.line("files: \(info.files.count)")
        for f in info.files {
            try out.line(
                "L\(f.level) \(tableFileName(f.number)) \(f.size) bytes "
                    + "\(Hex.display(f.smallestKey)) @\(f.smallestKeySequence) .. "
                    + "\(Hex.display(f.largestKey)) @\(f.largestKeySequence)")
        }
        try out.flush()
    }

    /// `NNNNNN.sst`, as the store names table files.
    private func tableFileName(_ n: UInt64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".sst"
    }
}

/// `lsmctl dump-sst FILE`: prints a table file's properties, blocks and entries.
struct DumpSST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump-sst",
        abstract: "Print the properties, data blocks and entries of a table (.sst) file.",
        discussion: """
            Reads and verifies every block. Entries are printed in key order as \
            `key @seq PUT value` or `key @seq DEL`; keys and values of printable ASCII are \
            shown in double quotes, others as 0x followed by hex.
            """)

    @Argument(help: "Path of the .sst file.")
    var file: String

    @Flag(help: "Print only properties and blocks, not the entries.")
    var noEntries = false

    func run() throws {
        let dump = try Inspector.dumpTable(at: file, includeEntries: !noEntries)
        let p = dump.properties
        var out = Output()
        try out.line("file: \(file)")
        try out.line("file size: \(dump.fileSize)")
        try out.line("bloom filter: \(dump.hasFilter ? "yes" : "no")")
        try out.line("properties:")
        try out.line("  entries: \(p.entryCount)")
        try out.line("  deletions: \(p.deletionCount)")
        try out.line("  data blocks: \(p.dataBlockCount) (compressed: \(p.compressedBlockCount))")
        try out.line("  raw key bytes: \(p.rawKeyBytes)")
        try out.line("  raw value bytes: \(p.rawValueBytes)")
        try out.line("  data bytes: \(p.dataBytes)")
        try out.line("  smallest key: \(p.smallestKey.isEmpty ? "(none)" : Hex.displayInternalKey(p.smallestKey))")
        try out.line("  largest key: \(p.largestKey.isEmpty ? "(none)" : Hex.displayInternalKey(p.largestKey))")
        try out.line("  sequences: \(p.smallestSequence)..\(p.largestSequence)")
        try out.line("blocks: \(dump.blocks.count)")
        for (i, b) in dump.blocks.enumerated() {
            try out.line(
                "  #\(i) offset \(b.offset) size \(b.storedSize) uncompressed \(b.uncompressedSize) entries \(b.entryCount)"
            )
        }
        if !noEntries {
            try out.line("entries: \(dump.entries.count)")
            for e in dump.entries {
                if e.isDeletion {
                    try out.line("  \(Hex.display(e.key)) @\(e.sequence) DEL")
                } else {
                    try out.line("  \(Hex.display(e.key)) @\(e.sequence) PUT \(Hex.display(e.value))")
                }
            }
        }
        try out.flush()
    }
}

/// `lsmctl verify DB`: checks every checksum of the live tables and the write-ahead logs.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every table block and write-ahead log of a store.",
        discussion: """
            Re-reads every live table and the write-ahead logs without opening the store, \
            checking checksums, entry order and the sizes the manifest records. Prints what \
            was checked, then OK. If problems are found, each is printed on standard error \
            (naming the file and offset) and lsmctl exits with status 1. A torn last write \
            at the end of the newest log (a crash in the middle of an append) is not a \
            problem: it is printed, and opening the store drops it.
            """)

    @Argument(help: "Directory of the store.")
    var db: String

    func run() throws {
        try requireExistingStore(db)
        let report = try Inspector.verify(at: db)
        var out = Output()
        try out.line("tables checked: \(report.tablesChecked)")
        try out.line("entries checked: \(report.entriesChecked)")
        try out.line("bytes checked: \(report.bytesChecked)")
        try out.line("logs checked: \(report.logsChecked)")
        for t in report.tornWrites { try out.line("torn last write (opening drops it): \(t)") }
        try finishVerification(&out, problems: report.problems, subject: "verify found")
    }
}
