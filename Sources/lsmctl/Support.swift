import Glibc
import ArgumentParser
import LSMStore

/// A failure of `lsmctl` itself (bad input, a missing store, an unwritable output), reported
/// as one line `lsmctl: <message>` on standard error.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ message: String) { description = message }
}

/// Exit statuses, documented in `lsmctl --help`.
enum Status {
    /// `get` found no value; `verify` found problems.
    static let negative: Int32 = 1
    /// An error: bad input, a store error, an I/O failure.
    static let failure: Int32 = 2
}

/// Ends the process with `code` (standard output is written unbuffered, so nothing is lost).
func terminate(_ code: Int32) -> Never {
    Glibc.exit(code)
}

/// Writes all of `bytes` to file descriptor `fd` with write(2), retrying short writes and
/// EINTR. Returns the errno of a failure, or nil.
@discardableResult
func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32? {
    bytes.withUnsafeBytes { buf -> Int32? in
        var done = 0
        while done < buf.count {
            guard let base = buf.baseAddress else { return nil }
            let n = write(fd, base + done, buf.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }
}

/// Prints `lsmctl: <message>` on standard error.
func printError(_ message: String) {
    writeAll(2, Array("lsmctl: \(message)\n".utf8))
}

/// Standard output, buffered in memory and written with write(2) on `flush()`. Batch mode
/// flushes after every response line, so a reader sees each one as soon as it is produced.
struct Output {
    private var buffer: [UInt8] = []
    /// Flush automatically once this many bytes are buffered.
    private let threshold = 64 << 10

    init() {}

    /// Appends raw bytes.
    mutating func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= threshold { try flush() }
    }

    /// Appends `text` (UTF-8).
    mutating func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Appends `text` and a newline.
    mutating func line(_ text: String) throws { try write(Array((text + "\n").utf8)) }

    /// Writes out everything buffered.
    mutating func flush() throws {
        if buffer.isEmpty { return }
        let pending = buffer
        buffer.removeAll(keepingCapacity: true)
        if let code = writeAll(1, pending) {
            throw CLIError("cannot write to standard output: \(String(cString: strerror(code)))")
        }
    }
}

/// Fails unless `path` holds a store (a directory with a CURRENT file), so that read-only
/// commands report a missing store instead of creating one.
func requireExistingStore(_ path: String) throws {
    let fs = PosixFileSystem()
    guard let st = try fs.stat(path) else {
        throw CLIError("store \(path) does not exist")
    }
    guard st.isDirectory else {
        throw CLIError("\(path) is not a store: it is not a directory")
    }
    let current = path.hasSuffix("/") ? path + "CURRENT" : path + "/CURRENT"
    if try fs.stat(current) == nil {
        throw CLIError("store \(path) does not exist (the directory has no CURRENT file)")
    }
}

/// Opens the store at `path` with default options, runs `body`, and closes the store however
/// `body` ends. With `mayCreate` false a missing store is an error rather than created.
func withStore<T>(_ path: String, mayCreate: Bool, _ body: (LSMStore) throws -> T) throws -> T {
    if !mayCreate { try requireExistingStore(path) }
    var options = Options()
    options.createIfMissing = mayCreate
    let store = try LSMStore.open(at: path, options: options)
    let result: T
    do {
        result = try body(store)
    } catch {
        try? store.close()
        throw error
    }
    try store.close()
    return result
}

/// Decodes a key or value given on the command line: UTF-8 text, or hex with `--hex` (where
/// `""` or an empty argument is the empty string).
func decodeArgument(_ text: String, hex: Bool) throws -> [UInt8] {
    hex ? try Hex.decode(text) : Array(text.utf8)
}

/// Ends a verification: prints "OK" when there are no problems; otherwise lists each on
/// standard error with a count ("<subject> N problem(s)") and exits with `Status.negative`.
func finishVerification(_ out: inout Output, problems: [LSMError], subject: String) throws {
    try finishVerification(&out, problems: problems.map(\.description), subject: subject)
}

/// The same, with the problems already described.
func finishVerification(_ out: inout Output, problems: [String], subject: String) throws {
    if problems.isEmpty {
        try out.line("OK")
        try out.flush()
        return
    }
    try out.flush()
    for problem in problems { printError(problem) }
    let n = problems.count
    printError("\(subject) \(n) problem\(n == 1 ? "" : "s")")
    throw ExitCode(Status.negative)
}
