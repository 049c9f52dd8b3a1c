import Foundation
import LSMStore

/// Checkpoint storage in an S3 bucket, under a key prefix: the same layout as a folder
/// (`chk-N/_claim`, `chk-N/_metadata`, `shared/…`; docs/FORMAT.md §8), one object per name.
/// Objects are copied (there are no hard links in an object store), each with its CRC32C,
/// checked whenever it is read; `_claim` and `_metadata` are created with
/// `If-None-Match: *`, so two writers never both take a checkpoint id or complete one. An
/// object exists once its PUT returns, so `sync` has nothing to do.
///
/// Still missing (docs/DESIGN.md §17.10): multipart upload, parallel transfers, retries,
/// request accounting.
public final class S3CheckpointStorage: CheckpointStorage, @unchecked Sendable {
    /// The client (bucket, endpoint, credentials).
    public let client: S3Client
    /// The key prefix everything lives under (`""`, or a path ending without `/`).
    public let prefix: String
    /// The local file system, for uploads from and downloads to a store's files.
    public let fileSystem: any FileSystem

    /// A storage under `prefix` in `client`'s bucket.
    public init(client: S3Client, prefix: String = "", fileSystem: any FileSystem = PosixFileSystem()) {
        self.client = client
        self.prefix = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        self.fileSystem = fileSystem
    }

    func key(_ name: String) -> String { prefix.isEmpty ? name : prefix + "/" + name }

    /// See `CheckpointStorage`.
    public func put(_ name: String, fromLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        let bytes = try fileSystem.readFile(localPath)
        try client.put(key(name), bytes)
        return Transfer(bytes: UInt64(bytes.count), linked: false, checksum: Checksum.crc32c(bytes))
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
}
