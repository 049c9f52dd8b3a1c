import Glibc

/// Where checkpoints are kept: a flat namespace of objects named by relative paths such as
/// `shared/<store>-000012.sst` or `chk-7/_metadata`. The operations are those of an object
/// store (put, get, list, delete) plus a hard link when source and storage share a file
/// system. The first implementation is `LocalCheckpointStorage`, a folder.
public protocol CheckpointStorage: Sendable {
    /// Stores the local file `localPath` as `name`, replacing any object of that name.
    /// With `preferLink`, a hard link is tried first and a copy made when linking is not
    /// possible (another file system, or links refused).
    func put(_ name: String, fromLocalFile localPath: String, preferLink: Bool) throws -> Transfer
    /// Stores several local files (name, local path) as `put` does, durable when it returns;
    /// an implementation may overlap the transfers and sync them together.
    func putMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer]
    /// Stores `bytes` as `name` atomically and durably (temp object, fsync, rename, fsync).
    func putAtomically(_ name: String, _ bytes: [UInt8]) throws
    /// Creates object `name` holding `bytes`, atomically and durably, unless an object of that
    /// name exists: then nothing changes and the result is false. Two writers racing for one
    /// name never both succeed (a folder uses link(2), which fails on an existing name; an
    /// object store uses a conditional create such as S3's `If-None-Match: *`).
    func createExclusively(_ name: String, _ bytes: [UInt8]) throws -> Bool
    /// The whole object `name`.
    func get(_ name: String) throws -> [UInt8]
    /// Copies (or, with `preferLink`, links) object `name` to the new local file `localPath`.
    func get(_ name: String, toLocalFile localPath: String, preferLink: Bool) throws -> Transfer
    /// Copies several objects (name, local path) as `get(_:toLocalFile:preferLink:)` does, in
    /// the order given; an implementation may overlap the transfers. On an error, local files
    /// already written are left for the caller to remove.
    func getMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer]
    /// Names of the entries directly under `directory` ("" for the top level).
    func list(_ directory: String) throws -> [String]
    /// Deletes an object (or an empty directory); deleting a missing object is not an error.
    func delete(_ name: String) throws
    /// Size of object `name`, or nil when it does not exist.
    func size(_ name: String) throws -> UInt64?
    /// Bytes the storage occupies, counting each physical file once however many names
    /// (hard links) it has.
    func bytesOnDisk() throws -> UInt64
    /// Makes the entries of `directory` durable (after puts and deletes).
    func sync(_ directory: String) throws
    /// The requests made so far (an object store's bill), or nil for a storage that makes
    /// none (a folder).
    func requestStats() -> StorageRequestStats?
    /// Removes uploads that were started and never completed or aborted (S3's incomplete
    /// multipart uploads, which are stored and billed but invisible to listings) once older
    /// than `grace`; returns a description of each. Unless `dryRun`, aborts them. A storage
    /// without such uploads returns none.
    func abortIncompleteUploads(olderThan grace: Duration, dryRun: Bool) throws -> [String]
}

extension CheckpointStorage {
    /// One `put` after another.
    public func putMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        try files.map { try put($0.name, fromLocalFile: $0.localPath, preferLink: preferLink) }
    }

    /// One `get` after another.
    public func getMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        try files.map { try get($0.name, toLocalFile: $0.localPath, preferLink: preferLink) }
    }

    /// None: the storage makes no billed requests.
    public func requestStats() -> StorageRequestStats? { nil }

    /// None: the storage has no incomplete uploads.
    public func abortIncompleteUploads(olderThan grace: Duration, dryRun: Bool) throws -> [String] { [] }
}

/// How an object got where it is.
public struct Transfer: Sendable, Equatable {
    /// Bytes of the object.
    public var bytes: UInt64
    /// True when it was hard-linked rather than copied.
    public var linked: Bool
    /// CRC32C of the bytes, when they were copied (and so read).
    public var checksum: UInt32?

    /// A transfer's outcome (for implementations of `CheckpointStorage` outside this module).
    public init(bytes: UInt64, linked: Bool, checksum: UInt32?) {
        self.bytes = bytes
        self.linked = linked
        self.checksum = checksum
    }
}

