/// Takes checkpoints of one store into one checkpoint storage, keeps the shared-file
/// registry, applies retention, and cleans up what failed checkpoints left behind.
///
/// A checkpoint has a short synchronous phase (`begin`: switch to a new memtable, while
/// writers wait) and an asynchronous phase (`PendingCheckpoint.complete`: wait for the old
/// memtable's flush and pin the version it installs, copy or link the files, write
/// `_metadata` last) that runs while writes continue.
/// `checkpoint(mode:)` does both.
public final class Checkpointer: @unchecked Sendable {
    /// Where the checkpoints go.
    public let storage: any CheckpointStorage
    let store: LSMStore
    private let lock = Mutex()
    private var registry: SharedFileRegistry
    /// Shared objects that in-progress checkpoints upload or reuse: never deleted meanwhile.
    private var pendingNames: [UInt64: Set<String>] = [:]
    private var _retained: Int
    /// Checkpoint folders whose `_metadata` failed verification when the registry was built.
    public private(set) var damagedCheckpoints: [UInt64: LSMError] = [:]

    /// How many completed checkpoints to keep (at least 1; default 1, as Flink). Older ones
    /// are discarded when a newer one completes.
    public var retained: Int {
        get { lock.withLock { _retained } }
        set { lock.withLock { _retained = max(1, newValue) } }
    }

    /// Opens the registry of `storage` for `store`: it is rebuilt from the `_metadata` of the
    /// checkpoints in the storage.
    public init(store: LSMStore, storage: any CheckpointStorage, retained: Int = 1) throws {
        self.store = store
        self.storage = storage
        self._retained = max(1, retained)
        let (registry, damaged) = try Checkpointer.loadRegistry(storage)
        self.registry = registry
        self.damagedCheckpoints = damaged
    }

    static func folder(_ id: UInt64) -> String { "chk-\(id)" }
    static func metadataName(_ id: UInt64) -> String { "chk-\(id)/_metadata" }

    /// Ids of checkpoint folders in `storage` (complete or not).
    static func folderIDs(_ storage: any CheckpointStorage) throws -> [UInt64] {
        try storage.list("").compactMap { $0.hasPrefix("chk-") ? UInt64($0.dropFirst(4)) : nil }.sorted()
    }

    /// Reads and verifies the metadata of checkpoint `id`; nil when the folder has none.
    static func loadMetadata(_ storage: any CheckpointStorage, _ id: UInt64) throws -> CheckpointMetadata? {
        let name = metadataName(id)
        guard try storage.size(name) != nil else { return nil }
        let m = try CheckpointMetadata.decode(try storage.get(name), name: name)
        guard m.id == id else {
            throw LSMError.corruption(file: name, offset: 0, reason: "metadata names checkpoint \(m.id), folder is \(id)")
        }
        return m
    }

    static func loadRegistry(_ storage: any CheckpointStorage) throws -> (SharedFileRegistry, [UInt64: LSMError]) {
        var r = SharedFileRegistry()
        var damaged: [UInt64: LSMError] = [:]
        for id in try folderIDs(storage) {
            do {
                if let m = try loadMetadata(storage, id) { r.register(m) }
            } catch let e as LSMError where e.isCorruption {
                damaged[id] = e
            }
        }
        return (r, damaged)
    }

    /// Completed checkpoints in `storage`, oldest first (damaged ones are skipped).
    public static func list(_ storage: any CheckpointStorage) throws -> [CheckpointMetadata] {
        let (r, _) = try loadRegistry(storage)
        return r.completedIDs.compactMap { r.checkpoints[$0] }
    }

    /// Ids of the completed checkpoints this checkpointer retains, oldest first.
    public var completedCheckpoints: [UInt64] { lock.withLock { registry.completedIDs } }

    /// Runs both phases of a checkpoint and applies retention.
    public func checkpoint(mode: CheckpointMode, id: UInt64? = nil, userMetadata: [UInt8] = []) throws -> CheckpointReport {
        let pending = try begin(mode: mode, id: id, userMetadata: userMetadata)
        do {
            return try pending.complete()
        } catch {
            pending.abort()
            throw error
        }
    }

