import LSMStore

/// Wraps a checkpoint storage and lets a test fail its writes: before each write (`put`,
/// `putMany`, `putAtomically`, `createExclusively`) the storage calls `beforeWrite` with the
/// object's name, and an error it throws is the write's (for example
/// `LSMError.io(path:operation:errno: ENOSPC)` for a full storage). Reads, listings and deletes
/// pass through. As `FaultInjectingFileSystem` does for a store's files.
public final class FaultInjectingCheckpointStorage: CheckpointStorage, @unchecked Sendable {
    private let base: any CheckpointStorage
    private let beforeWrite: @Sendable (String) throws -> Void

    /// `base`, with `beforeWrite` called before every write.
    public init(_ base: any CheckpointStorage, beforeWrite: @escaping @Sendable (_ name: String) throws -> Void) {
        self.base = base
        self.beforeWrite = beforeWrite
    }

    /// See `CheckpointStorage`.
    public func put(_ name: String, fromLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        try beforeWrite(name)
        return try base.put(name, fromLocalFile: localPath, preferLink: preferLink)
    }
    /// See `CheckpointStorage`.
    public func putMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        for f in files { try beforeWrite(f.name) }
        return try base.putMany(files, preferLink: preferLink)
    }
    /// See `CheckpointStorage`.
    public func putAtomically(_ name: String, _ bytes: [UInt8]) throws {
        try beforeWrite(name)
        try base.putAtomically(name, bytes)
    }
    /// See `CheckpointStorage`.
    public func createExclusively(_ name: String, _ bytes: [UInt8]) throws -> Bool {
        try beforeWrite(name)
        return try base.createExclusively(name, bytes)
    }
    /// See `CheckpointStorage`.
    public func get(_ name: String) throws -> [UInt8] { try base.get(name) }
    /// See `CheckpointStorage`.
    public func get(_ name: String, toLocalFile localPath: String, preferLink: Bool) throws -> Transfer {
        try base.get(name, toLocalFile: localPath, preferLink: preferLink)
    }
    /// See `CheckpointStorage`.
    public func getMany(_ files: [(name: String, localPath: String)], preferLink: Bool) throws -> [Transfer] {
        try base.getMany(files, preferLink: preferLink)
    }
    /// See `CheckpointStorage`.
    public func list(_ directory: String) throws -> [String] { try base.list(directory) }
    /// See `CheckpointStorage`.
    public func delete(_ name: String) throws { try base.delete(name) }
    /// See `CheckpointStorage`.
    public func size(_ name: String) throws -> UInt64? { try base.size(name) }
    /// See `CheckpointStorage`.
    public func bytesOnDisk() throws -> UInt64 { try base.bytesOnDisk() }
    /// See `CheckpointStorage`.
    public func sync(_ directory: String) throws { try base.sync(directory) }
    /// See `CheckpointStorage`.
    public func requestStats() -> StorageRequestStats? { base.requestStats() }
    /// See `CheckpointStorage`.
    public func abortIncompleteUploads(olderThan grace: Duration, dryRun: Bool) throws -> [String] {
        try base.abortIncompleteUploads(olderThan: grace, dryRun: dryRun)
    }
}
