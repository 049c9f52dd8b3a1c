import Foundation
import LSMStore

/// Uploads of local files, in parts above `Configuration.multipartThreshold` (S3's multipart
/// upload: create, parts in parallel, complete; aborted on any failure), and the cleanup of
/// multipart uploads that never completed.
extension S3Client {
    /// Uploads the local file `path` as object `key`, with its CRC32C; returns its size and
    /// CRC32C.
    public func putFile(_ key: String, path: String, fileSystem: any FileSystem) throws -> (bytes: UInt64, crc: UInt32)
    {
        guard let st = try fileSystem.stat(path) else {
            throw LSMError.io(path: path, operation: "upload", errno: ENOENT)
        }
        if st.size < UInt64(max(configuration.multipartThreshold, 1)) {
            let bytes = try fileSystem.readFile(path)
            let crc = Checksum.crc32c(bytes)
            try put(key, bytes)
            return (UInt64(bytes.count), crc)
        }
        return try putMultipart(key, path: path, size: st.size, fileSystem: fileSystem)
    }

    private func putMultipart(
        _ key: String, path: String, size: UInt64, fileSystem: any FileSystem
    ) throws -> (bytes: UInt64, crc: UInt32) {
        let file = try fileSystem.openRandomAccess(path)
        // The object's CRC32C goes in its metadata, given when the upload is created: one
        // pass over the file first (it is in the page cache for the parts that follow).
        var crc: UInt32 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: UInt64 = 0
        while offset < size {
            let n = try buffer.withUnsafeMutableBytes { try file.read(at: offset, into: $0) }
            if n == 0 { break }
            buffer.withUnsafeBytes {
                crc = Checksum.crc32c(extending: crc, UnsafeRawBufferPointer(rebasing: $0[0..<n]))
            }
            offset += UInt64(n)
        }
        guard offset == size else {
            throw LSMError.corruption(file: path, offset: offset, reason: "file ended at \(offset) of \(size) bytes")
        }
        let created = try send(
            "POST", key: key, query: [("uploads", "")],
            headers: [("x-amz-meta-crc32c", String(crc, radix: 16))], kind: .multipartControl)
        guard created.status == 200 else { throw failure(created, "CreateMultipartUpload \(key)") }
        let uploadID = S3Client.tag("UploadId", in: created.body)
        guard !uploadID.isEmpty else {
            throw S3Error(status: 200, code: "", message: "no UploadId", request: "CreateMultipartUpload \(key)")
        }
        let partSize = UInt64(max(configuration.partSize, 5 << 20))
        let parts = Int((size + partSize - 1) / partSize)
        final class ETags: @unchecked Sendable {
            let lock = NSLock()
            var values: [String]
            init(_ n: Int) { values = Array(repeating: "", count: n) }
        }
        let etags = ETags(parts)
        do {
            try forEachInParallel(parts, width: configuration.partParallelism) { i in
                let start = UInt64(i) * partSize
                let length = Int(min(partSize, size - start))
                var bytes = [UInt8](repeating: 0, count: length)
                let n = try bytes.withUnsafeMutableBytes { try file.read(at: start, into: $0) }
                guard n == length else {
                    throw LSMError.corruption(
                        file: path, offset: start + UInt64(n), reason: "short read for part \(i + 1)")
                }
                let r = try self.send(
                    "PUT", key: key, query: [("partNumber", String(i + 1)), ("uploadId", uploadID)], body: bytes,
                    kind: .part)
                guard r.status == 200, let etag = r.headers["etag"] else {
                    throw self.failure(r, "UploadPart \(i + 1) of \(key)")
                }
                etags.lock.lock()
                etags.values[i] = etag
                etags.lock.unlock()
            }
            var xml = "<CompleteMultipartUpload>"
            for (i, etag) in etags.values.enumerated() {
                xml += "<Part><PartNumber>\(i + 1)</PartNumber><ETag>\(etag)</ETag></Part>"
            }
            xml += "</CompleteMultipartUpload>"
            try complete(key, uploadID: uploadID, body: Array(xml.utf8), size: size, crc: crc)
        } catch {
            // Best effort: what is left is found by `abortIncompleteUploads`.
            try? abortUpload(key, uploadID: uploadID)
            throw error
        }
        return (size, crc)
    }

