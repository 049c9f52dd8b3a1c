#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// End-to-end tests of the `lsmctl` executable, run as a child process. The binary must be
/// built first (`swift build --product lsmctl`); it is looked up in `<package>/.build/debug`.
@Suite("lsmctl")
struct LsmctlTests {
    /// What one run of `lsmctl` produced.
    struct RunResult {
        var status: Int32
        var out: String
        var err: String
    }

    /// The package root: three levels above this file (Tests/LSMStoreTests/LsmctlTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binaryPath = packageRoot.appendingPathComponent(".build/debug/lsmctl").path

    /// A fresh directory under /tmp with a random suffix; `cleanUp()` removes it.
    struct TempDir {
        let path: String

        init() throws {
            path = "/tmp/lsmctl-test-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }

        /// A path inside the directory.
        func sub(_ name: String) -> String { path + "/" + name }

        func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The path of the built binary, or a test failure saying how to build it.
    static func binary() throws -> String {
        try #require(
            FileManager.default.isExecutableFile(atPath: binaryPath),
            "lsmctl binary not found at \(binaryPath); build it first with `swift build --product lsmctl`")
        return binaryPath
    }

    /// Runs `lsmctl args` with `stdin` as standard input and waits (at most 120 s) for it to
    /// exit. Standard input, output and error go through files in `dir`, so no pipe can fill
    /// up and block the child.
    static func lsmctl(_ args: [String], stdin: String = "", in dir: TempDir) throws -> RunResult {
        let exe = try binary()
        let id = UUID().uuidString
        let inPath = dir.sub("stdin-\(id)"), outPath = dir.sub("stdout-\(id)"), errPath = dir.sub("stderr-\(id)")
        try stdin.write(toFile: inPath, atomically: false, encoding: .utf8)
        #expect(FileManager.default.createFile(atPath: outPath, contents: nil))
        #expect(FileManager.default.createFile(atPath: errPath, contents: nil))
        defer {
            for p in [inPath, outPath, errPath] { try? FileManager.default.removeItem(atPath: p) }
        }
        let inHandle = try #require(FileHandle(forReadingAtPath: inPath))
        let outHandle = try #require(FileHandle(forWritingAtPath: outPath))
        let errHandle = try #require(FileHandle(forWritingAtPath: errPath))
        defer {
            try? inHandle.close()
            try? outHandle.close()
            try? errHandle.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: exe)
        process.arguments = args
        process.standardInput = inHandle
        process.standardOutput = outHandle
        process.standardError = errHandle
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { usleep(5_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            Issue.record("lsmctl \(args.joined(separator: " ")) did not exit within 120 s")
        }
        process.waitUntilExit()
        let out = try String(contentsOfFile: outPath, encoding: .utf8)
        let err = try String(contentsOfFile: errPath, encoding: .utf8)
        return RunResult(status: process.terminationStatus, out: out, err: err)
    }

    // MARK: Single commands

    @Test("put, get, delete and scan with text keys")
    func textRoundTrip() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("db")

        for (k, v) in [("apple", "red"), ("banana", "yellow"), ("cherry", "dark red")] {
            let r = try Self.lsmctl(["put", db, k, v], in: dir)
            #expect(r.status == 0, "put \(k): \(r.err)")
        }
        var r = try Self.lsmctl(["get", db, "banana"], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "yellow\n")

        r = try Self.lsmctl(["scan", db], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "apple red\nbanana yellow\ncherry dark red\n")

        r = try Self.lsmctl(["scan", db, "--from", "b", "--to", "cherry"], in: dir)
        #expect(r.out == "banana yellow\n")
        r = try Self.lsmctl(["scan", db, "--limit", "2"], in: dir)
        #expect(r.out == "apple red\nbanana yellow\n")

        r = try Self.lsmctl(["delete", db, "banana"], in: dir)
        #expect(r.status == 0)
        r = try Self.lsmctl(["get", db, "banana"], in: dir)
        #expect(r.status == 1)
        #expect(r.out == "NOT_FOUND\n")
        r = try Self.lsmctl(["scan", db], in: dir)
        #expect(r.out == "apple red\ncherry dark red\n")
    }

    @Test("put, get, delete and scan with --hex, including an empty value")
    func hexRoundTrip() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("db")

        #expect(try Self.lsmctl(["put", "--hex", db, "00ff", "0102"], in: dir).status == 0)
        #expect(try Self.lsmctl(["put", "--hex", db, "01", "\"\""], in: dir).status == 0)
        #expect(try Self.lsmctl(["put", "--hex", db, "FE", "AbCd"], in: dir).status == 0)

        var r = try Self.lsmctl(["get", "--hex", db, "00FF"], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "0102\n")
        r = try Self.lsmctl(["get", "--hex", db, "01"], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "\"\"\n")

        r = try Self.lsmctl(["scan", "--hex", db], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "00ff 0102\n01 \"\"\nfe abcd\n")
        r = try Self.lsmctl(["scan", "--hex", db, "--from", "01", "--to", "fe"], in: dir)
        #expect(r.out == "01 \"\"\n")

        #expect(try Self.lsmctl(["delete", "--hex", db, "00ff"], in: dir).status == 0)
        r = try Self.lsmctl(["get", "--hex", db, "00ff"], in: dir)
        #expect(r.status == 1)
        #expect(r.out == "NOT_FOUND\n")

