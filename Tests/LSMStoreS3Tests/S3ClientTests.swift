import Foundation
import LSMStore
import S3TestSupport
import Testing

@testable import LSMStoreS3

/// The S3 client against moto's S3 server on loopback, with Signature Version 4 checked.
@Suite(.serialized) struct S3ClientTests {
    static func client(_ moto: MotoServer, bucket: String = "lsm-checkpoints") throws -> S3Client {
        let c = S3Client(
            S3Client.Configuration(
                endpoint: moto.endpoint, bucket: bucket, credentials: moto.credentials, encodeSlashInQuery: false))
        try c.createBucket()
        return c
    }

    @Test func objectsRoundTripAndListingsPage() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let s3 = try Self.client(moto)
        var rng = SplitMix64(seed: 77)
        var written: [String: [UInt8]] = [:]
        for name in [
            "chk-1/_metadata", "chk-1/000012.sst", "chk-2/_claim", "shared/ab-000007.sst", "shared/ab-000009.sst",
        ] {
            let bytes = rng.bytes(Int.random(in: 0...5000, using: &rng))
            try s3.put(name, bytes)
            written[name] = bytes
        }
        for (name, bytes) in written {
            #expect(try s3.get(name) == bytes, "\(name)")
            #expect(try s3.size(name) == UInt64(bytes.count), "\(name)")
        }
        #expect(try s3.get("chk-9/_metadata") == nil)
        #expect(try s3.size("chk-9/_metadata") == nil)
        // Top level, folders rolled up, in pages of two.
        let top = try s3.list(prefix: "", delimiter: "/", pageSize: 2)
        #expect(Set(top.prefixes) == ["chk-1/", "chk-2/", "shared/"] && top.objects.isEmpty)
        let shared = try s3.list(prefix: "shared/", delimiter: "/", pageSize: 1)
        #expect(shared.objects.map(\.key).sorted() == ["shared/ab-000007.sst", "shared/ab-000009.sst"])
        try s3.delete("shared/ab-000007.sst")
        try s3.delete("shared/never-written")
        #expect(try s3.list(prefix: "shared/").objects.map(\.key) == ["shared/ab-000009.sst"])
    }

    @Test func createIfAbsentNeverReplaces() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let s3 = try Self.client(moto)
        #expect(try s3.put("chk-3/_metadata", Array("first".utf8), ifAbsent: true))
        #expect(try !s3.put("chk-3/_metadata", Array("second".utf8), ifAbsent: true))
        #expect(try s3.get("chk-3/_metadata") == Array("first".utf8))
    }

    @Test func aWrongSecretIsRefusedBySignature() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try Self.client(moto)
        var wrong = moto.credentials
        wrong.secretAccessKey += "x"
        let bad = S3Client(
            S3Client.Configuration(
                endpoint: moto.endpoint, bucket: "lsm-checkpoints", credentials: wrong, encodeSlashInQuery: false))
        #expect {
            _ = try bad.get("anything")
        } throws: { error in
            guard let e = error as? S3Error else { return false }
            return e.status == 403 && e.code == "SignatureDoesNotMatch"
        }
    }

    @Test func damagedBytesAreCaughtByTheirChecksum() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let s3 = try Self.client(moto)
        var rng = SplitMix64(seed: 78)
        let bytes = rng.bytes(3000)
        var other = bytes
        other[Int.random(in: 0..<other.count, using: &rng)] ^= 0x40
        // Stored with the checksum of other bytes (as if damaged in the store): refused.
        let r = try s3.send(
            "PUT", key: "shared/x.sst",
            headers: [("x-amz-meta-crc32c", String(Checksum.crc32c(bytes), radix: 16))], body: other)
        #expect(r.status == 200)
        #expect {
            _ = try s3.get("shared/x.sst")
        } throws: { error in
            guard case let .corruption(file, _, _)? = error as? LSMError else { return false }
            return file == "shared/x.sst"
        }
        // And an object without a checksum is not trusted either.
        _ = try s3.send("PUT", key: "shared/y.sst", body: bytes)
        #expect(throws: LSMError.self) { _ = try s3.get("shared/y.sst") }
    }
}

/// Virtual-hosted addressing (`BUCKET.s3.REGION.amazonaws.com/key`), the form AWS prefers,
/// against moto: requests connect to the local server while their `Host` header and
/// signature name AWS's host.
@Suite(.serialized) struct S3VirtualHostedTests {
    @Test func objectsAndListingsThroughVirtualHostedNames() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try S3ClientTests.client(moto, bucket: "lsm-virtual")
        let port = try #require(moto.endpoint.port)
        var c = S3Client.Configuration(
            endpoint: try #require(URL(string: "http://s3.us-east-1.amazonaws.com:\(port)")), bucket: "lsm-virtual",
            pathStyle: false, credentials: moto.credentials, encodeSlashInQuery: false)
        c.retry = .none
        let s3 = S3Client(c)
        s3.connectAddress = ("127.0.0.1", port)
        var rng = SplitMix64(seed: 3)
        let bytes = rng.bytes(3000)
        try s3.put("shared/a.sst", bytes)
        #expect(try s3.get("shared/a.sst") == bytes)
        #expect(try s3.list(prefix: "shared/").objects.map(\.key) == ["shared/a.sst"])
        // The same object, path-style.
        let pathStyle = try S3ClientTests.client(moto, bucket: "lsm-virtual")
        #expect(try pathStyle.get("shared/a.sst") == bytes)
    }
}

/// The client's fallback for servers that canonicalize `/` in a query as sent: kept when it
/// passes, undone when the signature was refused for another reason (a wrong key).
@Suite(.serialized) struct S3QueryEncodingTests {
    @Test func theSlashEncodingFallbackIsKeptOnlyWhenItPasses() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try S3ClientTests.client(moto, bucket: "lsm-encoding")
        // AWS's encoding (the default) against moto: the first listing with a `/` in its
        // prefix is refused, retried the other way, which passes and stays.
        let s3 = S3Client(
            S3Client.Configuration(endpoint: moto.endpoint, bucket: "lsm-encoding", credentials: moto.credentials))
        try s3.put("a/b", [1])
        #expect(try s3.list(prefix: "a/").objects.map(\.key) == ["a/b"])
        let before = s3.stats
        #expect(try s3.list(prefix: "a/").objects.map(\.key) == ["a/b"])
        #expect(s3.stats.since(before).retries == 0, "the encoding that passed is kept")
        #expect(!s3.encodesSlashInQuery)
        // A wrong key: both encodings refused, the error reaches the caller, and the client
        // is back on the configured encoding.
        var wrong = moto.credentials
        wrong.secretAccessKey += "x"
        let bad = S3Client(
            S3Client.Configuration(endpoint: moto.endpoint, bucket: "lsm-encoding", credentials: wrong))
        #expect(throws: S3Error.self) { _ = try bad.list(prefix: "a/") }
        #expect(bad.encodesSlashInQuery)
        let again = bad.stats
        #expect(throws: S3Error.self) { _ = try bad.list(prefix: "a/") }
        #expect(bad.stats.since(again).retries == 0, "the fallback is tried once per client")
    }
}
