import ArgumentParser
import LSMStore

/// `lsmctl batch DB [--sync]`: runs commands read from standard input, one per line, for
/// scripts and test harnesses that drive a store interactively.
struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run commands read from standard input, one per line.",
        discussion: """
            Commands (keys and values in hex, either case; tokens separated by whitespace):

              put HEXKEY HEXVALUE   store a value; prints OK
              delete HEXKEY         remove a key; prints OK
              get HEXKEY            prints the value in hex, or NOT_FOUND
              scan HEXFROM HEXTO    prints `HEXKEY HEXVALUE` lines, then END
              flush                 write the memtable to a table; prints OK
              compact               compact every level; prints OK

            scan lists the keys from HEXFROM (inclusive) to HEXTO (exclusive) in ascending \
            order; `-` for either bound leaves it open.

            A zero-length key or value is written `""` (two double-quote characters), in \
            input and in output. Blank lines are ignored.

            Each response line is written to standard output as soon as it is produced. OK \
            means the write was applied; with --sync, that it is also durable (the \
            write-ahead log was fsynced), so every OK a reader has seen survives a crash.

            An unknown command, bad hex or a store error stops the batch: the message, \
            naming the line number (e.g. `line 3: unknown command "foo"`), goes to standard \
            error, and lsmctl closes the store and exits with status 2. Writes acknowledged \
            before it stay applied. The store is created if it does not exist.
            """)

    @Argument(help: "Directory of the store (created if missing).")
    var db: String

    @Flag(help: "Acknowledge each write only after the write-ahead log is fsynced.")
    var sync = false

    func run() throws {
        let sync: Bool? = self.sync ? true : nil
        try withStore(db, mayCreate: true) { store in
            var out = Output()
            var lineNumber = 0
            while let line = readLine(strippingNewline: true) {
                lineNumber += 1
                let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
                guard let command = tokens.first else { continue }
                do {
                    try Batch.execute(command, Array(tokens.dropFirst()), store: store, sync: sync, out: &out)
                } catch let error as CLIError {
                    throw CLIError("line \(lineNumber): \(error.description)")
                } catch let error as LSMError {
                    throw CLIError("line \(lineNumber): \(error.description)")
                }
            }
        }
    }

    /// Runs one command, writing and flushing its response.
    static func execute(
        _ command: String, _ args: [String], store: LSMStore, sync: Bool?, out: inout Output
    ) throws {
        func expect(_ n: Int, _ usage: String) throws {
            guard args.count == n else {
                throw CLIError("\(command) takes \(n) argument\(n == 1 ? "" : "s") (\(usage)), got \(args.count)")
            }
        }
        func respond(_ line: String) throws {
            try out.line(line)
            try out.flush()
        }
        switch command {
        case "put":
            try expect(2, "put HEXKEY HEXVALUE")
            let key = try Hex.decode(args[0]), value = try Hex.decode(args[1])
            try store.put(key, value, sync: sync)
            try respond("OK")
        case "delete":
            try expect(1, "delete HEXKEY")
            let key = try Hex.decode(args[0])
            try store.delete(key, sync: sync)
            try respond("OK")
        case "get":
            try expect(1, "get HEXKEY")
            let key = try Hex.decode(args[0])
            if let value = try store.get(key) {
                try respond(Hex.token(value))
            } else {
                try respond("NOT_FOUND")
            }
        case "scan":
            try expect(2, "scan HEXFROM HEXTO, - for an open bound")
            func bound(_ token: String) throws -> [UInt8]? { token == "-" ? nil : try Hex.decode(token) }
            let lower = try bound(args[0]), upper = try bound(args[1])
            let it = try store.scan(from: lower, to: upper)
            while let (key, value) = try it.next() {
                try respond(Hex.token(key) + " " + Hex.token(value))
            }
            try respond("END")
        case "flush":
            try expect(0, "flush")
            try store.flush()
            try respond("OK")
        case "compact":
            try expect(0, "compact")
            try store.compact()
            try respond("OK")
        default:
            throw CLIError("unknown command \"\(command)\"")
        }
    }
}