/// Checkpoint storage in a local folder.
public struct LocalCheckpointStorage: CheckpointStorage {
    /// The folder.
    public let root: String
    /// The file system used (POSIX by default; tests inject faults through it).
    public let fileSystem: any FileSystem
    /// When false, `preferLink` is ignored and every transfer copies (for tests and for
    /// storages that must not share inodes with the store).
    public let allowLinks: Bool

    /// A storage rooted at `root`, created if missing.
    public init(root: String, fileSystem: any FileSystem = PosixFileSystem(), allowLinks: Bool = true) throws {
        self.root = root
        self.fileSystem = fileSystem
        self.allowLinks = allowLinks
        if try fileSystem.stat(root) == nil {
            try fileSystem.createDirectory(root)
            // The storage's own name must survive a crash, or every checkpoint in it could
            // vanish with it (found by the crash matrix).
            try fileSystem.syncDirectory(parentDirectory(of: root))
        }
    }

    func path(_ name: String) -> String { name.isEmpty ? root : joinPath(root, name) }

    static func linkUnsupported(_ e: LSMError) -> Bool {
        guard case let .io(_, _, code) = e else { return false }
        return code == EXDEV || code == EPERM || code == ENOTSUP || code == EOPNOTSUPP || code == EMLINK
            || code == ENOSYS
    }

    /// See `CheckpointStorage`.
    public func put(_ name: String, fromLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        try putMany([(name, localPath)], preferLink: preferLink)[0]
    }

    /// Copies every file first and fsyncs them afterwards, so the device writes them
    /// together instead of waiting out one flush per (often small) file.
    public func putMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        var out: [Transfer] = []
        var toSync: [String] = []
        var made = Set<String>()
        let buffer = CopyBuffer()
        for (name, local) in files {
            let dst = path(name)
            let parent = parentDirectory(of: dst)
            if made.insert(parent).inserted { try fileSystem.createDirectory(parent) }
            if fileSystem.fileExists(dst) { try fileSystem.remove(dst) }  // replace; never truncate a shared inode
            // A checkpoint's copy is not read back soon: it bypasses the page cache.
            let t = try transfer(
                from: local, to: dst, preferLink: preferLink, sync: false, uncached: true, buffer: buffer)
            if !t.linked { toSync.append(dst) }
            out.append(t)
        }
        if toSync.count > 4 {
            try fileSystem.syncFileSystem(containing: root)  // one flush for many (often small) files
        } else {
            for p in toSync { try fileSystem.syncFile(p) }
        }
        return out
    }

    /// See `CheckpointStorage`.
    public func get(_ name: String, toLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        if fileSystem.fileExists(localPath) { try fileSystem.remove(localPath) }
        // A restored table is read soon after: through the page cache.
        return try transfer(
            from: path(name), to: localPath, preferLink: preferLink, sync: true, uncached: false, buffer: CopyBuffer())
    }

    private func transfer(
        from src: String, to dst: String, preferLink: Bool, sync: Bool, uncached: Bool, buffer: CopyBuffer
    ) throws -> Transfer {
        if preferLink && allowLinks {
            do {
                try fileSystem.link(src, to: dst)
                guard let st = try fileSystem.stat(dst) else {
                    throw LSMError.io(path: dst, operation: "stat after link", errno: ENOENT)
                }
                return Transfer(bytes: st.size, linked: true, checksum: nil)
            } catch let e as LSMError where LocalCheckpointStorage.linkUnsupported(e) {
                // Fall through to a copy.
            }
        }
        let (bytes, crc) = try copyWithChecksum(from: src, to: dst, sync: sync, uncached: uncached, buffer: buffer)
        return Transfer(bytes: bytes, linked: false, checksum: crc)
    }

    private func copyWithChecksum(
        from src: String, to dst: String, sync: Bool, uncached: Bool, buffer: CopyBuffer
    ) throws -> (UInt64, UInt32) {
        let input = try fileSystem.openRandomAccess(src)
        let output = try uncached ? fileSystem.createUncached(dst) : fileSystem.create(dst)
        var offset: UInt64 = 0
        var crc: UInt32 = 0
        do {
            while true {
                let n = try input.read(at: offset, into: buffer.bytes)
                if n == 0 { break }
                let chunk = UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<n])
                crc = CRC32C.extend(crc, chunk)
                try output.append(chunk)
                offset += UInt64(n)
            }
            if sync { try output.sync() }
            try output.close()
        } catch {
            try? output.close()
            try? fileSystem.remove(dst)
            throw error
        }
        return (offset, crc)
    }

    /// See `CheckpointStorage`.
    public func putAtomically(_ name: String, _ bytes: [UInt8]) throws {
        let dst = path(name)
        try fileSystem.createDirectory(parentDirectory(of: dst))
        try fileSystem.writeFileAtomically(dst, bytes)
    }

    /// See `CheckpointStorage`.
    public func createExclusively(_ name: String, _ bytes: [UInt8]) throws -> Bool {
        let dst = path(name)
        let dir = parentDirectory(of: dst)
        try fileSystem.createDirectory(dir)
        // A temp name of our own, written and synced, then linked to the final name: link(2)
        // fails with EEXIST when the name is taken, so the final object appears whole or not
        // at all, and never replaces another writer's.
        let tmp = dst + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        try fileSystem.writeSyncedFile(tmp, bytes)
        defer { try? fileSystem.remove(tmp) }
        do {
            try fileSystem.link(tmp, to: dst)
        } catch let LSMError.io(_, _, code) where code == EEXIST {
            return false
        }
        try fileSystem.remove(tmp)
        try fileSystem.syncDirectory(dir)
        return true
    }

    /// See `CheckpointStorage`.
    public func get(_ name: String) throws -> [UInt8] { try fileSystem.readFile(path(name)) }

    /// See `CheckpointStorage`.
    public func list(_ directory: String) throws -> [String] {
        let p = path(directory)
        guard try fileSystem.stat(p)?.isDirectory == true else { return [] }
        return try fileSystem.listDirectory(p)
    }

    /// See `CheckpointStorage`.
    public func delete(_ name: String) throws {
        let p = path(name)
        guard let st = try fileSystem.stat(p) else { return }
        if st.isDirectory { try fileSystem.removeDirectory(p) } else { try fileSystem.remove(p) }
    }

    /// See `CheckpointStorage`.
    public func size(_ name: String) throws -> UInt64? { try fileSystem.stat(path(name))?.size }

    /// See `CheckpointStorage`.
    public func bytesOnDisk() throws -> UInt64 { try diskUsage(paths: [root], fileSystem: fileSystem) }

    /// See `CheckpointStorage`.
    public func sync(_ directory: String) throws { try fileSystem.syncDirectory(path(directory)) }
}

