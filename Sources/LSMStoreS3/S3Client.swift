import Foundation
import LSMStore

#if canImport(FoundationNetworking)
    import FoundationNetworking
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
/// only if absent; multipart above a size), get, head, delete, list, create bucket, and the
/// cleanup of incomplete multipart uploads. Path-style or virtual-hosted addressing; every
/// request signed with Signature Version 4; every object carries the CRC32C of its bytes
/// (`x-amz-meta-crc32c`), checked on every get. Failures a retry can cure are retried with
/// exponential backoff and jitter (`S3RetryPolicy`); requests can be rate-limited; every
/// request is counted (`stats`). HTTP goes through Foundation's URLSession
/// (FoundationNetworking on Linux), which the toolchain ships: no HTTP package to build, and
/// the client's calls are synchronous, as `CheckpointStorage`'s are. Safe to use from
/// several threads at once.
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
        /// A client whose signature of such a query is refused (`SignatureDoesNotMatch`) tries
        /// the other way once, and keeps it if it passes.
        public var encodeSlashInQuery: Bool
        /// Retries of failed requests. Default: `S3RetryPolicy()` (6 attempts, 50 ms base).
        public var retry = S3RetryPolicy()
        /// Seconds a request may go without progress before it fails (and is retried).
        /// Default 30.
        public var requestTimeout: Double = 30
        /// At most this many requests a second, when set. Default: no limit.
        public var maxRequestsPerSecond: Double? = nil
        /// Files of at least this many bytes are uploaded in parts (multipart upload).
        /// Default 16 MiB.
        public var multipartThreshold = 16 << 20
        /// The size of each part but the last (S3 wants at least 5 MiB). Default 8 MiB.
        public var partSize = 8 << 20
        /// Parts of one multipart upload sent at once. Default 4.
        public var partParallelism = 4

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
    private let limiter: RequestRateLimiter?
    private let statsLock = NSLock()
    private var counted = StorageRequestStats()
    private var jitter = SplitMix64(seed: UInt64.random(in: 0...UInt64.max))
    /// Where requests connect instead of the endpoint's host and port, the `Host` header and
    /// signature still naming the endpoint (as curl's `--connect-to`): lets a test reach a
    /// local server under AWS's own host names, to exercise virtual-hosted addressing.
    var connectAddress: (host: String, port: Int)? = nil
    /// How `/` in a query is encoded now (see `Configuration.encodeSlashInQuery`).
    private var encodeSlash: Bool
    private var slashEncodingTried = false

    /// Whether `/` in query values is sent encoded now (see `Configuration.encodeSlashInQuery`).
    var encodesSlashInQuery: Bool {
        statsLock.lock()
        defer { statsLock.unlock() }
        return encodeSlash
    }

    /// A client for `configuration`.
    public init(_ configuration: Configuration) {
        self.configuration = configuration
        encodeSlash = configuration.encodeSlashInQuery
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        let c = URLSessionConfiguration.ephemeral
        c.timeoutIntervalForRequest = configuration.requestTimeout
        c.httpMaximumConnectionsPerHost = 16
        // Its own delegate queue: completions never wait for a main queue a caller may block.
        session = URLSession(configuration: c, delegate: nil, delegateQueue: OperationQueue())
        limiter = configuration.maxRequestsPerSecond.map { RequestRateLimiter(perSecond: $0) }
    }

    /// The requests sent so far, by kind, with their bytes and retries.
    public var stats: StorageRequestStats {
        statsLock.lock()
        defer { statsLock.unlock() }
        return counted
    }

    /// What a request is, for the counts.
    enum Kind {
        case put, get, head, list, delete, part, multipartControl
    }

    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// Sends one signed request and waits for its response, retrying as the policy says;
    /// the last response (or transport failure) is returned (thrown).
    func send(
        _ method: String, key: String?, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: [UInt8] = [], kind: Kind? = nil
    ) throws -> Response {
        let kind = kind ?? Self.kind(method: method, key: key)
        var attempt = 1
        var flippedSlashEncoding = false
        while true {
            limiter?.acquire()
            record(kind, sent: body.count, received: 0, retry: attempt > 1)
            var outcome: Result<Response, S3Error>
            do {
                outcome = .success(try sendOnce(method, key: key, query: query, headers: extra, body: body))
            } catch let e as S3Error {
                outcome = .failure(e)
            }
            let (status, code): (Int, String)
            switch outcome {
            case .success(let r):
                record(nil, sent: 0, received: r.body.count, retry: false)
                (status, code) = (r.status, r.status >= 300 ? Self.errorCode(r.body) : "")
            case .failure(let e): (status, code) = (e.status, e.code)
            }
            if status == 403 && code == "SignatureDoesNotMatch" && query.contains(where: { $0.value.contains("/") }) {
                statsLock.lock()
                let flip = !slashEncodingTried
                if flip {
                    slashEncodingTried = true
                    encodeSlash.toggle()
                } else if flippedSlashEncoding {
                    // The other encoding was refused too: the key is wrong, not the encoding.
                    encodeSlash.toggle()
                }
                statsLock.unlock()
                if flip {
                    flippedSlashEncoding = true
                    attempt += 1
                    continue
                }
            }
            let retryable = status >= 300 || status == 0 ? S3RetryPolicy.isRetryable(status: status, code: code) : false
            if retryable && attempt < configuration.retry.maxAttempts {
                statsLock.lock()
                let wait = configuration.retry.delay(beforeRetry: attempt, using: &jitter)
                statsLock.unlock()
                let c = wait.components
                Thread.sleep(forTimeInterval: Double(c.seconds) + Double(c.attoseconds) / 1e18)
                attempt += 1
                continue
            }
            return try outcome.get()
        }
    }

    private func record(_ kind: Kind?, sent: Int, received: Int, retry: Bool) {
        statsLock.lock()
        defer { statsLock.unlock() }
        switch kind {
        case .put?: counted.puts += 1
        case .get?: counted.gets += 1
        case .head?: counted.heads += 1
        case .list?: counted.lists += 1
        case .delete?: counted.deletes += 1
        case .part?: counted.parts += 1
        case .multipartControl?: counted.multipartControl += 1
        case nil: break
        }
        if retry { counted.retries += 1 }
        counted.bytesSent += UInt64(sent)
        counted.bytesReceived += UInt64(received)
    }

    private static func kind(method: String, key: String?) -> Kind {
        switch method {
        case "PUT": return .put
        case "HEAD": return .head
        case "DELETE": return .delete
        case "GET": return key == nil ? .list : .get
        default: return .multipartControl
        }
    }

    /// One signed request, no retry.
    private func sendOnce(
        _ method: String, key: String?, query: [(name: String, value: String)],
        headers extra: [(name: String, value: String)], body: [UInt8]
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
        // A body is bytes: some servers store a form-encoded body (URLSession's default type)
        // as empty.
        if !body.isEmpty || method == "PUT" || method == "POST" {
            headers.append(("Content-Type", "application/octet-stream"))
        }
        headers += extra
        var request = SigV4Signer.Request(
            method: method, path: path, query: query, headers: headers, payloadHash: payloadHash)
        statsLock.lock()
        request.encodeSlashInQuery = encodeSlash
        statsLock.unlock()
        let signed = signer.sign(request, at: Date())
        // The request carries the query exactly as it was signed.
        let (canonicalPath, canonicalQuery) = SigV4Signer.encodedPathAndQuery(request)
        let scheme = c.endpoint.scheme ?? "https"
        let target = connectAddress.map { "\($0.host):\($0.port)" } ?? host
        let urlText = "\(scheme)://\(target)\(canonicalPath)" + (canonicalQuery.isEmpty ? "" : "?" + canonicalQuery)
        guard let url = URL(string: urlText) else {
            throw S3Error(status: 0, code: "", message: "bad URL \(urlText)", request: "\(method) \(key ?? "")")
        }
        var r = URLRequest(url: url)
        r.httpMethod = method
        r.timeoutInterval = c.requestTimeout
        for (name, value) in headers + signed where name != "Host" || connectAddress != nil {
            r.setValue(value, forHTTPHeaderField: name)
        }
        if !body.isEmpty || method == "PUT" || method == "POST" { r.httpBody = Data(body) }
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        session.dataTask(with: r) { data, response, error in
            box.set(data, response as? HTTPURLResponse, error)
            done.signal()
        }.resume()
        done.wait()
        let (data, http, error) = box.get()
        guard let http, error == nil else {
            let what = error.map { ($0 as? URLError).map { "\($0.code)" } ?? "\($0)" } ?? "no response"
            throw S3Error(
                status: 0, code: "", message: "\(what) (endpoint \(c.endpoint.absoluteString))",
                request: "\(method) \(key ?? c.bucket)")
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

    /// The text of the first `<name>` element of an XML body, or "".
    static func tag(_ name: String, in body: [UInt8]) -> String {
        let text = String(decoding: body, as: UTF8.self)
        guard let a = text.range(of: "<\(name)>"),
            let b = text.range(of: "</\(name)>", range: a.upperBound..<text.endIndex)
        else { return "" }
        return String(text[a.upperBound..<b.lowerBound])
    }

    static func errorCode(_ body: [UInt8]) -> String { tag("Code", in: body) }

    func failure(_ r: Response, _ request: String) -> S3Error {
        S3Error(
            status: r.status, code: Self.errorCode(r.body), message: Self.tag("Message", in: r.body), request: request)
    }
}
