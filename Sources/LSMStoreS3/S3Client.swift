import Foundation
import LSMStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(FoundationXML)
    import FoundationXML
#endif

/// A failed S3 request: the HTTP status, S3's error code and message, and the object.
public struct S3Error: Error, Sendable, CustomStringConvertible {
    /// The HTTP status (0 when no response arrived).
    public var status: Int
    /// S3's error code (`NoSuchKey`, `SignatureDoesNotMatch`, …), when the body named one.
    public var code: String
    /// What S3 or the transport said.
    public var message: String
    /// The request: method and object key (or bucket).
    public var request: String

    /// A one-line description for messages and logs.
    public var description: String { "S3 \(request): HTTP \(status) \(code) \(message)" }
}

/// A small synchronous S3 client for the operations checkpoint storage needs: put (optionally
/// only if absent), get, head, delete, list, create bucket. Path-style or virtual-hosted
/// addressing; every request signed with Signature Version 4; every object carries the
/// CRC32C of its bytes (`x-amz-meta-crc32c`), checked on every get. HTTP goes through
/// Foundation's URLSession (FoundationNetworking on Linux), which the toolchain ships: no
/// HTTP package to build, and the client's calls are synchronous, as `CheckpointStorage`'s are.
public final class S3Client: @unchecked Sendable {
    /// Where and as whom the client talks.
    public struct Configuration: Sendable {
        /// The service's endpoint, e.g. `https://s3.us-east-1.amazonaws.com` or
        /// `http://127.0.0.1:9000` (`AWS_ENDPOINT_URL`).
        public var endpoint: URL
        /// The bucket.
        public var bucket: String
        /// The region (`AWS_REGION`); `us-east-1` by default.
        public var region: String
        /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted
        /// (`bucket.endpoint/key`); MinIO, Ceph RGW and local servers want path style.
        public var pathStyle: Bool
        /// The credentials that sign every request.
        public var credentials: AWSCredentials
        /// Whether `/` in query values is percent-encoded, as SigV4 specifies and AWS and MinIO
        /// expect (the default). moto's server signs the query as sent without re-encoding
        /// it, so against moto `/` goes unencoded, in the request and in its signature alike.
        public var encodeSlashInQuery: Bool

        /// A configuration.
        public init(
            endpoint: URL, bucket: String, region: String = "us-east-1", pathStyle: Bool = true,
            credentials: AWSCredentials, encodeSlashInQuery: Bool = true
        ) {
            self.endpoint = endpoint
            self.bucket = bucket
            self.region = region
            self.pathStyle = pathStyle
            self.credentials = credentials
            self.encodeSlashInQuery = encodeSlashInQuery
        }
    }

    /// The configuration.
    public let configuration: Configuration
    private let signer: SigV4Signer
    private let session: URLSession

