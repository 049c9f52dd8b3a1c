import Glibc
import Foundation
import Testing
@testable import LSMStore

/// A child `lsmctl batch --sync` is killed with SIGKILL at random moments while it writes.
/// After each kill the store must open, and every write the child acknowledged (an OK line
/// it printed) must be there with its value. 30 rounds by default; `LSM_KILL_ROUNDS`
/// (`make soak`: 1,000) for more. Replay with LSM_SEED.
@Suite("kill -9")
struct KillTests {
    static func hex(_ s: String) -> String { s.utf8.map { String(format: "%02x", $0) }.joined() }

    @Test func killedBatchKeepsEveryAcknowledgedWrite() throws {
        let exe = try LsmctlTests.binary()
        let rounds = ProcessInfo.processInfo.environment["LSM_KILL_ROUNDS"].flatMap { Int($0) } ?? 30
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let dir = try LsmctlTests.TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db")
        var acknowledged: [String: String] = [:]
        for round in 0..<rounds {
            // Unique keys per write, a flush now and then so tables and manifests change too.
            var input = ""
            for i in 0..<3000 {
                if i % 700 == 699 { input += "flush\n" }
                input += "put \(Self.hex("r\(round)-\(i)")) \(Self.hex("value \(i) of round \(round)"))\n"
            }
            let inPath = dir.sub("in"), outPath = dir.sub("out")
            try input.write(toFile: inPath, atomically: true, encoding: .utf8)
            FileManager.default.createFile(atPath: outPath, contents: nil)
            let inHandle = try #require(FileHandle(forReadingAtPath: inPath))
            let outHandle = try #require(FileHandle(forWritingAtPath: outPath))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = ["batch", db, "--sync"]
            p.standardInput = inHandle
            p.standardOutput = outHandle
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32.random(in: 5_000...120_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            try inHandle.close()
            try outHandle.close()
            // Responses come in input order: the first n puts were acknowledged.
            let oks = try String(contentsOfFile: outPath, encoding: .utf8).split(separator: "\n").filter { $0 == "OK" }
                .count
            var puts = 0, responses = 0
            for line in input.split(separator: "\n") where responses < oks {
                responses += 1
                if line.hasPrefix("put ") {
                    acknowledged["r\(round)-\(puts)"] = "value \(puts) of round \(round)"
                    puts += 1
                }
            }
            // Restart: every write acknowledged in this round is there, and a sample of the
            // earlier rounds' (all of them at the end).
            let store = try LSMStore.open(at: db, options: Options())
            let mine = acknowledged.filter { $0.key.hasPrefix("r\(round)-") }
            let check =
                round == rounds - 1
                ? acknowledged
                : mine.merging(acknowledged.shuffled(using: &rng).prefix(300).map { ($0.key, $0.value) }) { a, _ in a }
            for (k, v) in check {
                let got = try store.get(Array(k.utf8)).map { String(decoding: $0, as: UTF8.self) }
                #expect(
                    got == v,
                    "seed \(seed), round \(round) (killed after \(oks) OKs): \(k) = \(String(describing: got))")
                if got != v { break }
            }
            try store.close()
        }
        #expect(!acknowledged.isEmpty, "no write was acknowledged in \(rounds) rounds")
    }
}