    /// The synchronous phase: switches to a new memtable, so the checkpoint holds exactly
    /// the writes made before this call; the old memtable is flushed in the background and
    /// `complete()` pins the version that flush installs. Writers wait only for the switch. `id` defaults to one more than the largest id in the storage.
    public func begin(mode: CheckpointMode, id: UInt64? = nil, userMetadata: [UInt8] = []) throws -> PendingCheckpoint {
        let clock = ContinuousClock()
        let start = clock.now
        let chosen: UInt64 = try lock.withLock {
            let existing = try Checkpointer.folderIDs(storage)
            let next = max(existing.last ?? 0, registry.completedIDs.last ?? 0, pendingNames.keys.max() ?? 0) + 1
            let n = id ?? next
            if existing.contains(n) || pendingNames[n] != nil || registry.checkpoints[n] != nil {
                throw LSMError.invalidArgument("checkpoint \(n) already exists in the storage")
            }
            pendingNames[n] = []
            return n
        }
        do {
            let ticket = try store.core.beginCheckpointPin()
            return PendingCheckpoint(
                owner: self, id: chosen, mode: mode, ticket: ticket, userMetadata: userMetadata,
                syncDuration: clock.now - start)
        } catch {
            lock.withLock { _ = pendingNames.removeValue(forKey: chosen) }
            throw error
        }
    }

    // MARK: Used by PendingCheckpoint

    /// Whether a shared object is already in the storage for a retained checkpoint; marks it
    /// as used by pending checkpoint `id` either way.
    func reserveShared(_ name: String, for id: UInt64) -> Bool {
        lock.withLock {
            pendingNames[id, default: []].insert(name)
            return registry.isReferenced(name)
        }
    }

    /// Records a completed checkpoint and discards the oldest beyond `retained`.
    func completed(_ m: CheckpointMetadata) throws -> [UInt64] {
        try lock.withLock {
            registry.register(m)
            pendingNames[m.id] = nil
            var discarded: [UInt64] = []
            while registry.completedIDs.count > _retained, let oldest = registry.completedIDs.first {
                try discardLocked(oldest)
                discarded.append(oldest)
            }
            return discarded
        }
    }

    /// Removes what a failed or aborted checkpoint wrote: its folder, and shared objects it
    /// uploaded that no retained or pending checkpoint references.
    func aborted(_ id: UInt64, uploadedShared: [String]) {
        lock.withLock {
            pendingNames[id] = nil
            try? removeFolder(id)
            let pending = pendingNames.values.reduce(into: Set<String>()) { $0.formUnion($1) }
            for name in uploadedShared where !registry.isReferenced(name) && !pending.contains(name) {
                try? storage.delete(name)
            }
        }
    }

    private func removeFolder(_ id: UInt64) throws {
        let folder = Checkpointer.folder(id)
        // Metadata first: from then on the folder reads as incomplete, whatever remains.
        try storage.delete(Checkpointer.metadataName(id))
        for name in try storage.list(folder) { try storage.delete(folder + "/" + name) }
        try storage.delete(folder)
        try storage.sync("")
    }

    private func discardLocked(_ id: UInt64) throws {
        try removeFolder(id)
        let unreferenced = registry.unregister(id)
        let pending = pendingNames.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for name in unreferenced where !pending.contains(name) { try storage.delete(name) }
        if !unreferenced.isEmpty { try storage.sync("shared") }
    }

    /// Discards checkpoint `id` now (its shared files go when nothing else references them).
    public func discard(_ id: UInt64) throws {
        try lock.withLock { try discardLocked(id) }
    }

    /// Finds what crashed or aborted checkpoints left: folders without `_metadata` and shared
    /// objects no completed checkpoint references. Deletes them unless `dryRun`; returns
    /// their names. Checkpoints in progress in this process are left alone; do not run it
    /// while another process is checkpointing into the same storage.
    @discardableResult
    public func cleanup(dryRun: Bool = false) throws -> [String] {
        try lock.withLock {
            try Checkpointer.cleanup(storage, dryRun: dryRun, inProgress: pendingNames)
        }
    }

