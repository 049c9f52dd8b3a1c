import Crypto
import Foundation

/// Signs HTTP requests with AWS Signature Version 4 (header-based, `AWS4-HMAC-SHA256`), as
/// S3 and S3-compatible services (MinIO, Ceph RGW) require. SHA-256 and HMAC come from
/// swift-crypto. The algorithm, step by step, is in docs/FORMAT.md §10.
public struct SigV4Signer: Sendable {
    /// Whose request it is.
    public var credentials: AWSCredentials
    /// The region the request goes to (`us-east-1`, …).
    public var region: String
    /// The service (`s3`).
    public var service: String

    /// A signer for `service` in `region`.
    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty payload, in hex.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Lowercase hex SHA-256 of `bytes` (what `x-amz-content-sha256` carries).
    public static func payloadHash(_ bytes: some DataProtocol) -> String { hex(SHA256.hash(data: bytes)) }

    /// A request as signed: its method, path (not yet percent-encoded), query parameters
    /// and headers (any case and order; `Host` must be among them).
    public struct Request: Sendable {
        /// `GET`, `PUT`, …
        public var method: String
        /// The path, `/` and the object key, as plain text (the signer encodes it).
        public var path: String
        /// Query parameters as plain text (the signer encodes them).
        public var query: [(name: String, value: String)]
        /// Headers to sign; a name may repeat.
        public var headers: [(name: String, value: String)]
        /// Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
        public var payloadHash: String
        /// Whether `/` in query names and values is encoded (`%2F`), as SigV4 specifies; see
        /// `S3Client.Configuration.encodeSlashInQuery`.
        public var encodeSlashInQuery = true

        /// A request to sign.
        public init(
            method: String, path: String, query: [(name: String, value: String)] = [],
            headers: [(name: String, value: String)], payloadHash: String = SigV4Signer.emptyPayloadHash
        ) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    /// The headers that sign `request` at `date`: `X-Amz-Date`, `Authorization`, and
    /// `X-Amz-Security-Token` with temporary credentials. Every header of `request` is signed,
    /// with these (but `Authorization`) added first.
    public func sign(_ request: Request, at date: Date) -> [(name: String, value: String)] {
        let stamp = SigV4Signer.timestamp(date)
        var signed = request
        signed.headers.append(("X-Amz-Date", stamp))
        if let token = credentials.sessionToken { signed.headers.append(("X-Amz-Security-Token", token)) }
        let (canonical, signedHeaders) = SigV4Signer.canonicalRequest(signed)
        let scope = "\(stamp.prefix(8))/\(region)/\(service)/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(SigV4Signer.payloadHash(Array(canonical.utf8)))"
        let signature = SigV4Signer.hex(
            HMAC<SHA256>.authenticationCode(
                for: Array(toSign.utf8), using: signingKey(day: String(stamp.prefix(8)))))
        var out: [(name: String, value: String)] = [("X-Amz-Date", stamp)]
        if let token = credentials.sessionToken { out.append(("X-Amz-Security-Token", token)) }
        out.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
            ))
        return out
    }

    /// The key of one day, region and service: HMACs of the secret, chained.
    func signingKey(day: String) -> SymmetricKey {
        func mac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key)))
        }
        let kSecret = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        return mac(mac(mac(mac(kSecret, day), region), service), "aws4_request")
    }

    /// The path and query as they are signed (and so must be sent).
    static func encodedPathAndQuery(_ r: Request) -> (path: String, query: String) {
        let path = r.path.isEmpty ? "/" : r.path
        let canonicalPath = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { uriEncode(String($0)) }.joined(separator: "/")
        let encoded: [(name: String, value: String)] = r.query.map {
            (
                uriEncode($0.name, keepingSlash: !r.encodeSlashInQuery),
                uriEncode($0.value, keepingSlash: !r.encodeSlashInQuery)
            )
        }
        let sorted = encoded.sorted { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        return (canonicalPath, sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&"))
    }

    /// The canonical request and the `SignedHeaders` list.
    static func canonicalRequest(_ r: Request) -> (text: String, signedHeaders: String) {
        let (canonicalPath, query) = encodedPathAndQuery(r)
        var headers: [String: [String]] = [:]
        for (name, value) in r.headers { headers[name.lowercased(), default: []].append(canonicalHeaderValue(value)) }
        let names = headers.keys.sorted()
        var canonicalHeaders = ""
        for name in names { canonicalHeaders += name + ":" + headers[name, default: []].joined(separator: ",") + "\n" }
        let signedHeaders = names.joined(separator: ";")
        let text = [r.method, canonicalPath, query, canonicalHeaders, signedHeaders, r.payloadHash].joined(
            separator: "\n")
        return (text, signedHeaders)
    }

    /// A header value trimmed, its runs of spaces made one.
    static func canonicalHeaderValue(_ v: String) -> String {
        var out = ""
        var lastWasSpace = false
        for c in v.trimmingCharacters(in: .whitespaces) {
            if c == " " {
                if !lastWasSpace { out.append(c) }
                lastWasSpace = true
            } else {
                out.append(c)
                lastWasSpace = false
            }
        }
        return out
    }

    /// RFC 3986 percent-encoding of everything but the unreserved characters (and `/` when
    /// `keepingSlash`).
    static func uriEncode(_ s: String, keepingSlash: Bool = false) -> String {
        var out = ""
        for b in s.utf8 {
            if keepingSlash && b == UInt8(ascii: "/") {
                out.append("/")
                continue
            }
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(b)))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    static func timestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { String(v).leftPadded(to: 2) }
        let day = String(tm.tm_year + 1900) + two(tm.tm_mon + 1) + two(tm.tm_mday)
        return day + "T" + two(tm.tm_hour) + two(tm.tm_min) + two(tm.tm_sec) + "Z"
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String {
        count >= n ? self : String(repeating: "0", count: n - count) + self
    }
}
