/// Everything a checkpoint storage holds, read from its `chk-N` folders: completed
/// checkpoints, checkpoints whose `_metadata` is damaged (reported, never skipped in
/// silence), and incomplete ones (in progress elsewhere, failed or abandoned) with their claim.
public struct CheckpointCatalog: Sendable {
    /// The state of one `chk-N` folder.
    public enum State: Sendable {
        /// `_metadata` exists and passes its checks.
        case completed(CheckpointMetadata)
        /// `_metadata` exists but fails its checks: what it references is unknown, so
        /// nothing it may reference is deleted while it is there (see `Checkpointer.cleanup`).
        case damaged(LSMError)
        /// No `_metadata`: a checkpoint in progress, or one that failed or was abandoned. The
        /// claim names its store when it could be read.
        case incomplete(CheckpointClaim?)
    }

    /// Every folder's state, by id.
    public let states: [UInt64: State]

    /// Reads the storage's folders and their `_metadata` and `_claim`.
    public static func load(_ storage: any CheckpointStorage) throws -> CheckpointCatalog {
        var states: [UInt64: State] = [:]
        for id in try Checkpointer.folderIDs(storage) { states[id] = try loadState(storage, id) }
        return CheckpointCatalog(states: states)
    }

    static func loadState(_ storage: any CheckpointStorage, _ id: UInt64) throws -> State {
        do {
            if let m = try Checkpointer.loadMetadata(storage, id) { return .completed(m) }
        } catch let e as LSMError where e.isCorruption {
            return .damaged(e)
        }
        let claimName = CheckpointClaim.name(id)
        guard try storage.size(claimName) != nil else { return .incomplete(nil) }
        do {
            return .incomplete(try CheckpointClaim.decode(try storage.get(claimName), name: claimName))
        } catch let e as LSMError where e.isCorruption {
            return .incomplete(nil)
        }
    }

    /// Ids of every folder, ascending.
    public var ids: [UInt64] { states.keys.sorted() }

    /// Completed checkpoints, oldest first.
    public var completed: [CheckpointMetadata] {
        ids.compactMap { if case .completed(let m)? = states[$0] { return m } else { return nil } }
    }

    /// Checkpoints whose `_metadata` is damaged, oldest first.
    public var damaged: [(id: UInt64, error: LSMError)] {
        ids.compactMap { if case .damaged(let e)? = states[$0] { return ($0, e) } else { return nil } }
    }

    /// Ids of the stores whose completed checkpoints the storage holds, sorted.
    public var storeIDs: [String] { Array(Set(completed.map(\.storeID))).sorted() }

    /// The checkpoint a restore takes when none is named: the newest completed checkpoint
    /// (of `storeID` when given). Refused when the storage holds completed checkpoints of
    /// several stores and none is named, and when a checkpoint newer than the one chosen is
    /// damaged (its `_metadata` error is thrown: an older state is never presented as the
    /// latest) unless `fallBackPastDamaged`; then the damaged ones passed over are returned.
    public func latest(
        storeID: String? = nil, fallBackPastDamaged: Bool = false
    ) throws
        -> (checkpoint: CheckpointMetadata, passedOver: [(id: UInt64, error: LSMError)])
    {
        if storeID == nil, storeIDs.count > 1 {
            throw LSMError.invalidArgument(
                "the storage holds checkpoints of \(storeIDs.count) stores (\(storeIDs.joined(separator: ", "))); name the store or a checkpoint id"
            )
        }
        let candidates = completed.filter { storeID == nil || $0.storeID == storeID }
        let chosen = candidates.last
        let newerDamaged = damaged.filter { $0.id > (chosen?.id ?? 0) }
        if let newest = newerDamaged.last, !fallBackPastDamaged { throw newest.error }
        guard let chosen else {
            throw LSMError.invalidArgument(
                storeID.map { "the storage holds no completed checkpoint of store \($0)" }
                    ?? "the storage holds no completed checkpoint")
        }
        return (chosen, newerDamaged)
    }
}
