import Foundation
import LSMStore
import LSMStoreTesting
import S3TestSupport
import Testing

@testable import LSMStoreS3

/// Checkpoints of a live store into moto's S3 (signatures checked): full and incremental,
/// retention, verify, restore, and damage caught by the objects' checksums.
@Suite(.serialized) struct S3CheckpointStorageTests {
    @Test func checkpointsRetentionAndRestoreThroughS3() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let client = try S3ClientTests.client(moto)
        let storage = S3CheckpointStorage(client: client, prefix: "jobs/one")
        let dir = TemporaryDirectory("s3ckpt")
        defer { dir.cleanup() }
        var options = Options()
        options.memtableSize = 64 << 10
        let store = try LSMStore.open(at: dir.sub("db"), options: options)
        let cp = try Checkpointer(store: store, storage: storage, retained: 2)
        var model: [String: String] = [:]
        var rng = SplitMix64(seed: 91)
        var ids: [UInt64] = []
        for round in 0..<4 {
            for _ in 0..<300 {
                let k = "key\(Int.random(in: 0..<500, using: &rng))"
                let v = "v\(round)-\(rng.next() % 1000)"
                try store.put(k, v)
                model[k] = v
            }
            let report = try cp.checkpoint(mode: round == 2 ? .full : .incremental)
            #expect(report.filesLinked == 0)
            ids.append(report.id)
        }
        // Retention 2 kept the two newest; their objects are all there and verify.
        #expect(try Checkpointer.list(storage).map(\.id) == Array(ids.suffix(2)))
        #expect(try Checkpointer.verify(storage: storage).problems.isEmpty)
        #expect(try storage.list("").contains("shared"))
        let restored = try LSMStore.restore(from: storage, to: dir.sub("restored"))
        for (k, v) in model { #expect(try restored.get(k) == v, "\(k)") }
        try restored.close()
        // Nothing is left for cleanup.
        #expect(try Checkpointer.cleanup(storage: storage, dryRun: true, sparingClaimsYoungerThan: .zero).isEmpty)
        // A damaged object (bytes that do not match their checksum) stops a restore, naming it.
        let m = try #require(try Checkpointer.list(storage).last)
        let victim = try #require(m.files.first)
        var bytes = try storage.get(victim.name)
        bytes[bytes.count / 2] ^= 1
        _ = try client.send(
            "PUT", key: storage.key(victim.name),
            headers: [("x-amz-meta-crc32c", String(Checksum.crc32c(try storage.get(victim.name)), radix: 16))],
            body: bytes)
        #expect {
            _ = try LSMStore.restore(from: storage, to: dir.sub("restored-2"))
        } throws: { error in
            guard case let .corruption(file, _, _)? = error as? LSMError else { return false }
            return file.hasSuffix(victim.name)
        }
        try store.close()
    }
}

/// Checkpoints through a proxy that takes the server away in the middle of one.
@Suite(.serialized) struct S3CheckpointFaultTests {
    @Test func aCheckpointCutOffMidUploadFailsAloneAndItsObjectsAreCleanedUp() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try S3RobustnessTests.proxy(moto)
        defer { proxy.stop() }
        let client = try S3RobustnessTests.client(moto, through: proxy) {
            $0.retry = S3RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        }
        let storage = S3CheckpointStorage(client: client, prefix: "job", transferParallelism: 4)
        let dir = TemporaryDirectory("s3cutoff")
        defer { dir.cleanup() }
        var options = Options()
        options.memtableSize = 32 << 10
        let store = try LSMStore.open(at: dir.sub("db"), options: options)
        let cp = try Checkpointer(store: store, storage: storage, retained: 3)
        var model: [String: String] = [:]
        let seed = UInt64(Int.random(in: 0..<1_000_000))
        var rng = SplitMix64(seed: seed)
        func writeSome(_ round: Int) throws {
            for _ in 0..<400 {
                let k = "key\(rng.next() % 2000)"
                let v = "v\(round)-" + String(repeating: "x", count: Int(rng.next() % 200))
                try store.put(k, v)
                model[k] = v
            }
        }
        try writeSome(0)
        let first = try cp.checkpoint(mode: .incremental)
        let requests = try #require(first.requests)
        #expect(requests.puts >= first.filesNew + 2, "claim, tables and _metadata")
        let atFirst = model
        // The next checkpoint loses the server after a random number (1-4) of its requests
        // (it makes at least six: a listing, its claim, two tables, `_metadata`, a listing).
        try writeSome(1)
        let cutAfter = proxy.requestCount + 1 + Int(rng.next() % 4)
        proxy.plan { n, _ in n >= cutAfter ? .reset : .forward }
        #expect(throws: (any Error).self, "seed \(seed)") { _ = try cp.checkpoint(mode: .incremental) }
        // The server is back: the store and later checkpoints go on; the first is intact.
        proxy.plan { _, _ in .forward }
        #expect(try Checkpointer.verify(storage: storage, checkpoint: first.id).problems.isEmpty)
        try writeSome(2)
        let third = try cp.checkpoint(mode: .incremental)
        // What the cut-off checkpoint left is found and removed; nothing referenced goes.
        _ = try cp.cleanup(sparingClaimsYoungerThan: .zero)
        #expect(try cp.cleanup(dryRun: true, sparingClaimsYoungerThan: .zero).isEmpty)
        #expect(try Checkpointer.verify(storage: storage, checkpoint: third.id).problems.isEmpty)
        let latest = try LSMStore.restore(from: storage, to: dir.sub("latest"))
        for (k, v) in model { #expect(try latest.get(k) == v, "\(k)") }
        try latest.close()
        let older = try LSMStore.restore(from: storage, checkpoint: first.id, to: dir.sub("first"))
        for (k, v) in atFirst { #expect(try older.get(k) == v, "\(k)") }
        try older.close()
        try store.close()
    }
}
