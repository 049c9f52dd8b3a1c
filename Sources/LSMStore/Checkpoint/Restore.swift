/// What a restore did and what it cost.
public struct RestoreReport: Sendable {
    /// The checkpoint restored.
    public var checkpoint: UInt64
    /// Newer checkpoints with damaged `_metadata` that were passed over (only with
    /// `fallBackPastDamaged`).
    public var passedOver: [(id: UInt64, error: LSMError)] = []
    /// Table files restored, and how many of them were hard links.
    public var files = 0
    /// See `files`.
    public var filesLinked = 0
    /// Bytes of the table files.
    public var bytes: UInt64 = 0
    /// Time spent linking or copying the files (a copy's checksum is computed as it is read).
    public var transferDuration: Duration = .zero
    /// Time spent reading linked files back to check their checksums.
    public var verifyDuration: Duration = .zero

    init(checkpoint: UInt64) { self.checkpoint = checkpoint }
}

extension LSMStore {
    /// Builds a new store in `dir` from a checkpoint and opens it: checkpoint `id`, or, when
    /// nil, the latest completed one (of store `storeID` when given; see
    /// `CheckpointCatalog.latest`). A damaged checkpoint is never passed over in silence:
    /// restoring it, or restoring the latest while a newer one is damaged, throws its
    /// corruption, unless `fallBackPastDamaged` (then the report lists what was passed over).
    ///
    /// Files are hard-linked from the storage when possible, else copied; every byte of
    /// every file, linked or copied, is checked against the checksum in `_metadata` before the
    /// store opens (a damaged file throws `LSMError.corruption` naming it, and nothing is
    /// left in `dir`). The restored store holds exactly the state at the checkpoint's
    /// sequence number, is fully writable, and gets a new store id so its future files never
    /// collide with the original's in shared checkpoint storage.
    ///
    /// Safety of the links: a store never writes into an existing table (tables are
    /// immutable and every new file gets a fresh number, created after unlinking any
    /// previous name), and deleting its own name for a table leaves the checkpoint's name
    /// and bytes intact.
    public static func restore(
        from storage: any CheckpointStorage, checkpoint id: UInt64? = nil, storeID: String? = nil,
        fallBackPastDamaged: Bool = false, to dir: String, options: Options = Options()
    ) throws -> LSMStore {
        try restoreReporting(
            from: storage, checkpoint: id, storeID: storeID, fallBackPastDamaged: fallBackPastDamaged, to: dir,
            options: options
        ).store
    }

