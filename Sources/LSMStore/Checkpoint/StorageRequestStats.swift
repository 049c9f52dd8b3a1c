/// Requests a checkpoint storage made, by kind, with their bytes and retries: what an object
/// store bills for. A folder makes no requests (its storage reports none); an S3 storage
/// counts every request it sends, and a checkpoint's report holds the difference between
/// the counts at its start and at its end.
public struct StorageRequestStats: Sendable, Equatable {
    /// Object writes of a single request (`PUT`).
    public var puts = 0
    /// Object reads (`GET`).
    public var gets = 0
    /// Object metadata reads (`HEAD`).
    public var heads = 0
    /// Listing pages (`ListObjectsV2`, `ListMultipartUploads`).
    public var lists = 0
    /// Deletions (`DELETE`, including aborted multipart uploads).
    public var deletes = 0
    /// Parts of multipart uploads (`UploadPart`).
    public var parts = 0
    /// Starts and completions of multipart uploads.
    public var multipartControl = 0
    /// Requests sent again after a retryable failure (counted in their kind as well).
    public var retries = 0
    /// Bytes sent in request bodies.
    public var bytesSent: UInt64 = 0
    /// Bytes received in response bodies.
    public var bytesReceived: UInt64 = 0

    /// No requests.
    public init() {}

    /// Every request, of every kind.
    public var requests: Int { puts + gets + heads + lists + deletes + parts + multipartControl }

    /// What was counted between `earlier` and `self` (fields never go below zero).
    public func since(_ earlier: StorageRequestStats) -> StorageRequestStats {
        var d = StorageRequestStats()
        d.puts = max(0, puts - earlier.puts)
        d.gets = max(0, gets - earlier.gets)
        d.heads = max(0, heads - earlier.heads)
        d.lists = max(0, lists - earlier.lists)
        d.deletes = max(0, deletes - earlier.deletes)
        d.parts = max(0, parts - earlier.parts)
        d.multipartControl = max(0, multipartControl - earlier.multipartControl)
        d.retries = max(0, retries - earlier.retries)
        d.bytesSent = bytesSent >= earlier.bytesSent ? bytesSent - earlier.bytesSent : 0
        d.bytesReceived = bytesReceived >= earlier.bytesReceived ? bytesReceived - earlier.bytesReceived : 0
        return d
    }

    /// The sum of two counts.
    public static func + (a: StorageRequestStats, b: StorageRequestStats) -> StorageRequestStats {
        var s = a
        s.puts += b.puts
        s.gets += b.gets
        s.heads += b.heads
        s.lists += b.lists
        s.deletes += b.deletes
        s.parts += b.parts
        s.multipartControl += b.multipartControl
        s.retries += b.retries
        s.bytesSent += b.bytesSent
        s.bytesReceived += b.bytesReceived
        return s
    }
}
