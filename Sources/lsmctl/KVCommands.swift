import ArgumentParser
import LSMStore

/// Options shared by the single-operation commands.
struct KeyFormatOptions: ParsableArguments {
    @Flag(
        help:
            "Keys and values are hex (either case); \"\" or an empty argument is the empty string. Output is hex too, with \"\" for an empty value."
    )
    var hex = false
}

/// `lsmctl get DB KEY`: prints the value stored under a key.
struct Get: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the value stored under a key.",
        discussion: """
            Prints the value followed by a newline: the raw bytes in text mode, lowercase hex \
            with --hex ("" for an empty value).

            If the key is absent, prints NOT_FOUND and exits with status 1. The store must \
            exist; it is not created.
            """)

    @Argument(help: "Directory of the store.")
    var db: String

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @OptionGroup var format: KeyFormatOptions

    func run() throws {
        let key = try decodeArgument(key, hex: format.hex)
        let value = try withStore(db, mayCreate: false) { try $0.get(key) }
        var out = Output()
        guard let value else {
            try out.line("NOT_FOUND")
            try out.flush()
            throw ExitCode(Status.negative)
        }
        if format.hex {
            try out.line(Hex.token(value))
        } else {
            try out.write(value)
            try out.write("\n")
        }
        try out.flush()
    }
}

/// `lsmctl put DB KEY VALUE`: stores a value.
struct Put: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store a value under a key.",
        discussion: "Creates the store if it does not exist. Prints nothing on success.")

    @Argument(help: "Directory of the store (created if missing).")
    var db: String

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @Argument(help: "The value (UTF-8 text, or hex with --hex).")
    var value: String

    @OptionGroup var format: KeyFormatOptions

    @Flag(help: "fsync the write-ahead log before exiting.")
    var sync = false

    func run() throws {
        let key = try decodeArgument(key, hex: format.hex)
        let value = try decodeArgument(value, hex: format.hex)
        try withStore(db, mayCreate: true) { try $0.put(key, value, sync: sync ? true : nil) }
    }
}

/// `lsmctl delete DB KEY`: removes a key.
struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove a key.",
        discussion: "Deleting an absent key succeeds. Creates the store if it does not exist.")

    @Argument(help: "Directory of the store (created if missing).")
    var db: String

    @Argument(help: "The key (UTF-8 text, or hex with --hex).")
    var key: String

    @OptionGroup var format: KeyFormatOptions

    @Flag(help: "fsync the write-ahead log before exiting.")
    var sync = false

    func run() throws {
        let key = try decodeArgument(key, hex: format.hex)
        try withStore(db, mayCreate: true) { try $0.delete(key, sync: sync ? true : nil) }
    }
}

/// `lsmctl scan DB [--from K] [--to K] [--limit N]`: lists keys in order.
struct Scan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List keys and values in ascending key order.",
        discussion: """
            Prints one line per entry: `key value` with the raw bytes in text mode, \
            `HEXKEY HEXVALUE` with --hex ("" for an empty key or value). The store must \
            exist; it is not created.
            """)

    @Argument(help: "Directory of the store.")
    var db: String

    @Option(help: "First key to list (inclusive). Default: the smallest key.")
    var from: String?

    @Option(help: "Key to stop before (exclusive). Default: no upper bound.")
    var to: String?

    @Option(help: "List at most this many entries.")
    var limit: Int?

    @OptionGroup var format: KeyFormatOptions

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
    }

    func run() throws {
        let lower = try from.map { try decodeArgument($0, hex: format.hex) }
        let upper = try to.map { try decodeArgument($0, hex: format.hex) }
        let limit = self.limit ?? .max
        let hex = format.hex
        var out = Output()
        try withStore(db, mayCreate: false) { store in
            let it = try store.scan(from: lower, to: upper)
            var n = 0
            while n < limit, let (key, value) = try it.next() {
                if hex {
                    try out.line(Hex.token(key) + " " + Hex.token(value))
                } else {
                    try out.write(key)
                    try out.write(" ")
                    try out.write(value)
                    try out.write("\n")
                }
                n += 1
            }
            try out.flush()
        }
    }
}