    /// Completes an upload. S3 may answer 200 with an error in the body; a retry after a lost
    /// answer finds the upload gone (`NoSuchUpload`): then the object, if it has this size
    /// and CRC32C, is the one this upload made.
    private func complete(_ key: String, uploadID: String, body: [UInt8], size: UInt64, crc: UInt32) throws {
        var attempt = 1
        while true {
            let r = try send("POST", key: key, query: [("uploadId", uploadID)], body: body, kind: .multipartControl)
            let code = S3Client.errorCode(r.body)
            if r.status == 200 && code.isEmpty { return }
            if code == "NoSuchUpload" && attempt > 1 || (r.status == 404 && attempt > 1) {
                let head = try send("HEAD", key: key)
                if head.status == 200, head.headers["content-length"].flatMap({ UInt64($0) }) == size,
                    head.headers["x-amz-meta-crc32c"].flatMap({ UInt32($0, radix: 16) }) == crc
                {
                    return
                }
            }
            if r.status == 200 && S3RetryPolicy.isRetryable(status: 500, code: code)
                && attempt < configuration.retry.maxAttempts
            {
                attempt += 1
                continue
            }
            throw failure(r, "CompleteMultipartUpload \(key)")
        }
    }

    /// Aborts a multipart upload (one already gone is not an error).
    public func abortUpload(_ key: String, uploadID: String) throws {
        let r = try send("DELETE", key: key, query: [("uploadId", uploadID)])
        guard r.status == 204 || r.status == 200 || r.status == 404 else {
            throw failure(r, "AbortMultipartUpload \(key)")
        }
    }

    /// A multipart upload that was started and neither completed nor aborted.
    public struct IncompleteUpload: Sendable, Equatable {
        /// The object's key.
        public var key: String
        /// The upload's id.
        public var uploadID: String
        /// When it was started, as the service reports it (ISO 8601), or nil when unreadable.
        public var initiated: Date?
    }

    /// The incomplete multipart uploads of keys under `prefix` (ListMultipartUploads,
    /// following its markers).
    public func incompleteUploads(prefix: String) throws -> [IncompleteUpload] {
        var out: [IncompleteUpload] = []
        var keyMarker: String? = nil
        var idMarker: String? = nil
        let dates = ISO8601DateFormatter()
        dates.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plainDates = ISO8601DateFormatter()
        repeat {
            var query: [(name: String, value: String)] = [("uploads", "")]
            if !prefix.isEmpty { query.append(("prefix", prefix)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let r = try send("GET", key: nil, query: query, kind: .list)
            guard r.status == 200 else { throw failure(r, "ListMultipartUploads \(prefix)") }
            guard let page = XMLRecords.parse(r.body, element: "Upload") else {
                throw S3Error(
                    status: 200, code: "", message: "malformed answer", request: "ListMultipartUploads \(prefix)")
            }
            for u in page.records {
                guard let key = u["Key"], let id = u["UploadId"] else { continue }
                let when = u["Initiated"].flatMap { dates.date(from: $0) ?? plainDates.date(from: $0) }
                out.append(IncompleteUpload(key: key, uploadID: id, initiated: when))
            }
            if page.top["IsTruncated"] == "true" {
                keyMarker = page.top["NextKeyMarker"]
                idMarker = page.top["NextUploadIdMarker"]
                if keyMarker == nil && idMarker == nil { break }
            } else {
                keyMarker = nil
                idMarker = nil
            }
        } while keyMarker != nil || idMarker != nil
        return out
    }
}
