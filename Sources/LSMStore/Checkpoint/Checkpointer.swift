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
    /// The store's id (hex). Its shared objects are `shared/<id>-<table>.sst`, its claims
    /// and metadata carry it, and retention counts only its checkpoints.
    let storeHex: String
    private let lock = Monitor()
    private var registry: SharedFileRegistry
    /// Folders whose state is final (completed or damaged) and already read.
    private var settledFolders = Set<UInt64>()
    /// Shared objects that in-progress checkpoints upload or reuse: never deleted meanwhile.
    private var pendingNames: [UInt64: Set<String>] = [:]
    private var _retained: Int
    private var _damaged: [UInt64: LSMError] = [:]

    /// Checkpoint folders whose `_metadata` fails its checks. While there is one, no shared
    /// object is deleted (by retention or cleanup): what it references cannot be known.
    public var damagedCheckpoints: [UInt64: LSMError] { lock.withLock { _damaged } }

    /// How many completed checkpoints of this store to keep (at least 1; default 1, as
    /// Flink). Older ones of this store are discarded when a newer one completes; other
    /// stores' checkpoints in the same storage are never touched by it.
    public var retained: Int {
        get { lock.withLock { _retained } }
        set { lock.withLock { _retained = max(1, newValue) } }
    }

    /// Opens the registry of `storage` for `store`: it is rebuilt from the `_metadata` of the
    /// checkpoints in the storage, and refreshed at each `begin` (other processes may write
    /// into the same storage).
    public init(store: LSMStore, storage: any CheckpointStorage, retained: Int = 1) throws {
        self.store = store
        self.storage = storage
        self.storeHex = Inspector.hexString(store.core.versions.storeID)
        self._retained = max(1, retained)
        self.registry = SharedFileRegistry()
        try lock.withLock { try refreshLocked() }
    }

    static func folder(_ id: UInt64) -> String { CheckpointLayout.folder(id) }
    static func metadataName(_ id: UInt64) -> String { CheckpointLayout.metadata(id) }

    /// Ids of checkpoint folders in `storage` (complete or not).
    static func folderIDs(_ storage: any CheckpointStorage) throws -> [UInt64] {
        try storage.list("").compactMap(CheckpointLayout.id(ofFolder:)).sorted()
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

    /// Brings the registry up to date with the storage: reads folders not read yet (and
    /// incomplete ones again, which may have completed since), and forgets checkpoints whose
    /// folders are gone. Caller holds `lock`.
    private func refreshLocked() throws {
        let ids = try Checkpointer.folderIDs(storage)
        let present = Set(ids)
        for id in registry.completedIDs where !present.contains(id) { _ = registry.unregister(id) }
        for id in _damaged.keys where !present.contains(id) { _damaged[id] = nil }
        settledFolders.formIntersection(present)
        for id in ids where !settledFolders.contains(id) && pendingNames[id] == nil {
            switch try CheckpointCatalog.loadState(storage, id) {
            case .completed(let m):
                registry.register(m)
                settledFolders.insert(id)
            case .damaged(let e):
                _damaged[id] = e
                settledFolders.insert(id)
            case .incomplete:
                break
            }
        }
    }

    /// Completed checkpoints in `storage`, oldest first (damaged ones are not among them:
    /// `CheckpointCatalog` lists those).
    public static func list(_ storage: any CheckpointStorage) throws -> [CheckpointMetadata] {
        try CheckpointCatalog.load(storage).completed
    }

    /// Ids of the completed checkpoints in the storage as this checkpointer last read it (of
    /// every store), oldest first.
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
    /// `complete()` pins the version that flush installs. Writers wait only for the switch.
    ///
    /// The id is claimed exclusively in the storage (`chk-N/_claim`), so writers sharing it
    /// never take one id: `id` when given (an error if it is taken), else one more than the
    /// largest id in the storage, going up until a claim succeeds. Fails with
    /// `LSMError.conflict` when the storage holds a checkpoint of this store's id that this
    /// store cannot have written (a copy of its directory checkpointing into the same storage).
    public func begin(mode: CheckpointMode, id: UInt64? = nil, userMetadata: [UInt8] = []) throws -> PendingCheckpoint {
        let clock = ContinuousClock()
        let start = clock.now
        let claim = CheckpointClaim(storeID: storeHex, createdAtMillis: currentTimeMillis())
        let chosen: UInt64 = try lock.withLock {
            try refreshLocked()
            let existing = try Checkpointer.folderIDs(storage)
            var n = id ?? (max(existing.last ?? 0, registry.completedIDs.last ?? 0, pendingNames.keys.max() ?? 0) + 1)
            while true {
                if pendingNames[n] == nil, registry.checkpoints[n] == nil,
                   try storage.createExclusively(CheckpointClaim.name(n), claim.encode()) {
                    pendingNames[n] = []
                    return n
                }
                if id != nil { throw LSMError.invalidArgument("checkpoint \(n) already exists in the storage") }
                n += 1
            }
        }
        do {
            let ticket = try store.core.beginCheckpointPin()
            let pending = PendingCheckpoint(
                owner: self, id: chosen, mode: mode, ticket: ticket, userMetadata: userMetadata,
                syncDuration: clock.now - start)
            try lock.withLock { try checkNoOtherStoreSharesTheIDLocked(sequence: pending.sequence) }
            return pending
        } catch {
            aborted(chosen, uploadedShared: [])
            throw error
        }
    }

    /// A store's sequence numbers only grow, and a checkpoint holds a sequence its store had
    /// made durable: a checkpoint of this store's id beyond `sequence` was written by another
    /// store with the same id. Caller holds `lock`.
    private func checkNoOtherStoreSharesTheIDLocked(sequence: UInt64) throws {
        for id in registry.completedIDs {
            guard let m = registry.checkpoints[id], m.storeID == storeHex, m.sequence > sequence else { continue }
            throw LSMError.conflict(
                "checkpoint \(id) in the storage has store id \(storeHex) and sequence \(m.sequence), beyond this store's \(sequence): "
                    + "another store with the same id (a copy of this store's directory?) checkpoints into this storage; "
                    + "make copies by restoring a checkpoint (a restored store gets a new id)")
        }
    }

    // MARK: Used by PendingCheckpoint

    /// Whether a shared object is already in the storage for a retained checkpoint; marks it
    /// as used by pending checkpoint `id` either way. A name is reused only when the object
    /// it names was recorded with this table's size and checksum: a different table under
    /// the same name means two stores share an id, and is refused (`LSMError.conflict`).
    func reserveShared(_ name: String, for id: UInt64, size: UInt64, checksum: UInt32) throws -> Bool {
        try lock.withLock {
            pendingNames[id, default: []].insert(name)
            guard registry.isReferenced(name) else { return false }
            if let known = registry.files[name], known.size != size || known.checksum != checksum {
                throw LSMError.conflict(
                    "\(name) holds a table of \(known.size) bytes with checksum \(known.checksum), but this store's table of that name has "
                        + "\(size) bytes with checksum \(checksum): another store with the same id (a copy of this store's directory?) "
                        + "checkpoints into this storage")
            }
            return true
        }
    }

    /// Records a completed checkpoint and discards the oldest beyond `retained`.
    func completed(_ m: CheckpointMetadata) throws -> [UInt64] {
        try lock.withLock {
            registry.register(m)
            pendingNames[m.id] = nil
            settledFolders.insert(m.id)
            var discarded: [UInt64] = []
            let own = registry.completedIDs.filter { registry.checkpoints[$0]?.storeID == storeHex }
            for oldest in own.dropLast(_retained) {
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
        settledFolders.remove(id)
        _damaged[id] = nil
        let unreferenced = registry.unregister(id)
        // A damaged checkpoint may reference any shared object: keep them all while one is there.
        guard _damaged.isEmpty else { return }
        let pending = pendingNames.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        for name in unreferenced where !pending.contains(name) { try storage.delete(name) }
        if !unreferenced.isEmpty { try storage.sync(CheckpointLayout.sharedFolder) }
    }

    /// Discards checkpoint `id` now, of whichever store, damaged or not (its shared files go
    /// when nothing else references them and no damaged checkpoint remains).
    public func discard(_ id: UInt64) throws {
        try lock.withLock { try discardLocked(id) }
    }

    /// Finds what crashed or aborted checkpoints left: folders without `_metadata` and shared
    /// objects no completed checkpoint references. Deletes them unless `dryRun`; returns
    /// their names. Left alone: checkpoints in progress in this process; incomplete
    /// checkpoints another store claimed less than `grace` ago (in progress elsewhere, as far
    /// as anyone can tell), with that store's unreferenced shared objects; damaged
    /// checkpoints; and, while a damaged checkpoint is there, every shared object (it may
    /// reference any of them: it is quarantined until repaired or discarded).
    @discardableResult
    public func cleanup(dryRun: Bool = false, sparingClaimsYoungerThan grace: Duration = .seconds(3600)) throws -> [String] {
        try lock.withLock {
            let orphans = try Checkpointer.cleanup(storage, dryRun: dryRun, grace: grace, ownStore: storeHex, inProgress: pendingNames)
            try refreshLocked()
            return orphans
        }
    }

    static func cleanup(
        _ storage: any CheckpointStorage, dryRun: Bool, grace: Duration, ownStore: String?, inProgress: [UInt64: Set<String>]
    ) throws -> [String] {
        let catalog = try CheckpointCatalog.load(storage)
        var registry = SharedFileRegistry()
        for m in catalog.completed { registry.register(m) }
        let pendingShared = inProgress.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let now = currentTimeMillis()
        let graceMillis = UInt64(max(0, grace.components.seconds)) * 1000 + UInt64(max(0, grace.components.attoseconds) / 1_000_000_000_000_000)
        var sparedStores = Set<String>()
        var orphans: [String] = []
        for id in catalog.ids {
            guard case .incomplete(let claim)? = catalog.states[id], inProgress[id] == nil else { continue }
            if let claim, claim.storeID != ownStore, now < claim.createdAtMillis || now - claim.createdAtMillis < graceMillis {
                sparedStores.insert(claim.storeID)
                continue
            }
            let folder = folder(id)
            for name in try storage.list(folder) { orphans.append(folder + "/" + name) }
            orphans.append(folder)
        }
        if catalog.damaged.isEmpty {
            for name in try storage.list(CheckpointLayout.sharedFolder) {
                let full = CheckpointLayout.sharedFolder + "/" + name
                let store = CheckpointLayout.store(ofSharedName: name)
                if !registry.isReferenced(full) && !pendingShared.contains(full) && !sparedStores.contains(store) {
                    orphans.append(full)
                }
            }
        }
        if !dryRun {
            for name in orphans { try storage.delete(name) }
            try storage.sync("")
        }
        return orphans
    }

    /// Cleanup for tools, as `cleanup(dryRun:sparingClaimsYoungerThan:)` without a store of
    /// its own: incomplete checkpoints claimed less than `grace` ago are spared.
    public static func cleanup(storage: any CheckpointStorage, dryRun: Bool, sparingClaimsYoungerThan grace: Duration = .seconds(3600)) throws -> [String] {
        try cleanup(storage, dryRun: dryRun, grace: grace, ownStore: nil, inProgress: [:])
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
    private let lock = Monitor()

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
                        name = CheckpointLayout.sharedTable(store: storeHex, number: f.number)
                        if try owner.reserveShared(name, for: id, size: f.size, checksum: f.checksum) {
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
            if !uploadedShared.isEmpty { try storage.sync(CheckpointLayout.sharedFolder) }
            if mode == .full && !files.isEmpty { try storage.sync(folder) }
            // Created exclusively: a checkpoint is never replaced, whoever else writes here.
            guard try storage.createExclusively(Checkpointer.metadataName(id), bytes) else {
                throw LSMError.conflict("\(Checkpointer.metadataName(id)) was created by another writer")
            }
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
        // A copy's bytes were checksummed as they were read; a link's are read here, so a
        // table damaged on the store's disk is never handed to the checkpoint.
        let crc = try t.checksum ?? fileChecksum(owner.store.options.fileSystem, local)
        if crc != f.checksum {
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