/// Bytes used by the files under `paths` (recursively), each inode counted once: hard links
/// shared between a store and its checkpoints, or between checkpoints, are not double counted.
public func diskUsage(paths: [String], fileSystem fs: any FileSystem = PosixFileSystem()) throws -> UInt64 {
    struct Inode: Hashable {
        let device: UInt64
        let inode: UInt64
    }
    var seen = Set<Inode>()
    var total: UInt64 = 0
    var stack = paths
    while let p = stack.popLast() {
        guard let st = try fs.stat(p) else { continue }
        if st.isDirectory {
            for name in try fs.listDirectory(p) { stack.append(joinPath(p, name)) }
        } else if seen.insert(Inode(device: st.device, inode: st.inode)).inserted {
            total += st.size
        }
    }
    return total
}

/// CRC32C of the whole file at `path`, read in pieces of at most 1 MiB into a buffer sized
/// for `sizeHint` bytes (the size the file should have), neither zero-filled nor kept.
func fileChecksum(_ fs: any FileSystem, _ path: String, sizeHint: UInt64) throws -> UInt32 {
    let f = try fs.openRandomAccess(path)
    let capacity = Int(min(max(sizeHint, 4096), 1 << 20))
    return try withUnsafeTemporaryAllocation(byteCount: capacity, alignment: 16) { buffer in
        var offset: UInt64 = 0
        var crc: UInt32 = 0
        while true {
            let n = try f.read(at: offset, into: buffer)
            if n == 0 { break }
            crc = CRC32C.extend(crc, UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += UInt64(n)
        }
        return crc
    }
}

/// A copy's buffer: allocated once for all the files of a `putMany` (not once per file) and
/// never zero-filled, since every byte is read into it before it is used.
final class CopyBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    /// Aligned for direct writes (`UncachedWritableFile` writes whole blocks straight from it).
    init(byteCount: Int = 1 << 20) {
        bytes = .allocate(byteCount: byteCount, alignment: UncachedWritableFile.alignment)
    }

    deinit { bytes.deallocate() }
}
