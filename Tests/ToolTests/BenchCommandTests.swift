import Glibc
import Foundation
import Testing

/// The `Bench` experiment end to end on a tiny workload, and its answers to bad input. The
/// binary must be built first (`swift build`); it is looked up in `<package>/.build/debug`.
@Suite("Bench experiment")
struct BenchCommandTests {
    static let binaryPath = LsmctlTests.packageRoot.appendingPathComponent(".build/debug/Bench").path

    static func bench(_ args: [String], in dir: LsmctlTests.TempDir) throws -> LsmctlTests.RunResult {
        try #require(FileManager.default.isExecutableFile(atPath: binaryPath), "build Bench first with `swift build`")
        return try LsmctlTests.run(binaryPath, args, in: dir)
    }

    @Test func tinyExperimentWritesEveryResultAndVerifiesTheState() throws {
        let dir = try LsmctlTests.TempDir()
        defer { dir.cleanup() }
        let r = try Self.bench(
            [
                "--preset", "small", "--rows", "30000", "--accounts", "2000", "--every-records", "5000",
                "--data-dir", dir.sub("data"), "--output", dir.sub("out"), "--work-dir", dir.sub("work"),
                "--fail-at", "12000", "--restart-delay-ms", "0", "--cache-mb", "1", "--max-concurrent", "2",
            ], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Full checkpoint test time: "))
        #expect(r.out.contains("Incremental checkpoint test time: "))
        #expect(Self.verifiedLine(r.out), "\(r.out)")
        #expect(r.out.contains("verdict:"))
        #expect(r.err.contains("injected failure at record 12000"))
        for f in ["results.json", "checkpoints.csv", "report.html"] {
            #expect(FileManager.default.fileExists(atPath: dir.sub("out/" + f)), "\(f) missing")
        }
        let json =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.sub("out/results.json"))))
            as? [String: Any]
        #expect((json?["configuration"] as? [String: Any])?["maxConcurrent"] as? Int == 2)
        let runs = json?["runs"] as? [[String: Any]] ?? []
        #expect(runs.count == 2)
        #expect(
            runs.allSatisfy {
                ($0["stateVerified"] as? Bool) == true && (($0["restarts"] as? [String])?.count ?? 0) == 1
            })
        let csv = try String(contentsOfFile: dir.sub("out/checkpoints.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("mode,storage,run,id,"))
        #expect(csv.split(separator: "\n").count > 4)
        let html = try String(contentsOfFile: dir.sub("out/report.html"), encoding: .utf8)
        #expect(html.components(separatedBy: "<svg").count - 1 == 4)
        #expect(!html.contains("NaN"))
        // The generated input is deterministic: a second generation gives the same bytes.
        let csvName = "transactions-rows30000-accounts2000-seed42.csv"
        let first = try Data(contentsOf: URL(fileURLWithPath: dir.sub("data/" + csvName)))
        let again = try Self.bench(
            [
                "--preset", "small", "--rows", "30000", "--accounts", "2000", "--mode", "incremental",
                "--data-dir", dir.sub("data2"), "--output", dir.sub("out2"), "--work-dir", dir.sub("work2"), "--json",
            ], in: dir)
        #expect(again.status == 0, "\(again.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir.sub("data2/" + csvName))) == first)
        #expect((try? JSONSerialization.jsonObject(with: Data(again.out.utf8))) != nil, "--json prints JSON")
    }

    /// A job killed with SIGKILL mid-run and started again from its latest checkpoint
    /// reaches the same final digest as a run that was never interrupted.
    @Test func killedJobResumesToTheSameDigest() throws {
        let dir = try LsmctlTests.TempDir()
        defer { dir.cleanup() }
        let common = [
            "--rows", "60000", "--accounts", "3000", "--mode", "incremental", "--every-records", "4000",
            "--data-dir", dir.sub("data"), "--cache-mb", "1",
        ]
        func digest(_ out: String) throws -> (String, Bool) {
            let json =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/results.json")))
                as? [String: Any]
            let run = (json?["runs"] as? [[String: Any]])?.first
            return (run?["stateDigest"] as? String ?? "none", run?["stateVerified"] as? Bool ?? false)
        }
        let clean = try Self.bench(common + ["--output", dir.sub("o1"), "--work-dir", dir.sub("w1")], in: dir)
        #expect(clean.status == 0, "\(clean.err)")
        let expected = try digest(dir.sub("o1"))

        // Start, wait for a completed checkpoint, kill -9.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.binaryPath)
        p.arguments = common + ["--output", dir.sub("o2"), "--work-dir", dir.sub("w2"), "--keep-checkpoints"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let jobDir = dir.sub("w2/incremental-1/checkpoints/job")
        let deadline = Date().addingTimeInterval(60)
        func hasCheckpoint() -> Bool {
            ((try? FileManager.default.contentsOfDirectory(atPath: jobDir)) ?? []).contains {
                FileManager.default.fileExists(atPath: jobDir + "/" + $0 + "/_metadata")
            }
        }
        while p.isRunning && !hasCheckpoint() && Date() < deadline { usleep(2_000) }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(hasCheckpoint(), "no checkpoint completed before the kill")

        let resumed = try Self.bench(
            common + ["--output", dir.sub("o3"), "--work-dir", dir.sub("w2"), "--resume"], in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        let got = try digest(dir.sub("o3"))
        #expect(got.0 == expected.0, "resumed digest \(got.0), uninterrupted \(expected.0)")
        #expect(got.1 && expected.1)
    }

    @Test func originalTwoColumnCSVRunsKeyedByTransaction() throws {
        let dir = try LsmctlTests.TempDir()
        defer { dir.cleanup() }
        var text = "transaction_id,amount\n"
        for i in 0..<3000 { text += i % 50 == 0 ? "\(i),\n" : "\(i),\(i % 997).\(i % 10)5\n" }
        try text.write(toFile: dir.sub("in.csv"), atomically: true, encoding: .utf8)
        let r = try Self.bench(
            [
                "--input", dir.sub("in.csv"), "--every-records", "500", "--output", dir.sub("out"),
                "--work-dir", dir.sub("work"),
            ], in: dir)
        #expect(r.status == 0, "\(r.err)")
        #expect(Self.verifiedLine(r.out), "\(r.out)")
    }

    @Test func badInputGetsAClearMessageAndANonZeroExit() throws {
        let dir = try LsmctlTests.TempDir()
        defer { dir.cleanup() }
        let cases: [([String], String)] = [
            (["--preset", "huge"], "--preset must be large or small"),
            (["--mode", "both-ways"], "--mode must be full, incremental or both"),
            (["--every-records", "0"], "--every-records must be positive"),
            (["--every-records", "10", "--interval-ms", "10"], "not both"),
            (["--input", dir.sub("missing.csv")], "no such file"),
            (["--rate=-1"], "--rate must be positive"),
            (["--runs", "x"], "runs"),
            (["--max-concurrent", "0"], "--max-concurrent must be at least 1"),
        ]
        for (args, message) in cases {
            let r = try Self.bench(args + ["--output", dir.sub("out"), "--work-dir", dir.sub("work")], in: dir)
            #expect(r.status != 0, "\(args)")
            #expect(r.err.contains(message), "\(args): \(r.err)")
            #expect(!r.err.contains("Fatal error") && !r.err.contains("Stack dump"), "\(args)")
        }
        // A CSV with neither key column.
        try "id,value\n1,2\n".write(toFile: dir.sub("bad.csv"), atomically: true, encoding: .utf8)
        let r = try Self.bench(
            ["--input", dir.sub("bad.csv"), "--output", dir.sub("out"), "--work-dir", dir.sub("work")], in: dir)
        #expect(r.status == 1)
        #expect(r.err.contains("has neither account_id nor transaction_id"), "\(r.err)")
        // A malformed row names its line.
        try "transaction_id,amount\n1,10.00\n2,abc\n".write(
            toFile: dir.sub("malformed.csv"), atomically: true, encoding: .utf8)
        let m = try Self.bench(
            [
                "--input", dir.sub("malformed.csv"), "--restart-delay-ms", "0", "--output", dir.sub("out"),
                "--work-dir", dir.sub("work"),
            ], in: dir)
        #expect(m.status == 1)
        #expect(m.err.contains("line 3"), "\(m.err)")
    }

    /// The summary's "state verified after restore" row says yes for both modes.
    static func verifiedLine(_ out: String) -> Bool {
        out.split(separator: "\n").contains { line in
            line.hasPrefix("state verified after restore")
                && line.split(separator: " ").filter { $0 == "yes" }.count == 2
        }
    }
}
