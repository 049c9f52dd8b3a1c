import Foundation
import LSMStore

/// Checkpoint storage in an S3 bucket, under a key prefix: the same layout as a folder
/// (`chk-N/_claim`, `chk-N/_metadata`, `shared/…`; docs/FORMAT.md §8), one object per name.
/// Objects are copied (there are no hard links in an object store), each with its CRC32C,
/// checked whenever it is read; `_claim` and `_metadata` are created with
/// `If-None-Match: *`, so two writers never both take a checkpoint id or complete one. An
/// object exists once its PUT returns, so `sync` has nothing to do.
///
/// Transfers of several files run in parallel (`transferParallelism`); files above the
/// client's multipart threshold go up in parts; every request is counted (`requestStats`).
public final class S3CheckpointStorage: CheckpointStorage, @unchecked Sendable {
    /// The client (bucket, endpoint, credentials).
    public let client: S3Client
    /// The key prefix everything lives under (`""`, or a path ending without `/`).
    public let prefix: String
    /// The local file system, for uploads from and downloads to a store's files.
    public let fileSystem: any FileSystem

    /// Objects uploaded or downloaded at once by `putMany` and `getMany`.
    public let transferParallelism: Int

    /// A storage under `prefix` in `client`'s bucket.
    public init(
        client: S3Client, prefix: String = "", fileSystem: any FileSystem = PosixFileSystem(),
        transferParallelism: Int = 8
    ) {
        self.client = client
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        self.fileSystem = fileSystem
        self.transferParallelism = max(1, transferParallelism)
    }

    func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    /// The storage under `path` within this one's prefix (`job`, `subtasks/p2-s0`), with a
    /// client of its own (same configuration), so its requests are counted apart.
    public func substorage(_ path: String) -> S3CheckpointStorage {
        S3CheckpointStorage(
            client: S3Client(client.configuration), prefix: key(path), fileSystem: fileSystem,
            transferParallelism: transferParallelism)
    }

    /// Deletes every object under the prefix (and aborts its incomplete multipart uploads).
    public func removeAll() throws {
        let base = prefix.isEmpty ? "" : prefix + "/"
        let keys = try client.list(prefix: base).objects.map(\.key)
        try forEachInParallel(keys.count, width: transferParallelism) { i in try self.client.delete(keys[i]) }
        for u in try client.incompleteUploads(prefix: base) { try client.abortUpload(u.key, uploadID: u.uploadID) }
    }

    /// See `CheckpointStorage`.
    public func put(_ name: String, fromLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        let (bytes, crc) = try client.putFile(key(name), path: localPath, fileSystem: fileSystem)
        return Transfer(bytes: bytes, linked: false, checksum: crc)
    }

    /// See `CheckpointStorage`: up to `transferParallelism` uploads at once.
    public func putMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        let results = Results(files.count)
        try forEachInParallel(files.count, width: transferParallelism) { i in
            results.set(i, try self.put(files[i].name, fromLocalFile: files[i].localPath, preferLink: false))
        }
        return results.all
    }

    /// See `CheckpointStorage`: up to `transferParallelism` downloads at once.
    public func getMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        let results = Results(files.count)
        try forEachInParallel(files.count, width: transferParallelism) { i in
            results.set(i, try self.get(files[i].name, toLocalFile: files[i].localPath, preferLink: false))
        }
        return results.all
    }

    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [Transfer]
        init(_ n: Int) { values = Array(repeating: Transfer(bytes: 0, linked: false, checksum: nil), count: n) }
        func set(_ i: Int, _ t: Transfer) {
            lock.lock()
            values[i] = t
            lock.unlock()
        }
        var all: [Transfer] {
            lock.lock()
            defer { lock.unlock() }
            return values
        }
    }

    /// See `CheckpointStorage`.
    public func putAtomically(_ name: String, _ bytes: [UInt8]) throws { try client.put(key(name), bytes) }

    /// See `CheckpointStorage`.
    public func createExclusively(_ name: String, _ bytes: [UInt8]) throws -> Bool {
        try client.put(key(name), bytes, ifAbsent: true)
    }

    /// See `CheckpointStorage`.
    public func get(_ name: String) throws -> [UInt8] {
        guard let bytes = try client.get(key(name)) else {
            throw LSMError.io(path: key(name), operation: "GET", errno: ENOENT)
        }
        return bytes
    }

    /// See `CheckpointStorage`.
    public func get(_ name: String, toLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        let bytes = try get(name)
        if fileSystem.fileExists(localPath) { try fileSystem.remove(localPath) }
        try fileSystem.writeSyncedFile(localPath, bytes)
        return Transfer(bytes: UInt64(bytes.count), linked: false, checksum: Checksum.crc32c(bytes))
    }

    /// See `CheckpointStorage`: the objects and "folders" directly under `directory`.
    public func list(_ directory: String) throws -> [String] {
        let base = directory.isEmpty ? (prefix.isEmpty ? "" : prefix + "/") : key(directory) + "/"
        let listing = try client.list(prefix: base, delimiter: "/")
        var names = Set<String>()
        for o in listing.objects { names.insert(String(o.key.dropFirst(base.count))) }
        for p in listing.prefixes { names.insert(String(p.dropFirst(base.count).dropLast())) }
        names.remove("")
        return names.sorted()
    }

    /// See `CheckpointStorage`. A "folder" has no object of its own: deleting one does nothing.
    public func delete(_ name: String) throws { try client.delete(key(name)) }

    /// See `CheckpointStorage`.
    public func size(_ name: String) throws -> UInt64? { try client.size(key(name)) }

    /// See `CheckpointStorage`: the bytes of every object under the prefix.
    public func bytesOnDisk() throws -> UInt64 {
        try client.list(prefix: prefix.isEmpty ? "" : prefix + "/").objects.reduce(0) { $0 + $1.size }
    }

    /// See `CheckpointStorage`: nothing to do, an object is durable once its PUT returns.
    public func sync(_ directory: String) throws {}

    /// See `CheckpointStorage`: the client's counts (shared by every storage on the client).
    public func requestStats() -> StorageRequestStats? { client.stats }

    /// See `CheckpointStorage`: incomplete multipart uploads under the prefix started more
    /// than `grace` ago (one whose start the service did not report is spared unless `grace`
    /// is zero), as `key (multipart upload id)`.
    public func abortIncompleteUploads(olderThan grace: Duration, dryRun: Bool) throws -> [String] {
        let base = prefix.isEmpty ? "" : prefix + "/"
        let cutoff = Date().addingTimeInterval(
            -(Double(grace.components.seconds) + Double(grace.components.attoseconds) / 1e18))
        var out: [String] = []
        for u in try client.incompleteUploads(prefix: base) {
            let old = u.initiated.map { $0 <= cutoff } ?? (grace == .zero)
            guard old else { continue }
            if !dryRun { try client.abortUpload(u.key, uploadID: u.uploadID) }
            out.append("\(u.key.dropFirst(base.count)) (multipart upload \(u.uploadID))")
        }
        return out
    }
}