    static func cleanup(_ storage: any CheckpointStorage, dryRun: Bool, inProgress: [UInt64: Set<String>] = [:]) throws -> [String] {
        let (registry, damaged) = try loadRegistry(storage)
        let pendingShared = inProgress.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        var orphans: [String] = []
        for id in try folderIDs(storage) where registry.checkpoints[id] == nil && damaged[id] == nil && inProgress[id] == nil {
            let folder = folder(id)
            for name in try storage.list(folder) { orphans.append(folder + "/" + name) }
            orphans.append(folder)
        }
        for name in try storage.list("shared") {
            let full = "shared/" + name
            if !registry.isReferenced(full) && !pendingShared.contains(full) { orphans.append(full) }
        }
        if !dryRun {
            for name in orphans { try storage.delete(name) }
            try storage.sync("")
        }
        return orphans
    }

    /// Static cleanup for tools (no checkpoint may be in progress in any process).
    public static func cleanup(storage: any CheckpointStorage, dryRun: Bool) throws -> [String] {
        try cleanup(storage, dryRun: dryRun, inProgress: [:])
    }
}

/// A checkpoint whose synchronous phase is done: its version is pinned (compaction cannot
/// delete its files) until `complete()` or `abort()`.
public final class PendingCheckpoint: @unchecked Sendable {
    /// The checkpoint id.
    public let id: UInt64
    /// Full or incremental.
    public let mode: CheckpointMode
    /// Sequence number of the last write the checkpoint holds.
    public var sequence: UInt64 {
        switch ticket {
        case .ready(let pin): return pin.sequence
        case .afterFlush(_, let sequence): return sequence
        }
    }
    /// How long the synchronous phase took.
    public let syncDuration: Duration
    private let owner: Checkpointer
    private let ticket: CheckpointPinTicket
    private var ticketSettled = false
    private let userMetadata: [UInt8]
    private var uploadedShared: [String] = []
    private var finished = false
    private let lock = Mutex()

    init(owner: Checkpointer, id: UInt64, mode: CheckpointMode, ticket: CheckpointPinTicket, userMetadata: [UInt8], syncDuration: Duration) {
        self.owner = owner
        self.id = id
        self.mode = mode
        self.ticket = ticket
        self.userMetadata = userMetadata
        self.syncDuration = syncDuration
    }

    /// The asynchronous phase: uploads what the checkpoint needs, writes `_metadata` last,
    /// then applies retention. On failure nothing earlier is harmed; call `abort()` to remove
    /// the partial files (or leave them to `cleanup`).
    public func complete() throws -> CheckpointReport {
        try lock.withLock {
            guard !finished else { throw LSMError.invalidArgument("checkpoint \(id) already completed or aborted") }
            let clock = ContinuousClock()
            let start = clock.now
            // The memtable switched in `begin` is flushed in the background; its version is
            // the checkpoint's.
            ticketSettled = true
            let pin = try owner.store.core.awaitCheckpointPin(ticket)
            let storage = owner.storage
            let storeHex = Inspector.hexString(pin.storeID)
            let folder = Checkpointer.folder(id)
            var files: [CheckpointFile] = []
            var report = CheckpointReport(id: id, mode: mode, sequence: pin.sequence, syncDuration: syncDuration)
            var toUpload: [(name: String, localPath: String, file: FileMetaData)] = []
            for (level, list) in pin.version.levels.enumerated() {
                for f in list {
                    let name: String
                    var uploaded = true
                    switch mode {
                    case .full:
                        name = folder + "/" + FileNames.tableName(f.number)
                    case .incremental:
                        name = "shared/\(storeHex)-\(FileNames.tableName(f.number))"
                        if owner.reserveShared(name, for: id) {
                            uploaded = false
                            report.filesReused += 1
                        } else {
                            uploadedShared.append(name)
                        }
                    }
                    if uploaded { toUpload.append((name, FileNames.table(pin.dir, f.number), f)) }
                    files.append(CheckpointFile(
                        level: level, fileNumber: f.number, name: name, size: f.size, checksum: f.checksum,
                        smallestKey: f.smallest, largestKey: f.largest, uploadedHere: uploaded))
                }
            }
            let uploadStart = clock.now
            let transfers = try storage.putMany(toUpload.map { ($0.name, $0.localPath) }, preferLink: mode == .incremental)
            report.uploadDuration = clock.now - uploadStart
            for (t, u) in zip(transfers, toUpload) { try account(t, u.localPath, u.file, into: &report) }
            let metadata = CheckpointMetadata(
                id: id, mode: mode, sequence: pin.sequence, storeID: storeHex,
                createdAtMillis: currentTimeMillis(), nextFileNumber: pin.nextFileNumber, files: files,
                userMetadata: userMetadata)
            let bytes = metadata.encode()
            if !uploadedShared.isEmpty { try storage.sync("shared") }
            if mode == .full && !files.isEmpty { try storage.sync(folder) }
            try storage.putAtomically(Checkpointer.metadataName(id), bytes)
            try storage.sync("")
            report.bytesWritten += UInt64(bytes.count)
            report.metadataBytes = UInt64(bytes.count)
            report.fullSize = metadata.fullSize + UInt64(bytes.count)
            report.fileCount = files.count
            finished = true
            report.discardedCheckpoints = try owner.completed(metadata)
            report.asyncDuration = clock.now - start
            report.storageBytesOnDisk = try storage.bytesOnDisk()
            return report
        }
    }

