import Foundation
import Testing

/// Savepoints through the command line: `Bench job` takes one and starts from one,
/// `lsmctl savepoint-info` and `verify-savepoint` read it, and damage is reported.
@Suite("savepoint tools")
struct SavepointToolTests {
    static func digest(_ out: String) -> String? {
        out.split(separator: "\n").first { $0.contains("state digest") }.flatMap {
            $0.split(separator: " ").last.map(String.init)
        }
    }

    @Test func benchTakesAndRestoresASavepointAndLsmctlReadsIt() throws {
        let dir = LsmctlTests.TempDir("savepoint-tools")
        defer { dir.cleanup() }
        let sp = dir.sub("sp")
        let common = [
            "job", "--preset", "small", "--rows", "60000", "--mode", "incremental", "--every-records", "20000",
        ]
        let whole = try BenchCommandTests.bench(common + ["--parallelism", "2"], in: dir)
        #expect(whole.status == 0, "\(whole.err)")
        let stopped = try BenchCommandTests.bench(
            common + ["--parallelism", "2", "--stop-with-savepoint-at", "25000", "--savepoint-dir", sp], in: dir)
        #expect(stopped.status == 0, "\(stopped.err)")
        #expect(stopped.out.contains("after 25000 records") && stopped.out.contains("the job stopped there"))

        let info = try LsmctlTests.lsmctl(["savepoint-info", sp], in: dir)
        #expect(info.status == 0, "\(info.err)")
        #expect(info.out.contains("source records: 25000"))
        #expect(info.out.contains("state \"account\": value, AccountStateCodec v1"))
        #expect(info.out.contains("part part-1: key groups 64...127"))
        let verified = try LsmctlTests.lsmctl(["verify-savepoint", sp], in: dir)
        #expect(verified.status == 0 && verified.out.hasSuffix("OK\n"), "\(verified.out) \(verified.err)")

        // Restored at parallelism 3: the uninterrupted run's final state.
        let resumed = try BenchCommandTests.bench(common + ["--parallelism", "3", "--from-savepoint", sp], in: dir)
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(Self.digest(resumed.out) != nil && Self.digest(resumed.out) == Self.digest(whole.out), "\(resumed.out)")

        // A damaged part: verify-savepoint exits 1 naming it; a restore fails naming it.
        let part = sp + "/part-0"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: part)))
        let at = Int.random(in: 8..<bytes.count)
        bytes[at] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: part))
        let damaged = try LsmctlTests.lsmctl(["verify-savepoint", sp], in: dir)
        #expect(damaged.status == 1 && damaged.err.contains("part-0"), "byte \(at): \(damaged.err)")
        let refused = try BenchCommandTests.bench(common + ["--parallelism", "1", "--from-savepoint", sp], in: dir)
        #expect(refused.status != 0 && refused.err.contains("part-0"), "byte \(at): \(refused.err)")

        // Bad input: one clear line, a non-zero exit.
        let bad = try BenchCommandTests.bench(common + ["--parallelism", "1", "--savepoint-at", "5"], in: dir)
        #expect(bad.status != 0 && bad.err.contains("--savepoint-dir"))
        let missing = try LsmctlTests.lsmctl(["savepoint-info", dir.sub("nothing")], in: dir)
        #expect(missing.status == 2 && missing.err.contains("does not exist"))
    }
}