    /// `restore`, with a report of what it did.
    public static func restoreReporting(
        from storage: any CheckpointStorage, checkpoint id: UInt64? = nil, storeID: String? = nil,
        fallBackPastDamaged: Bool = false, to dir: String, options: Options = Options()
    ) throws -> (store: LSMStore, report: RestoreReport) {
        let fs = options.fileSystem
        let metadata: CheckpointMetadata
        var passedOver: [(id: UInt64, error: LSMError)] = []
        if let id {
            guard let m = try Checkpointer.loadMetadata(storage, id) else {
                throw LSMError.invalidArgument("checkpoint \(id) does not exist or is incomplete")
            }
            metadata = m
        } else {
            (metadata, passedOver) = try CheckpointCatalog.load(storage).latest(
                storeID: storeID, fallBackPastDamaged: fallBackPastDamaged)
        }
        if try fs.stat(dir) != nil, !(try fs.listDirectory(dir)).isEmpty {
            throw LSMError.invalidArgument("\(dir) is not empty; restore into a new or empty directory")
        }
        try fs.createDirectory(dir)
        let lock = try fs.lock(FileNames.lock(dir))
        defer { lock.unlock() }
        var report = RestoreReport(checkpoint: metadata.id)
        report.passedOver = passedOver
        var created: [String] = []
        do {
            var edit = VersionEdit()
            var maxNumber: UInt64 = 1
            let clock = ContinuousClock()
            // Every file at once (a storage may overlap the transfers), then each checked.
            let locals = metadata.files.map { FileNames.table(dir, $0.fileNumber) }
            created = locals
            let started = clock.now
            let transfers = try storage.getMany(
                zip(metadata.files, locals).map { (name: $0.name, localPath: $1) }, preferLink: true)
            report.transferDuration = clock.now - started
            guard transfers.count == metadata.files.count else {
                throw LSMError.io(
                    path: dir,
                    operation: "restore: storage returned \(transfers.count) of \(metadata.files.count) files", errno: 0
                )
            }
            for (i, f) in metadata.files.enumerated() {
                let local = locals[i]
                let t = transfers[i]
                guard t.bytes == f.size else {
                    throw LSMError.corruption(
                        file: f.name, offset: min(t.bytes, f.size), reason: "size \(t.bytes), metadata says \(f.size)")
                }
                let verifyStart = clock.now
                let crc = try t.checksum ?? fileChecksum(fs, local, sizeHint: f.size)
                if t.checksum == nil { report.verifyDuration += clock.now - verifyStart }
                if crc != f.checksum {
                    throw LSMError.corruption(
                        file: f.name, offset: 0,
                        reason: "file checksum mismatch: the bytes differ from those the checkpoint recorded")
                }
                report.files += 1
                if t.linked { report.filesLinked += 1 }
                report.bytes += t.bytes
                edit.addFile(
                    f.level,
                    FileMetaData(
                        number: f.fileNumber, size: f.size, smallest: f.smallestKey, largest: f.largestKey,
                        checksum: f.checksum, origin: Self.origin(of: f, in: metadata)))
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
        } catch {
            // Nothing half-restored stays behind to be opened later as if it were a store.
            for path in created where fs.fileExists(path) { try? fs.remove(path) }
            throw error
        }
        lock.unlock()
        return (try LSMStore.open(at: dir, options: options.restoredOptions), report)
    }
}

extension LSMStore {
    /// The store that wrote a checkpoint's table under its number: the one named by its
    /// shared object (`shared/<store hex>-<number>.sst`, which may be an older store's whose
    /// object this checkpoint reused), else the checkpoint's own store. Nil when the name
    /// cannot be read (the table is then uploaded again under the new store's id).
    fileprivate static func origin(of f: CheckpointFile, in m: CheckpointMetadata) -> [UInt8]? {
        let prefix = CheckpointLayout.sharedFolder + "/"
        var hex = m.storeID
        if f.name.hasPrefix(prefix) {
            let store = CheckpointLayout.store(ofSharedName: String(f.name.dropFirst(prefix.count)))
            guard f.name == CheckpointLayout.sharedTable(store: store, number: f.fileNumber) else { return nil }
            hex = store
        }
        guard !hex.isEmpty, hex.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            guard let b = UInt8(hex[i..<j], radix: 16) else { return nil }
            bytes.append(b)
            i = j
        }
        return bytes
    }
}

extension Options {
    fileprivate var restoredOptions: Options {
        var o = self
        o.createIfMissing = true
        o.errorIfExists = false
        return o
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
        if let id {
            chosen = id
        } else {
            // The newest checkpoint with a `_metadata`, damaged or not: a damaged newest one
            // is reported, not skipped for an older one.
            let catalog = try CheckpointCatalog.load(storage)
            guard
                let last = catalog.ids.last(where: {
                    if case .incomplete? = catalog.states[$0] { return false } else { return true }
                })
            else {
                throw LSMError.invalidArgument("the storage holds no completed checkpoint")
            }
            chosen = last
        }
        var report = VerifyReport(id: chosen)
        let m: CheckpointMetadata
        do {
            guard let loaded = try loadMetadata(storage, chosen) else {
                throw LSMError.invalidArgument("checkpoint \(chosen) does not exist or is incomplete")
            }
            m = loaded
        } catch let e as LSMError where e.isCorruption {
            report.problems.append(e)
            return report
        }
        for f in m.files {
            do {
                guard let size = try storage.size(f.name) else {
                    report.problems.append(.corruption(file: f.name, offset: 0, reason: "file is missing"))
                    continue
                }
                guard size == f.size else {
                    report.problems.append(
                        .corruption(
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
                let reader = try SSTableReader(
                    file: MemoryFile(path: f.name, bytes: bytes), fileNumber: f.fileNumber, cache: nil)
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