    private func account(_ t: Transfer, _ local: String, _ f: FileMetaData, into report: inout CheckpointReport) throws {
        guard t.bytes == f.size else {
            throw LSMError.corruption(file: local, offset: min(t.bytes, f.size), reason: "size \(t.bytes) differs from the manifest's \(f.size)")
        }
        if let c = t.checksum, c != f.checksum {
            throw LSMError.corruption(file: local, offset: 0, reason: "file checksum differs from the one recorded when it was written")
        }
        report.filesNew += 1
        report.bytesWritten += t.bytes
        if t.linked { report.filesLinked += 1 }
    }

    /// Abandons the checkpoint and removes what it wrote. Idempotent.
    public func abort() {
        let uploaded: [String]? = lock.withLock {
            guard !finished else { return nil }
            finished = true
            if !ticketSettled {
                ticketSettled = true
                owner.store.core.releaseCheckpointPin(ticket)
            }
            return uploadedShared
        }
        if let uploaded { owner.aborted(id, uploadedShared: uploaded) }
    }

    deinit {
        if !ticketSettled { owner.store.core.releaseCheckpointPin(ticket) }
        if !finished { owner.aborted(id, uploadedShared: uploadedShared) }
    }
}

/// What one checkpoint did and cost.
public struct CheckpointReport: Sendable {
    /// Checkpoint id.
    public var id: UInt64
    /// Full or incremental.
    public var mode: CheckpointMode
    /// Sequence number of the last write it holds.
    public var sequence: UInt64
    /// Synchronous phase (memtable flush; writers wait).
    public var syncDuration: Duration
    /// Asynchronous phase (uploads, metadata, retention).
    public var asyncDuration: Duration = .zero
    /// The part of the asynchronous phase spent copying or linking files, fsyncs included.
    public var uploadDuration: Duration = .zero
    /// Bytes this checkpoint wrote to the storage (the delta): uploaded files and metadata.
    /// A hard link counts as an upload of the file's bytes (an object store would receive them).
    public var bytesWritten: UInt64 = 0
    /// Bytes a restore needs: every referenced file and the metadata.
    public var fullSize: UInt64 = 0
    /// Bytes of `_metadata`.
    public var metadataBytes: UInt64 = 0
    /// Files uploaded by this checkpoint.
    public var filesNew = 0
    /// Files referenced from earlier checkpoints.
    public var filesReused = 0
    /// Uploaded files that were hard links rather than copies.
    public var filesLinked = 0
    /// Files the checkpoint references in all.
    public var fileCount = 0
    /// Bytes the checkpoint storage occupies afterwards, each inode counted once.
    public var storageBytesOnDisk: UInt64 = 0
    /// Older checkpoints discarded by retention when this one completed.
    public var discardedCheckpoints: [UInt64] = []

    init(id: UInt64, mode: CheckpointMode, sequence: UInt64, syncDuration: Duration) {
        self.id = id
        self.mode = mode
        self.sequence = sequence
        self.syncDuration = syncDuration
    }

    /// Synchronous plus asynchronous phase.
    public var totalDuration: Duration { syncDuration + asyncDuration }
}

func currentTimeMillis() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
}

import Glibc
