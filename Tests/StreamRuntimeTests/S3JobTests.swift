import Foundation
import LSMStore
import LSMStoreS3
import LSMStoreTesting
import S3TestSupport
import Testing

@testable import StreamRuntime

/// Jobs whose checkpoints live in S3 (moto on loopback, signatures checked): exactly-once
/// with failures, rescaling, and restarts that upload nothing the bucket already holds.
@Suite(.serialized) struct S3JobTests {
    /// The checkpoint location `s3://bucket/prefix` on `moto`.
    static func location(
        _ moto: MotoServer, bucket: String = "jobs", prefix: String, through proxy: FaultProxy? = nil
    ) throws -> CheckpointLocation {
        let endpoint = try proxy.map { try #require(URL(string: "http://127.0.0.1:\($0.port)")) } ?? moto.endpoint
        var c = S3Client.Configuration(
            endpoint: endpoint, bucket: bucket, credentials: moto.credentials, encodeSlashInQuery: false)
        if proxy != nil {
            c.retry = .none
            c.requestTimeout = 2
        }
        let client = S3Client(c)
        try client.createBucket()
        let root = S3CheckpointStorage(client: client, prefix: prefix)
        return CheckpointLocation(
            description: "s3://\(bucket)/\(prefix)", storage: { root.substorage($0) },
            removeAll: { try root.substorage($0).removeAll() })
    }

    @Test func exactlyOnceWithCheckpointsInS3() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let seeds: [UInt64] =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) }.map { [$0] }
            ?? (0..<3).map { _ in UInt64.random(in: 0...UInt64.max) }
        for (i, seed) in seeds.enumerated() {
            JobTests.exactlyOnceRun(seed, location: try Self.location(moto, prefix: "property-\(i)"))
        }
    }

    @Test(arguments: [1, 3])
    func rescaleFromTwoThroughS3(to parallelism: Int) throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let location = try Self.location(moto, prefix: "rescale")
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        #expect(throws: StreamError.self) {
            _ = try runJob(
                rows: 8000, seed: 21, accounts: 500, parallelism: 2, mode: .incremental, every: 2000,
                failAt: 5000, attempts: 0, state: s, checkpoints: c, location: location)
        }
        let r = try runJob(
            rows: 8000, seed: 21, accounts: 500, parallelism: parallelism, mode: .incremental, every: 2000,
            resume: true, state: s, checkpoints: c, location: location)
        #expect(r.stateDigest == expectedDigest(rows: 8000, seed: 21, accounts: 500).digest)
        #expect((r.checkpoints.first?.id ?? 0) >= 2, "resumed from a checkpoint, not the beginning")
        #expect(r.checkpoints.allSatisfy { ($0.requests?.puts ?? 0) > 0 }, "requests are counted per checkpoint")
        // Nothing of the job lives in the local folder.
        #expect(!FileManager.default.fileExists(atPath: c + "/job"))
    }

    /// After a restart at the same parallelism, the first checkpoint references the tables the
    /// bucket already holds (as Flink's FLIP-428): each subtask reuses every restored table
    /// still live, and uploads only what it wrote since.
    @Test func aRestartUploadsNothingTheBucketHolds() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let location = try Self.location(moto, prefix: "restart")
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        let r = try runJob(
            rows: 12_000, seed: 5, accounts: 3000, parallelism: 2, mode: .incremental, every: 3000, failAt: 7500,
            state: s, checkpoints: c, location: location)
        #expect(r.stateDigest == expectedDigest(rows: 12_000, seed: 5, accounts: 3000).digest)
        #expect(r.restarts.count == 1)
        // The restart's first checkpoint follows the one restored (checkpoint ids go on from it).
        let restoredID = try #require(r.restarts.first?.restoredCheckpoint, "a checkpoint completed before the failure")
        let restored = try #require(r.checkpoints.last { $0.id == restoredID })
        let first = try #require(r.checkpoints.last { $0.id == restoredID + 1 })
        for (before, after) in zip(restored.subtasks, first.subtasks) {
            #expect(
                after.filesReused >= before.fileCount / 2,
                "reused \(after.filesReused) of the \(before.fileCount) restored tables")
        }
    }

    /// The bucket refuses every request for a while in the middle of the job: the
    /// checkpoints caught in it fail alone, the job goes on to the right state, later
    /// checkpoints complete, and nothing the failed ones wrote stays behind.
    @Test func checkpointsFailWhileTheStorageIsDownAndTheJobGoesOn() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try FaultProxy(upstreamPort: UInt16(try #require(moto.endpoint.port)))
        defer { proxy.stop() }
        let location = try Self.location(moto, prefix: "outage", through: proxy)
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        // Requests 40 to 69 (several of the job's 20 checkpoints) are answered 503 SlowDown
        // or reset.
        proxy.plan { n, _ in (40..<70).contains(n) ? (n % 2 == 0 ? .status(503, "SlowDown") : .reset) : .forward }
        let r = try runJob(
            rows: 30_000, seed: 9, accounts: 800, parallelism: 2, mode: .incremental, every: 1500, attempts: 0,
            state: s, checkpoints: c, location: location)
        proxy.plan { _, _ in .forward }
        #expect(r.stateDigest == expectedDigest(rows: 30_000, seed: 9, accounts: 800).digest)
        #expect(r.restarts.isEmpty, "the job did not fail over: \(r.restarts.map(\.cause))")
        #expect(r.failedCheckpoints > 0)
        #expect(r.checkpoints.count > 3)
        // The latest checkpoint restores the final state; what the failed ones left is
        // removed by cleanup, nothing a completed checkpoint references.
        let restored = try StreamExecutionEnvironmentForRestore.restore(location: location, into: temp("restored"))
        #expect(restored == r.stateDigest)
        for name in try location.storage("subtasks").list("") {
            let storage = try location.storage("subtasks/" + name)
            _ = try Checkpointer.cleanup(storage: storage, dryRun: false, sparingClaimsYoungerThan: .zero)
            #expect(try Checkpointer.cleanup(storage: storage, dryRun: true, sparingClaimsYoungerThan: .zero).isEmpty)
            #expect(try Checkpointer.verify(storage: storage).problems.isEmpty)
        }
    }
}

/// Restores a job's latest checkpoint from a location and returns its digest.
enum StreamExecutionEnvironmentForRestore {
    static func restore(location: CheckpointLocation, into dir: String) throws -> UInt64 {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = StreamExecutionEnvironment(stateDirectory: dir + "/state", checkpointDirectory: dir + "/unused")
        env.checkpointLocation = location
        return try env.restoreLatestCheckpoint(into: dir + "/restored").stateDigest
    }
}
