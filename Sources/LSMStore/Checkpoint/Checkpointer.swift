import Glibc

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
    let lock = Monitor()
    private var registry: SharedFileRegistry
    /// Folders whose state is final (completed or damaged) and already read.
    private var settledFolders = Set<UInt64>()
    /// Shared objects that in-progress checkpoints upload or reuse: never deleted meanwhile.
    var pendingNames: [UInt64: Set<String>] = [:]
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
            throw LSMError.corruption(
                file: name, offset: 0, reason: "metadata names checkpoint \(m.id), folder is \(id)")
        }
        return m
    }

    /// Brings the registry up to date with the storage: reads folders not read yet (and
    /// incomplete ones again, which may have completed since), and forgets checkpoints whose
    /// folders are gone. Caller holds `lock`.
    /// Returns the folder ids it listed.
    @discardableResult
    func refreshLocked() throws -> [UInt64] {
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
        return ids
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
    public func checkpoint(
        mode: CheckpointMode, id: UInt64? = nil, userMetadata: [UInt8] = []
    ) throws -> CheckpointReport {
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
        let requestsAtStart = storage.requestStats()
        let claim = CheckpointClaim(storeID: storeHex, createdAtMillis: currentTimeMillis())
        let chosen: UInt64 = try lock.withLock {
            let existing = try refreshLocked()
            var n = id ?? (max(existing.last ?? 0, registry.completedIDs.last ?? 0, pendingNames.keys.max() ?? 0) + 1)
            while true {
                if pendingNames[n] == nil, registry.checkpoints[n] == nil,
                    try storage.createExclusively(CheckpointClaim.name(n), claim.encode())
                {
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
                syncDuration: clock.now - start, requestsAtStart: requestsAtStart)
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
}
