extension LSMStore {
    /// Builds a new store in `dir` from checkpoint `id` (the latest completed one when nil)
    /// and opens it. Files are hard-linked from the storage when possible, else copied and
    /// checked against the recorded checksums. The restored store holds exactly the state at
    /// the checkpoint's sequence number, is fully writable, and gets a new store id so its
    /// future files never collide with the original's in shared checkpoint storage.
    ///
    /// Safety of the links: a store never writes into an existing table (tables are
    /// immutable and every new file gets a fresh number, created after unlinking any
    /// previous name), and deleting its own name for a table leaves the checkpoint's name
    /// and bytes intact.
    public static func restore(
        from storage: any CheckpointStorage, checkpoint id: UInt64? = nil, to dir: String, options: Options = Options()
    ) throws -> LSMStore {
        let fs = options.fileSystem
        let metadata: CheckpointMetadata
        if let id {
            guard let m = try Checkpointer.loadMetadata(storage, id) else {
                throw LSMError.invalidArgument("checkpoint \(id) does not exist or is incomplete")
            }
            metadata = m
        } else {
            guard let m = try Checkpointer.list(storage).last else {
                throw LSMError.invalidArgument("the storage holds no completed checkpoint")
            }
            metadata = m
        }
        if try fs.stat(dir) != nil, !(try fs.listDirectory(dir)).isEmpty {
            throw LSMError.invalidArgument("\(dir) is not empty; restore into a new or empty directory")
        }
        try fs.createDirectory(dir)
        let lock = try fs.lock(FileNames.lock(dir))
        defer { lock.unlock() }
        var edit = VersionEdit()
        var maxNumber: UInt64 = 1
        for f in metadata.files {
            let local = FileNames.table(dir, f.fileNumber)
            let t = try storage.get(f.name, toLocalFile: local, preferLink: true)
            guard t.bytes == f.size else {
                throw LSMError.corruption(file: f.name, offset: min(t.bytes, f.size), reason: "size \(t.bytes), metadata says \(f.size)")
            }
            if let c = t.checksum, c != f.checksum {
                throw LSMError.corruption(file: f.name, offset: 0, reason: "file checksum mismatch")
            }
            edit.addFile(f.level, FileMetaData(
                number: f.fileNumber, size: f.size, smallest: f.smallestKey, largest: f.largestKey, checksum: f.checksum))
            maxNumber = max(maxNumber, f.fileNumber)
        }
        try fs.syncDirectory(dir)
        var o = options
        o.createIfMissing = true
        o.errorIfExists = false
        let versions = VersionSet(dir: dir, fs: fs, options: o)
        versions.create()
        versions.nextFileNumber = max(metadata.nextFileNumber, maxNumber + 1)
        versions.lastSequence = metadata.sequence
        edit.logNumber = 0
        if let why = Version.empty.applying(edit).overlapError() {
            throw LSMError.corruption(file: Checkpointer.metadataName(metadata.id), offset: 0, reason: why)
        }
        try versions.logAndApply(&edit)  // the first write: a new manifest and CURRENT
        versions.close()
        lock.unlock()
        return try LSMStore.open(at: dir, options: o)
    }
}

/// Re-reading a checkpoint: sizes and whole-file checksums against `_metadata`, then every
/// block checksum of every table.
extension Checkpointer {
    /// What `verify` checked and found.
    public struct VerifyReport: Sendable {
        /// The checkpoint verified.
        public var id: UInt64
        /// Files read.
        public var filesChecked = 0
        /// Bytes read.
        public var bytesChecked: UInt64 = 0
        /// Entries decoded.
        public var entriesChecked: UInt64 = 0
        /// Every problem found (empty when sound).
        public var problems: [LSMError] = []
    }

    /// Verifies checkpoint `id` (the latest when nil) in `storage`.
    public static func verify(storage: any CheckpointStorage, checkpoint id: UInt64? = nil) throws -> VerifyReport {
        let chosen: UInt64
        if let id { chosen = id } else {
            guard let last = try folderIDs(storage).last(where: { (try? loadMetadata(storage, $0)) != nil }) else {
                throw LSMError.invalidArgument("the storage holds no completed checkpoint")
            }
            chosen = last
        }
        guard let m = try loadMetadata(storage, chosen) else {
            throw LSMError.invalidArgument("checkpoint \(chosen) does not exist or is incomplete")
        }
        var report = VerifyReport(id: chosen)
        for f in m.files {
            do {
                guard let size = try storage.size(f.name) else {
                    report.problems.append(.corruption(file: f.name, offset: 0, reason: "file is missing"))
                    continue
                }
                guard size == f.size else {
                    report.problems.append(.corruption(
                        file: f.name, offset: min(size, f.size), reason: "size \(size), metadata says \(f.size)"))
                    continue
                }
                let bytes = try storage.get(f.name)
                report.bytesChecked += UInt64(bytes.count)
                report.filesChecked += 1
                if CRC32C.checksum(bytes) != f.checksum {
                    report.problems.append(.corruption(file: f.name, offset: 0, reason: "file checksum mismatch"))
                }
                // Block checksums too, so the damaged block's offset is named.
                let reader = try SSTableReader(file: MemoryFile(path: f.name, bytes: bytes), fileNumber: f.fileNumber, cache: nil)
                report.entriesChecked += try reader.verify()
            } catch let e as LSMError {
                report.problems.append(e)
            }
        }
        return report
    }
}

/// A read-only file held in memory.
final class MemoryFile: RandomAccessFile, @unchecked Sendable {
    let path: String
    let bytes: [UInt8]

    init(path: String, bytes: [UInt8]) {
        self.path = path
        self.bytes = bytes
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset < UInt64(bytes.count) else { return 0 }
        let n = min(buffer.count, bytes.count - Int(offset))
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress! + Int(offset), byteCount: n)
        }
        return n
    }

    func size() throws -> UInt64 { UInt64(bytes.count) }
}
