import Foundation
import LSMStore

/// Object operations: bucket creation, put (single or multipart), get, head, delete, list.
extension S3Client {
    /// Creates the bucket (an existing bucket of the caller's is not an error).
    public func createBucket() throws {
        let r = try send("PUT", key: nil)
        if r.status == 200 || (r.status == 409 && failure(r, "").code == "BucketAlreadyOwnedByYou") { return }
        throw failure(r, "PUT bucket \(configuration.bucket)")
    }

    /// Stores `bytes` as `key`, with their CRC32C. With `ifAbsent`, only when no object of that
    /// name exists (`If-None-Match: *`): returns false, changing nothing, when one does.
    ///
    /// A conditional create whose answer was lost and which was retried finds its own object
    /// there: an existing object with exactly these bytes counts as created by this call
    /// (the objects created this way, claims and metadata, name their writer and time, so
    /// another writer's are never byte for byte the same).
    @discardableResult
    public func put(_ key: String, _ bytes: [UInt8], ifAbsent: Bool = false) throws -> Bool {
        var headers: [(name: String, value: String)] = [
            ("x-amz-meta-crc32c", String(Checksum.crc32c(bytes), radix: 16))
        ]
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        let r = try send("PUT", key: key, headers: headers, body: bytes)
        if r.status == 200 { return true }
        if ifAbsent && (r.status == 412 || r.status == 409) {
            return try get(key) == bytes
        }
        throw failure(r, "PUT \(key)")
    }

    /// The object `key`, its CRC32C checked, or nil when there is none.
    public func get(_ key: String) throws -> [UInt8]? {
        let r = try send("GET", key: key)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw failure(r, "GET \(key)") }
        guard let stored = r.headers["x-amz-meta-crc32c"].flatMap({ UInt32($0, radix: 16) }) else {
            throw LSMError.corruption(file: key, offset: 0, reason: "object has no CRC32C (x-amz-meta-crc32c)")
        }
        guard stored == Checksum.crc32c(r.body) else {
            throw LSMError.corruption(file: key, offset: 0, reason: "object bytes differ from their CRC32C")
        }
        return r.body
    }

    /// The size of object `key`, or nil when there is none.
    public func size(_ key: String) throws -> UInt64? {
        let r = try send("HEAD", key: key)
        if r.status == 404 { return nil }
        guard r.status == 200 else { throw failure(r, "HEAD \(key)") }
        return r.headers["content-length"].flatMap { UInt64($0) } ?? 0
    }

    /// Deletes object `key` (a missing one is not an error).
    public func delete(_ key: String) throws {
        let r = try send("DELETE", key: key)
        guard r.status == 204 || r.status == 200 || r.status == 404 else { throw failure(r, "DELETE \(key)") }
    }

    /// One entry of a listing.
    public struct Listing: Sendable {
        /// Objects: key and size.
        public var objects: [(key: String, size: UInt64)] = []
        /// Common prefixes (with `delimiter`): the "folders" directly under the prefix.
        public var prefixes: [String] = []
    }

    /// Every object under `prefix` (ListObjectsV2, following continuation tokens); with a
    /// delimiter, keys past it are rolled up into `prefixes`.
    public func list(prefix: String, delimiter: String? = nil) throws -> Listing {
        try list(prefix: prefix, delimiter: delimiter, pageSize: nil)
    }

    /// `list`, asking for pages of at most `pageSize` keys (S3's default is 1,000).
    func list(prefix: String, delimiter: String?, pageSize: Int?) throws -> Listing {
        var out = Listing()
        var token: String? = nil
        repeat {
            // An empty prefix is left out (some servers drop blank parameters before checking
            // the signature).
            var query: [(name: String, value: String)] = [("list-type", "2")]
            if !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let delimiter { query.append(("delimiter", delimiter)) }
            if let pageSize { query.append(("max-keys", String(pageSize))) }
            if let token { query.append(("continuation-token", token)) }
            let r = try send("GET", key: nil, query: query)
            guard r.status == 200 else { throw failure(r, "LIST \(prefix)") }
            guard let page = ListingParser.parse(r.body) else {
                throw S3Error(status: 200, code: "", message: "malformed listing", request: "LIST \(prefix)")
            }
            out.objects += page.objects
            out.prefixes += page.prefixes
            token = page.truncated ? page.nextToken : nil
        } while token != nil
        return out
    }
}

extension S3Client {
    /// Checks that the bucket exists and these credentials may list it (one small listing);
    /// throws an `S3Error` whose description says what is wrong: no such bucket, access
    /// denied, a refused signature, or no answer from the endpoint.
    public func checkBucket() throws {
        let r = try send("GET", key: nil, query: [("list-type", "2"), ("max-keys", "1")])
        guard r.status == 200 else {
            var e = failure(r, "LIST bucket \(configuration.bucket)")
            if e.code == "NoSuchBucket" { e.message = "bucket \(configuration.bucket) does not exist" }
            throw e
        }
    }
}
