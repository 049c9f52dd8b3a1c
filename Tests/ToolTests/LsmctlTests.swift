import Glibc
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

    /// The package root: three levels above this file (Tests/ToolTests/LsmctlTests.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let binaryPath = packageRoot.appendingPathComponent(".build/debug/lsmctl").path

    /// A fresh directory for a test (`LSMStoreTesting`).
    typealias TempDir = TemporaryDirectory

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
        try run(try binary(), args, stdin: stdin, in: dir)
    }

    /// Runs the executable `exe` the same way.
    static func run(_ exe: String, _ args: [String], stdin: String = "", in dir: TempDir) throws -> RunResult {
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
            Issue.record("\(exe) \(args.joined(separator: " ")) did not exit within 120 s")
        }
        process.waitUntilExit()
        let out = try String(contentsOfFile: outPath, encoding: .utf8)
        let err = try String(contentsOfFile: errPath, encoding: .utf8)
        return RunResult(status: process.terminationStatus, out: out, err: err)
    }

    // MARK: Single commands

    @Test("put, get, delete and scan with text keys")
    func textRoundTrip() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
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
        let dir = TempDir()
        defer { dir.cleanup() }
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
        let dir = TempDir()
        defer { dir.cleanup() }
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
        let dir = TempDir()
        defer { dir.cleanup() }
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
        let dir = TempDir()
        defer { dir.cleanup() }
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
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db")

        // About 2000 keys with 100-byte pseudo-random values, flushed to one table.
        var rng = SeededRandom(seed: 42)
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

    // MARK: Checkpoints

    /// The value of the `name: value` line of `output`, or nil.
    static func field(_ name: String, in output: String) -> String? {
        for line in output.split(separator: "\n") where line.hasPrefix(name + ": ") {
            return String(line.dropFirst(name.count + 2))
        }
        return nil
    }

    /// Writes about 300 keys with 100-byte values and `greeting = hello` into a new store at `db`.
    static func fillStore(_ db: String, in dir: TempDir) throws {
        var rng = SeededRandom(seed: 7)
        var input = ""
        for i in 0..<300 {
            let key = hex((0..<4).map { UInt8(truncatingIfNeeded: i >> (8 * (3 - $0))) })
            let value = hex((0..<100).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            input += "put \(key) \(value)\n"
        }
        input += "put \(hex(Array("greeting".utf8))) \(hex(Array("hello".utf8)))\n"
        let r = try lsmctl(["batch", db], stdin: input, in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
    }

    @Test("checkpoint, checkpoints --json, verify-checkpoint, restore, and a damaged shared file")
    func checkpointRoundTrip() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db"), storage = dir.sub("storage")
        try Self.fillStore(db, in: dir)

        // First incremental checkpoint: everything is new. The storage folder is created.
        var r = try Self.lsmctl(["checkpoint", db, storage, "--mode", "incremental", "--retained", "3"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(Self.field("id", in: r.out) == "1")
        #expect(Self.field("mode", in: r.out) == "incremental")
        #expect(Self.field("files reused", in: r.out) == "0")
        #expect(Self.field("discarded", in: r.out) == "none")
        #expect(Self.field("total", in: r.out)?.hasSuffix(" ms") == true)
        for name in [
            "sequence", "sync", "async", "bytes written (delta)", "full size", "files new",
            "files linked", "storage on disk",
        ] {
            #expect(Self.field(name, in: r.out) != nil, "no \(name) line in \(r.out)")
        }

        // A write, then a second incremental checkpoint: it reuses the first one's table.
        r = try Self.lsmctl(["put", db, "later", "value"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        r = try Self.lsmctl(["checkpoint", db, storage, "--mode", "incremental", "--retained", "3"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(Self.field("id", in: r.out) == "2")
        let reused = try #require(Self.field("files reused", in: r.out).flatMap { Int($0) }, "output: \(r.out)")
        #expect(reused > 0)

        r = try Self.lsmctl(["checkpoint", db, storage, "--mode", "full", "--retained", "3"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(Self.field("id", in: r.out) == "3")
        #expect(Self.field("mode", in: r.out) == "full")
        #expect(Self.field("discarded", in: r.out) == "none")

        // The listing, as JSON.
        r = try Self.lsmctl(["checkpoints", storage, "--json"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        let parsed = try JSONSerialization.jsonObject(with: Data(r.out.utf8))
        let entries = try #require(parsed as? [[String: Any]], "not an array of objects: \(r.out)")
        #expect(entries.count == 3)
        #expect(entries.compactMap { $0["id"] as? Int } == [1, 2, 3])
        #expect(entries.compactMap { $0["mode"] as? String } == ["incremental", "incremental", "full"])
        for key in ["sequence", "delta", "fullSize", "files", "sharedReferences"] {
            #expect(entries.allSatisfy { $0[key] is Int }, "key \(key) missing or not a number")
        }
        if entries.count == 3 {
            let second = entries[1], third = entries[2]
            let delta = try #require(second["delta"] as? Int), full = try #require(second["fullSize"] as? Int)
            #expect(delta < full, "the second checkpoint uploaded everything: \(second)")
            #expect((second["sharedReferences"] as? Int) == (second["files"] as? Int))
            #expect((third["sharedReferences"] as? Int) == 0)
            #expect((third["delta"] as? Int) == (third["fullSize"] as? Int))
        }

        // The table form: a header and one row per checkpoint.
        r = try Self.lsmctl(["checkpoints", storage], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        let rows = r.out.split(separator: "\n")
        #expect(rows.count == 4)
        #expect(rows.first?.contains("FULL SIZE") == true)

        r = try Self.lsmctl(["verify-checkpoint", storage], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.hasSuffix("OK\n"))
        #expect(Self.field("checkpoint", in: r.out) == "3")
        r = try Self.lsmctl(["verify-checkpoint", storage, "--id", "2"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out.hasSuffix("OK\n"))

        // Restore the latest checkpoint into a new directory and read from it.
        let restored = dir.sub("restored")
        r = try Self.lsmctl(["restore", storage, restored], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(Self.field("last sequence", in: r.out) != nil)
        #expect(Self.field("files", in: r.out) != nil)
        r = try Self.lsmctl(["get", restored, "greeting"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == "hello\n")
        r = try Self.lsmctl(["get", restored, "later"], in: dir)
        #expect(r.out == "value\n")

        // Checkpoint 1 predates the later write.
        let older = dir.sub("older")
        r = try Self.lsmctl(["restore", storage, "--id", "1", older], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        r = try Self.lsmctl(["get", older, "greeting"], in: dir)
        #expect(r.out == "hello\n")
        r = try Self.lsmctl(["get", older, "later"], in: dir)
        #expect(r.status == 1)

        // Restoring over an existing store is refused, naming the directory.
        r = try Self.lsmctl(["restore", storage, restored], in: dir)
        #expect(r.status == 2)
        #expect(r.out.isEmpty)
        #expect(r.err.hasPrefix("lsmctl: invalid argument: "))
        #expect(r.err.contains(restored), "stderr: \(r.err)")
        r = try Self.lsmctl(["get", restored, "greeting"], in: dir)
        #expect(r.out == "hello\n")

        // Damage the largest shared table (the first checkpoint's, which the second reuses).
        let shared = storage + "/shared"
        let names = try FileManager.default.contentsOfDirectory(atPath: shared)
        func size(_ name: String) -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: shared + "/" + name))?[.size] as? Int) ?? 0
        }
        let victim = try #require(names.max { size($0) < size($1) }, "nothing under shared/")
        let victimPath = shared + "/" + victim
        var bytes = try Data(contentsOf: URL(fileURLWithPath: victimPath))
        #expect(bytes.count > 10_000)
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: victimPath))

        r = try Self.lsmctl(["verify-checkpoint", storage, "--id", "2"], in: dir)
        #expect(r.status == 1)
        #expect(!r.out.contains("OK"))
        #expect(r.err.contains("shared/" + victim), "stderr: \(r.err)")
        #expect(r.err.contains("corruption"))
        // The full checkpoint holds its own copies and is unaffected.
        r = try Self.lsmctl(["verify-checkpoint", storage, "--id", "3"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
    }

    @Test("cleanup lists orphans with --dry-run and removes them without it")
    func checkpointCleanup() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db"), storage = dir.sub("storage")
        try Self.fillStore(db, in: dir)
        var r = try Self.lsmctl(["checkpoint", db, storage, "--mode", "incremental"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")

        r = try Self.lsmctl(["cleanup", storage, "--dry-run"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        #expect(r.out == "orphans: 0\n")

        let stray = storage + "/shared/stray.sst", emptyFolder = storage + "/chk-99"
        #expect(FileManager.default.createFile(atPath: stray, contents: Data("junk".utf8)))
        try FileManager.default.createDirectory(atPath: emptyFolder, withIntermediateDirectories: false)

        r = try Self.lsmctl(["cleanup", storage, "--dry-run"], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        var lines = Set(r.out.split(separator: "\n").map(String.init))
        #expect(lines == ["would remove shared/stray.sst", "would remove chk-99", "orphans: 2"])
        #expect(FileManager.default.fileExists(atPath: stray))
        #expect(FileManager.default.fileExists(atPath: emptyFolder))

        r = try Self.lsmctl(["cleanup", storage], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
        lines = Set(r.out.split(separator: "\n").map(String.init))
        #expect(lines == ["removed shared/stray.sst", "removed chk-99", "orphans: 2"])
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(!FileManager.default.fileExists(atPath: emptyFolder))

        // The checkpoint itself is intact.
        r = try Self.lsmctl(["checkpoints", storage, "--json"], in: dir)
        let entries = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]]
        #expect(entries?.count == 1)
        r = try Self.lsmctl(["verify-checkpoint", storage], in: dir)
        #expect(r.status == 0, "stderr: \(r.err)")
    }

    @Test("checkpoint commands report a missing storage or store without creating it")
    func checkpointMissingPaths() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let absent = dir.sub("absent")
        for args in [
            ["checkpoints", absent], ["checkpoints", absent, "--json"],
            ["restore", absent, dir.sub("restored")], ["verify-checkpoint", absent],
            ["cleanup", absent, "--dry-run"], ["cleanup", absent],
        ] {
            let r = try Self.lsmctl(args, in: dir)
            #expect(r.status == 2, "\(args): \(r.err)")
            #expect(r.out.isEmpty)
            #expect(r.err.hasPrefix("lsmctl: "))
            #expect(r.err.contains("does not exist"), "\(args): \(r.err)")
        }
        #expect(!FileManager.default.fileExists(atPath: absent))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("restored")))

        // checkpoint needs an existing store, and then creates nothing.
        var r = try Self.lsmctl(["checkpoint", dir.sub("nodb"), absent, "--mode", "full"], in: dir)
        #expect(r.status == 2)
        #expect(r.err.contains("does not exist"))
        #expect(!FileManager.default.fileExists(atPath: dir.sub("nodb")))
        #expect(!FileManager.default.fileExists(atPath: absent))

        r = try Self.lsmctl(["checkpoint", dir.sub("nodb"), absent, "--mode", "full", "--retained", "0"], in: dir)
        #expect(r.status == 64)
        r = try Self.lsmctl(["checkpoint", dir.sub("nodb"), absent, "--mode", "sideways"], in: dir)
        #expect(r.status == 64)
    }

    /// Lowercase hex of `bytes`.
    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
