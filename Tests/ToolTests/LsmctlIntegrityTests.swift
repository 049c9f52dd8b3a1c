import Foundation
import Testing
@testable import LSMStore

/// `lsmctl` when something is damaged: a WAL with a flipped byte before its last record, a
/// damaged newest checkpoint `_metadata`. Random positions; the round picks them.
@Suite struct LsmctlIntegrityTests {
    typealias T = LsmctlTests

    @Test(arguments: 0..<3)
    func verifyAndOpenReportAFlippedByteInTheLastBlockOfALog(round: Int) throws {
        var rng = SeededRandom(seed: UInt64(500 + round))
        let dir = T.TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db")
        try T.fillStore(db, in: dir)
        let logs = try FileManager.default.contentsOfDirectory(atPath: db).filter { $0.hasSuffix(".log") }.sorted()
        let log = db + "/" + (try #require(logs.last))
        var data = try PosixFileSystem().readFile(log)
        var reader = LogReader(data: data, fileName: log, tail: .strict)
        var offsets: [Int] = []
        while let (_, offset) = try reader.next() { offsets.append(offset) }
        // Inside a record of the last 32 KiB block, before the last record: no later block
        // holds an intact record, but later records in the same block make it damage.
        let lastBlock = (data.count - 1) / LogFormat.blockSize * LogFormat.blockSize
        let candidates = (0..<(offsets.count - 1)).filter { offsets[$0] >= lastBlock }
        try #require(!candidates.isEmpty)
        let k = candidates[Int.random(in: 0..<candidates.count, using: &rng)]
        let pos = Int.random(in: offsets[k]..<offsets[k + 1], using: &rng)
        data[pos] ^= UInt8.random(in: 1...255, using: &rng)
        try overwriteFile(log, data)
        var r = try T.lsmctl(["verify", db], in: dir)
        #expect(r.status == 1 && r.err.contains(log), "round \(round), byte \(pos): \(r.status) \(r.out) \(r.err)")
        r = try T.lsmctl(["get", db, "greeting"], in: dir)
        #expect(
            r.status == 2 && r.err.contains("corruption") && r.err.contains(log),
            "round \(round), byte \(pos): \(r.err)")
    }

    @Test func aDamagedNewestCheckpointIsListedAndNotRestoredInSilence() throws {
        var rng = SeededRandom(seed: 600)
        let dir = T.TempDir()
        defer { dir.cleanup() }
        let db = dir.sub("db"), storage = dir.sub("storage")
        try T.fillStore(db, in: dir)
        for i in 0..<3 {
            var r = try T.lsmctl(["put", db, "round", "\(i)"], in: dir)
            #expect(r.status == 0, "stderr: \(r.err)")
            r = try T.lsmctl(["checkpoint", db, storage, "--mode", "incremental", "--retained", "3"], in: dir)
            #expect(r.status == 0, "stderr: \(r.err)")
        }
        let meta = storage + "/chk-3/_metadata"
        var data = try PosixFileSystem().readFile(meta)
        let pos = Int.random(in: 0..<data.count, using: &rng)
        data[pos] ^= 0x10
        try overwriteFile(meta, data)

        var r = try T.lsmctl(["checkpoints", storage], in: dir)
        #expect(
            r.status == 1 && r.out.contains("damaged") && r.err.contains("checkpoint 3 is damaged"), "\(r.out) \(r.err)"
        )
        r = try T.lsmctl(["verify-checkpoint", storage], in: dir)
        #expect(r.status == 1 && r.out.contains("checkpoint: 3"), "\(r.out) \(r.err)")
        r = try T.lsmctl(["restore", storage, dir.sub("r1")], in: dir)
        #expect(r.status == 2 && r.err.contains("chk-3/_metadata"), "\(r.out) \(r.err)")
        r = try T.lsmctl(["restore", storage, "--fall-back-past-damaged", dir.sub("r2")], in: dir)
        #expect(
            r.status == 0 && T.field("checkpoint", in: r.out) == "2"
                && r.err.contains("passed over damaged checkpoint 3"), "\(r.out) \(r.err)")
        r = try T.lsmctl(["get", dir.sub("r2"), "round"], in: dir)
        #expect(r.out.contains("1"), "\(r.out) \(r.err)")
        // Cleanup keeps every shared file while the damaged checkpoint is there.
        let before = try FileManager.default.contentsOfDirectory(atPath: storage + "/shared")
        r = try T.lsmctl(["cleanup", storage, "--grace-s", "0"], in: dir)
        #expect(r.status == 0 && r.err.contains("damaged"))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: storage + "/shared")) == Set(before))
    }

    @Test func twoStoresInOneStorageThroughLsmctl() throws {
        let dir = T.TempDir()
        defer { dir.cleanup() }
        let storage = dir.sub("storage")
        for name in ["a", "b"] {
            var r = try T.lsmctl(["put", dir.sub(name), "owner", name], in: dir)
            #expect(r.status == 0, "stderr: \(r.err)")
            r = try T.lsmctl(
                ["checkpoint", dir.sub(name), storage, "--mode", "incremental", "--retained", "1"], in: dir)
            #expect(r.status == 0, "stderr: \(r.err)")
        }
        var r = try T.lsmctl(["checkpoints", storage, "--json"], in: dir)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(rows.count == 2, "b's retention of 1 kept a's checkpoint: \(r.out)")
        let stores = rows.compactMap { $0["store"] as? String }
        #expect(Set(stores).count == 2)
        r = try T.lsmctl(["restore", storage, dir.sub("r")], in: dir)
        #expect(r.status == 2 && r.err.contains("2 stores"), "\(r.err)")
        r = try T.lsmctl(["restore", storage, "--store", stores[0], dir.sub("r")], in: dir)
        #expect(r.status == 0, "\(r.err)")
        r = try T.lsmctl(["get", dir.sub("r"), "owner"], in: dir)
        #expect(r.out == "a\n", "\(r.out)")
    }
}
