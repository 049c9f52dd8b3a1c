/// Cleaning up after checkpoints that crashed or were abandoned (DESIGN.md §17.6).
extension Checkpointer {
    /// Finds what crashed or aborted checkpoints left: folders without `_metadata`, shared
    /// objects no completed checkpoint references, and uploads never completed (an object
    /// store's multipart uploads older than `grace`). Deletes them unless `dryRun`; returns
    /// their names. Left alone: checkpoints in progress in this process; incomplete
    /// checkpoints another store claimed less than `grace` ago (in progress elsewhere, as far
    /// as anyone can tell), with that store's unreferenced shared objects; damaged
    /// checkpoints; and, while a damaged checkpoint is there, every shared object (it may
    /// reference any of them: it is quarantined until repaired or discarded).
    @discardableResult
    public func cleanup(
        dryRun: Bool = false, sparingClaimsYoungerThan grace: Duration = .seconds(3600)
    ) throws -> [String] {
        try lock.withLock {
            let orphans = try Checkpointer.cleanup(
                storage, dryRun: dryRun, grace: grace, ownStore: storeHex, inProgress: pendingNames)
            try refreshLocked()
            return orphans
        }
    }

    static func cleanup(
        _ storage: any CheckpointStorage, dryRun: Bool, grace: Duration, ownStore: String?,
        inProgress: [UInt64: Set<String>]
    ) throws -> [String] {
        let catalog = try CheckpointCatalog.load(storage)
        var registry = SharedFileRegistry()
        for m in catalog.completed { registry.register(m) }
        let pendingShared = inProgress.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        let now = currentTimeMillis()
        let graceMillis =
            UInt64(max(0, grace.components.seconds)) * 1000
            + UInt64(max(0, grace.components.attoseconds) / 1_000_000_000_000_000)
        var sparedStores = Set<String>()
        var orphans: [String] = []
        for id in catalog.ids {
            guard case .incomplete(let claim)? = catalog.states[id], inProgress[id] == nil else { continue }
            if let claim, claim.storeID != ownStore,
                now < claim.createdAtMillis || now - claim.createdAtMillis < graceMillis
            {
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
        // Uploads started and never finished (an object store's multipart uploads), past the
        // same grace: stored and billed, but in no listing.
        orphans += try storage.abortIncompleteUploads(olderThan: grace, dryRun: dryRun)
        return orphans
    }

    /// Cleanup for tools, as `cleanup(dryRun:sparingClaimsYoungerThan:)` without a store of
    /// its own: incomplete checkpoints claimed less than `grace` ago are spared.
    public static func cleanup(
        storage: any CheckpointStorage, dryRun: Bool, sparingClaimsYoungerThan grace: Duration = .seconds(3600)
    ) throws -> [String] {
        try cleanup(storage, dryRun: dryRun, grace: grace, ownStore: nil, inProgress: [:])
    }
}
