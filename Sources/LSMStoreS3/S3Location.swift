import Foundation
import LSMStore

/// A place in S3 named as `s3://BUCKET/PREFIX`, and the client configuration for it found by
/// the AWS conventions.
public struct S3Location: Sendable, Equatable {
    /// The bucket.
    public var bucket: String
    /// The key prefix (no leading or trailing `/`; empty for the whole bucket).
    public var prefix: String

    /// Whether `text` names an S3 location (starts with `s3://`).
    public static func isS3(_ text: String) -> Bool { text.hasPrefix("s3://") }

    /// Parses `s3://BUCKET[/PREFIX]`; throws `LSMError.invalidArgument` naming what is wrong.
    public init(parsing text: String) throws {
        guard Self.isS3(text) else {
            throw LSMError.invalidArgument("\(text) is not an S3 location (s3://BUCKET/PREFIX)")
        }
        let rest = text.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        // Bucket names: 3-63 characters, lowercase letters, digits, dots and hyphens.
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789.-")
        guard (3...63).contains(bucket.count), bucket.allSatisfy({ allowed.contains($0) }) else {
            throw LSMError.invalidArgument(
                "\(text): bucket name \"\(bucket)\" is not valid (3-63 lowercase letters, digits, dots, hyphens)")
        }
        self.bucket = bucket
        prefix = rest.dropFirst(bucket.count).split(separator: "/").joined(separator: "/")
    }

    /// The configuration for this location: credentials from `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; region from `AWS_REGION` (or
    /// `AWS_DEFAULT_REGION`, else `us-east-1`); endpoint `endpoint` if given, else
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`, else AWS's regional endpoint. A custom
    /// endpoint (MinIO, Ceph RGW, a local server) is addressed path-style; AWS's is addressed
    /// virtual-hosted (`BUCKET.s3.REGION.amazonaws.com`).
    public func configuration(
        endpoint: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3Client.Configuration {
        guard let credentials = AWSCredentials.fromEnvironment(environment) else {
            throw LSMError.invalidArgument(
                "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if temporary)"
            )
        }
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        let region =
            nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) ?? "us-east-1"
        let custom =
            nonEmpty(endpoint) ?? nonEmpty(environment["AWS_ENDPOINT_URL_S3"])
            ?? nonEmpty(environment["AWS_ENDPOINT_URL"])
        let text = custom ?? "https://s3.\(region).amazonaws.com"
        guard let url = URL(string: text), let scheme = url.scheme, scheme == "http" || scheme == "https",
            url.host != nil
        else {
            throw LSMError.invalidArgument("S3 endpoint \(text) is not an http(s) URL")
        }
        return S3Client.Configuration(
            endpoint: url, bucket: bucket, region: region, pathStyle: custom != nil, credentials: credentials)
    }
}

extension S3CheckpointStorage {
    /// The checkpoint storage at `s3://BUCKET/PREFIX`, configured from the environment (see
    /// `S3Location.configuration`); checks that the bucket exists and the credentials may
    /// read it, so a wrong key, a missing bucket or an unreachable endpoint fails here, with
    /// one line saying which.
    public static func open(
        _ location: String, endpoint: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> S3CheckpointStorage {
        let l = try S3Location(parsing: location)
        let client = S3Client(try l.configuration(endpoint: endpoint, environment: environment))
        try client.checkBucket()
        return S3CheckpointStorage(client: client, prefix: l.prefix)
    }
}