    /// A client for `configuration`.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = 60
        // Its own delegate queue: completions never wait for a main queue a caller may block.
        session = URLSession(configuration: c, delegate: nil, delegateQueue: OperationQueue())
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// Sends one signed request and waits for its response.
    func send(
        _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: [UInt8] = []
    ) throws -> Response {
        let c = configuration
        var host = c.endpoint.host ?? ""
        if let port = c.endpoint.port { host += ":\(port)" }
        // Bucket requests go to `/bucket` (path style) or `/`; object requests add `/key`.
        var path = c.pathStyle ? "/" + c.bucket : ""
        if !c.pathStyle { host = c.bucket + "." + host }
        if let key { path += "/" + key } else if path.isEmpty { path = "/" }
        let payloadHash = SigV4Signer.payloadHash(body)
        var headers: [(name: String, value: String)] = [("Host", host), ("x-amz-content-sha256", payloadHash)]
        headers += extra
        var request = SigV4Signer.Request(
            method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        request.encodeSlashInQuery = c.encodeSlashInQuery
        let signed = signer.sign(request, at: Date())
        // The request carries the query exactly as it was signed.
        let (canonicalPath, canonicalQuery) = SigV4Signer.encodedPathAndQuery(request)
        let scheme = c.endpoint.scheme ?? "https"
        let urlText = "\(scheme)://\(host)\(canonicalPath)" + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery)
        guard let url = URL(string: urlText) else {
            throw S3Error(status: 0, code: "", message: "bad URL \(urlText)", request: "\(method) \(key ?? "")")
        }
        var r = URLRequest(url: url)
        r.httpMethod = method
        for (name, value) in headers + signed where name != "Host" { r.setValue(value, forHTTPHeaderField: name) }
        if !body.isEmpty || method == "PUT" { r.httpBody = Data(body) }
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: r) { data, response, error in
            box.set(data, response as? HTTPURLResponse, error)
            done.signal()
        }.resume()
        done.wait()
        let (data, http, error) = box.get()
        guard let http else {
            throw S3Error(
                status: 0, code: "", message: error.map { "\($0)" } ?? "no response", request: "\(method) \(key ?? "")")
        }
        var out: [String: String] = [:]
        for (k, v) in http.allHeaderFields {
            if let k = k as? String, let v = v as? String { out[k.lowercased()] = v }
        }
        return Response(status: http.statusCode, headers: out, body: [UInt8](data ?? Data()))
    }

    private final class ResponseBox: @unchecked Sendable {
        private let lock = NSLock()
        private var value: (Data?, HTTPURLResponse?, Error?) = (nil, nil, nil)
        func set(_ d: Data?, _ r: HTTPURLResponse?, _ e: Error?) {
            lock.lock()
            value = (d, r, e)
            lock.unlock()
        }
        func get() -> (Data?, HTTPURLResponse?, Error?) {
            lock.lock()
            defer { lock.unlock() }
            return value
        }
    }

    private func failure(_ r: Response, _ request: String) -> S3Error {
        let text = String(decoding: r.body, as: UTF8.self)
        func tag(_ name: String) -> String {
            guard let a = text.range(of: "<\(name)>"),
                let b = text.range(of: "</\(name)>", range: a.upperBound..<text.endIndex)
            else { return "" }
            return String(text[a.upperBound..<b.lowerBound])
        }
        return S3Error(status: r.status, code: tag("Code"), message: tag("Message"), request: request)
    }

    /// Creates the bucket (an existing bucket of the caller's is not an error).
    public func createBucket() throws {
        let r = try send("PUT", key: nil)
        if r.status == 200 || (r.status == 409 && failure(r, "").code == "BucketAlreadyOwnedByYou") { return }
        throw failure(r, "PUT bucket \(configuration.bucket)")
    }

    /// Stores `bytes` as `key`, with their CRC32C. With `ifAbsent`, only when no object of that
    /// name exists (`If-None-Match: *`): returns false, changing nothing, when one does.
    @discardableResult
    public func put(_ key: String, _ bytes: [UInt8], ifAbsent: Bool = false) throws -> Bool {
        var headers: [(name: String, value: String)] = [
            ("x-amz-meta-crc32c", String(Checksum.crc32c(bytes), radix: 16))
        ]
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        let r = try send("PUT", key: key, headers: headers, body: bytes)
        if r.status == 200 { return true }
        if ifAbsent && (r.status == 412 || r.status == 409) { return false }
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
            let page = ListingParser.parse(r.body)
            out.objects += page.objects
            out.prefixes += page.prefixes
            token = page.truncated ? page.nextToken : nil
        } while token != nil
        return out
    }
}

/// Reads a ListObjectsV2 response.
final class ListingParser: NSObject, XMLParserDelegate {
    var objects: [(key: String, size: UInt64)] = []
    var prefixes: [String] = []
    var truncated = false
    var nextToken: String?
    private var text = ""
    private var key = ""
    private var size: UInt64 = 0
    private var inPrefixes = false

    static func parse(_ body: [UInt8]) -> ListingParser {
        let p = ListingParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = p
        _ = parser.parse()
        return p
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        text = ""
        if name == "CommonPrefixes" { inPrefixes = true }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "Key": key = text
        case "Size": size = UInt64(text) ?? 0
        case "Contents": objects.append((key, size))
        case "Prefix": if inPrefixes { prefixes.append(text) }
        case "CommonPrefixes": inPrefixes = false
        case "IsTruncated": truncated = text == "true"
        case "NextContinuationToken": nextToken = text
        default: break
        }
    }
}
