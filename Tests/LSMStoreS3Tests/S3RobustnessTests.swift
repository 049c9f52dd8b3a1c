import Foundation
import LSMStore
import LSMStoreTesting
import S3TestSupport
import Testing

@testable import LSMStoreS3

/// The client's multipart uploads, retries, rate limit and request counts, against moto
/// (signatures checked), with faults injected by a loopback proxy in between.
@Suite(.serialized) struct S3RobustnessTests {
    /// A client of moto through `proxy`, with quick retries and a short timeout.
    static func client(
        _ moto: MotoServer, through proxy: FaultProxy, configure: (inout S3Client.Configuration) -> Void = { _ in }
    ) throws -> S3Client {
        let endpoint = try #require(URL(string: "http://127.0.0.1:\(proxy.port)"))
        var c = S3Client.Configuration(
            endpoint: endpoint, bucket: "lsm-faults", credentials: moto.credentials, encodeSlashInQuery: false)
        c.retry = S3RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(5), maxDelay: .milliseconds(40))
        c.requestTimeout = 2
        configure(&c)
        let client = S3Client(c)
        try client.createBucket()
        return client
    }

    static func proxy(_ moto: MotoServer) throws -> FaultProxy {
        try FaultProxy(upstreamPort: UInt16(try #require(moto.endpoint.port)))
    }

    /// A client through `proxy` that uploads files of 5 MiB or more in parts of 5 MiB, and a
    /// local file of `size` random bytes to upload.
    static func multipartSetup(
        _ moto: MotoServer, through proxy: FaultProxy, retry: S3RetryPolicy? = nil, size: Int, seed: UInt64,
        in dir: TemporaryDirectory
    ) throws -> (client: S3Client, path: String, bytes: [UInt8]) {
        let s3 = try client(moto, through: proxy) {
            $0.multipartThreshold = 5 << 20
            $0.partSize = 5 << 20
            if let retry { $0.retry = retry }
        }
        var rng = SplitMix64(seed: seed)
        let bytes = rng.bytes(size)
        try PosixFileSystem().writeSyncedFile(dir.sub("big"), bytes)
        return (s3, dir.sub("big"), bytes)
    }

    @Test func largeFilesGoUpInPartsAndComeBackWhole() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Self.proxy(moto)
        defer { proxy.stop() }
        let dir = TemporaryDirectory("s3multipart")
        defer { dir.cleanup() }
        let (s3, path, bytes) = try Self.multipartSetup(moto, through: proxy, size: 12 << 20 + 12345, seed: 5, in: dir)
        let before = s3.stats
        let (size, crc) = try s3.putFile("shared/big.sst", path: path, fileSystem: PosixFileSystem())
        let used = s3.stats.since(before)
        #expect(size == UInt64(bytes.count) && crc == Checksum.crc32c(bytes))
        #expect(used.parts == 3, "three parts of at most 5 MiB")
        #expect(used.multipartControl == 2, "create and complete")
        // The parts, and the small XML body that completes the upload.
        #expect(used.bytesSent >= UInt64(bytes.count) && used.bytesSent < UInt64(bytes.count) + 1024)
        #expect(try s3.get("shared/big.sst") == bytes)
        #expect(try s3.incompleteUploads(prefix: "").isEmpty)
    }

    @Test func aFailedMultipartUploadIsAbortedAndCleanupFindsAbandonedOnes() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Self.proxy(moto)
        defer { proxy.stop() }
        let dir = TemporaryDirectory("s3abort")
        defer { dir.cleanup() }
        let (s3, path, _) = try Self.multipartSetup(
            moto, through: proxy, retry: .none, size: 11 << 20, seed: 6, in: dir)
        // The second part fails: the upload is aborted, nothing stays behind.
        proxy.plan { _, line in line.contains("partNumber=2") ? .status(500, "InternalError") : .forward }
        #expect(throws: S3Error.self) {
            _ = try s3.putFile("p/shared/a.sst", path: path, fileSystem: PosixFileSystem())
        }
        proxy.plan { _, _ in .forward }
        #expect(try s3.incompleteUploads(prefix: "p/").isEmpty)
        #expect(try s3.get("p/shared/a.sst") == nil)
        // An upload a crashed writer started and never finished: found by cleanup, aborted.
        let created = try s3.send("POST", key: "p/shared/b.sst", query: [("uploads", "")], kind: .multipartControl)
        let id = S3Client.tag("UploadId", in: created.body)
        #expect(!id.isEmpty)
        let storage = S3CheckpointStorage(client: s3, prefix: "p")
        let dry = try Checkpointer.cleanup(storage: storage, dryRun: true, sparingClaimsYoungerThan: .zero)
        #expect(dry == ["shared/b.sst (multipart upload \(id))"])
        // (moto reports every upload as started in 2010, so the grace period that spares a
        // young upload, which may be in progress elsewhere, cannot be shown against it.)
        _ = try Checkpointer.cleanup(storage: storage, dryRun: false, sparingClaimsYoungerThan: .zero)
        #expect(try s3.incompleteUploads(prefix: "p/").isEmpty)
    }

    @Test func retryableFailuresAreRetriedUntilTheyPass() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Self.proxy(moto)
        defer { proxy.stop() }
        let s3 = try Self.client(moto, through: proxy)
        let faults: [FaultProxy.Fault] = [
            .status(500, "InternalError"), .status(503, "SlowDown"), .status(503, "ServiceUnavailable"),
            .status(429, "TooManyRequests"), .reset, .stall(3),
        ]
        var rng = SplitMix64(seed: 7)
        for (i, fault) in faults.enumerated() {
            // The first two attempts of the next request fail this way, the third passes.
            let start = proxy.requestCount
            proxy.plan { n, _ in n - start < 2 ? fault : .forward }
            let before = s3.stats
            let bytes = rng.bytes(1000 + i)
            try s3.put("obj-\(i)", bytes)
            #expect(s3.stats.since(before).retries == 2, "\(fault)")
            #expect(s3.stats.since(before).puts == 3, "\(fault)")
            proxy.plan { _, _ in .forward }
            #expect(try s3.get("obj-\(i)") == bytes, "\(fault)")
        }
        // Past the attempts allowed, the failure is the caller's, with its status.
        proxy.plan { _, _ in .status(503, "SlowDown") }
        #expect {
            try s3.put("never", [1, 2, 3])
        } throws: { error in
            (error as? S3Error)?.status == 503 && (error as? S3Error)?.code == "SlowDown"
        }
        // A refusal a retry cannot cure is not retried.
        proxy.plan { _, _ in .status(403, "AccessDenied") }
        let before = s3.stats
        #expect(throws: S3Error.self) { try s3.put("denied", [1]) }
        #expect(s3.stats.since(before).retries == 0)
    }

    @Test func aConditionalCreateWhoseAnswerWasLostIsStillItsOwn() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let proxy = try Self.proxy(moto)
        defer { proxy.stop() }
        let s3 = try Self.client(moto, through: proxy)
        // The first PUT reaches the server, its answer is lost; the retry finds the object.
        let start = proxy.requestCount
        proxy.plan { n, _ in n == start ? .forwardThenReset : .forward }
        #expect(try s3.put("chk-1/_metadata", Array("mine".utf8), ifAbsent: true))
        // Another writer's object is never taken for this call's.
        #expect(try !s3.put("chk-1/_metadata", Array("theirs".utf8), ifAbsent: true))
        #expect(try s3.get("chk-1/_metadata") == Array("mine".utf8))
    }

    @Test func wrongCredentialsAndAnUnreachableEndpointFailWithOneClearError() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        var wrong = moto.credentials
        wrong.secretAccessKey += "x"
        let bad = S3Client(
            S3Client.Configuration(endpoint: moto.endpoint, bucket: "b", credentials: wrong, encodeSlashInQuery: false))
        #expect {
            try bad.createBucket()
        } throws: { error in
            guard let e = error as? S3Error else { return false }
            return e.status == 403 && e.description.contains("SignatureDoesNotMatch")
        }
        #expect(bad.stats.retries == 0)
        // Nothing listens on the proxy's port once it is stopped: retried, then refused.
        let proxy = try Self.proxy(moto)
        let port = proxy.port
        proxy.stop()
        var c = S3Client.Configuration(
            endpoint: try #require(URL(string: "http://127.0.0.1:\(port)")), bucket: "b", credentials: moto.credentials)
        c.retry = S3RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        let unreachable = S3Client(c)
        #expect {
            _ = try unreachable.get("x")
        } throws: { error in
            guard let e = error as? S3Error else { return false }
            return e.status == 0 && e.description.contains("127.0.0.1:\(port)")
        }
        #expect(unreachable.stats.retries == 2)
    }

    @Test func theRateLimitSpacesRequests() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        var c = S3Client.Configuration(
            endpoint: moto.endpoint, bucket: "lsm-rate", credentials: moto.credentials, encodeSlashInQuery: false)
        c.maxRequestsPerSecond = 20
        let s3 = S3Client(c)
        try s3.createBucket()
        // A bucket of 20 tokens, spent by the first 20 requests; the next 10 wait 50 ms each.
        let start = ContinuousClock.now
        for i in 0..<30 { _ = try s3.size("k\(i)") }
        #expect(ContinuousClock.now - start >= .milliseconds(450))
    }
}