        r = try Self.lsmctl(["get", "--hex", db, "0g"], in: dir)
        #expect(r.status != 0)
        #expect(r.err.hasPrefix("lsmctl: "))
        #expect(r.err.contains("0g"))
    }

    @Test("get on a missing store fails without creating it")
    func getMissingStore() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("absent")

        let r = try Self.lsmctl(["get", db, "k"], in: dir)
        #expect(r.status != 0)
        #expect(r.out.isEmpty)
        #expect(r.err.hasPrefix("lsmctl: "))
        #expect(r.err.contains("does not exist"))
        #expect(r.err.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    // MARK: Batch

    @Test("batch protocol: puts, get, scan with open bounds, flush, compact, empty values, errors")
    func batchProtocol() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("db")

        let input = """
            put 61 31
            put 62 32

            put 63 ""
            put "" 656d707479
            get 62
            get 63
            get 7a
            scan - -
            flush
            delete 61
            compact
            scan 62 -
            scan - 63
            get ""

            """
        var r = try Self.lsmctl(["batch", db, "--sync"], stdin: input, in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.err.isEmpty)
        let expected = [
            "OK", "OK", "OK", "OK",
            "32", "\"\"", "NOT_FOUND",
            "\"\" 656d707479", "61 31", "62 32", "63 \"\"", "END",
            "OK", "OK", "OK",
            "62 32", "63 \"\"", "END",
            "\"\" 656d707479", "62 32", "END",
            "656d707479",
        ]
        #expect(r.out == expected.joined(separator: "\n") + "\n")

        // Bad hex on line 3: the first two lines are applied and acknowledged, then lsmctl
        // stops with an error naming the line.
        r = try Self.lsmctl(["batch", db], stdin: "put 64 34\nget 64\nput 6x 35\nput 66 36\n", in: dir)
        #expect(r.status != 0)
        #expect(r.out == "OK\n34\n")
        #expect(r.err.hasPrefix("lsmctl: line 3: "))
        #expect(r.err.contains("6x"))

        r = try Self.lsmctl(["batch", db], stdin: "get 64\nfoo 01\n", in: dir)
        #expect(r.status != 0)
        #expect(r.out == "34\n")
        #expect(r.err == "lsmctl: line 2: unknown command \"foo\"\n")

        // The store was closed properly and kept the acknowledged write, not the later ones.
        r = try Self.lsmctl(["scan", "--hex", db, "--from", "64"], in: dir)
        #expect(r.status == 0)
        #expect(r.out == "64 34\n")
    }

    @Test("batch writes each response as soon as it is produced; a synced OK survives SIGKILL")
    func batchIsInteractive() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("db")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.binary())
        process.arguments = ["batch", db, "--sync"]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }

        // Standard input stays open: the response must arrive without lsmctl exiting.
        stdin.fileHandleForWriting.write(Data("put 6b 76\nget 6b\n".utf8))
        let fd = stdout.fileHandleForReading.fileDescriptor
        var received = [UInt8]()
        let deadline = Date().addingTimeInterval(60)
        while !String(decoding: received, as: UTF8.self).hasSuffix("OK\n76\n") && Date() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            var buf = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &buf, buf.count)
            guard n > 0 else { break }
            received += buf[0..<n]
        }
        #expect(String(decoding: received, as: UTF8.self) == "OK\n76\n")

        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let r = try Self.lsmctl(["get", "--hex", db, "6b"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == "76\n")
    }

    // MARK: Verify

    @Test("verify reports OK for a healthy store and names the damaged table")
    func verifyDetectsCorruption() throws {
        let dir = try TempDir()
        defer { dir.cleanUp() }
        let db = dir.sub("db")

        // About 2000 keys with 100-byte pseudo-random values, flushed to one table.
        var rng = SplitMix64(seed: 42)
        var input = ""
        for i in 0..<2000 {
            let key = Self.hex((0..<4).map { UInt8(truncatingIfNeeded: i >> (8 * (3 - $0))) })
            let value = Self.hex((0..<100).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            input += "put \(key) \(value)\n"
        }
        input += "flush\n"
        var r = try Self.lsmctl(["batch", db], stdin: input, in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")

        r = try Self.lsmctl(["verify", db], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.hasSuffix("OK\n"))
        #expect(r.out.contains("tables checked: 1"))
        #expect(r.err.isEmpty)

        let tables = try FileManager.default.contentsOfDirectory(atPath: db).filter { $0.hasSuffix(".sst") }
        func size(_ name: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: db + "/" + name))?[.size] as? Int) ?? 0
        }
        let table = try #require(tables.max { size($0) < size($1) }, "no .sst file after flush")
        let tablePath = db + "/" + table
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tablePath))
        #expect(bytes.count > 100_000)
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: tablePath))

        r = try Self.lsmctl(["verify", db], in: dir)
        #expect(r.status != 0)
        #expect(!r.out.contains("OK"))
        #expect(r.err.contains(table), "stderr: \(r.err)")
        #expect(r.err.contains("corruption"))
    }

    /// Lowercase hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// A small deterministic generator for test data.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
