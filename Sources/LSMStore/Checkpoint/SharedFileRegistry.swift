/// Which retained checkpoints reference each shared file (Flink's SharedStateRegistry in
/// miniature). Rebuilt from the retained checkpoints' `_metadata` when a `Checkpointer`
/// starts, never trusted from memory alone; a shared file may be deleted only when no
/// retained checkpoint references it.
struct SharedFileRegistry {
    /// Shared object name → ids of the completed checkpoints referencing it.
    private(set) var references: [String: Set<UInt64>] = [:]
    /// Size and checksum of each shared object, from the metadata that references it.
    private(set) var files: [String: (size: UInt64, checksum: UInt32)] = [:]
    /// Completed checkpoints, by id.
    private(set) var checkpoints: [UInt64: CheckpointMetadata] = [:]

    static func isShared(_ name: String) -> Bool { name.hasPrefix(CheckpointLayout.sharedFolder + "/") }

    mutating func register(_ m: CheckpointMetadata) {
        checkpoints[m.id] = m
        for f in m.files where SharedFileRegistry.isShared(f.name) {
            references[f.name, default: []].insert(m.id)
            files[f.name] = (f.size, f.checksum)
        }
    }

    /// Forgets checkpoint `id`; returns the shared names no checkpoint references any more.
    mutating func unregister(_ id: UInt64) -> [String] {
        guard let m = checkpoints.removeValue(forKey: id) else { return [] }
        var unreferenced: [String] = []
        for f in m.files where SharedFileRegistry.isShared(f.name) {
            references[f.name]?.remove(id)
            if references[f.name]?.isEmpty ?? false {
                references[f.name] = nil
                files[f.name] = nil
                unreferenced.append(f.name)
            }
        }
        return unreferenced
    }

    func isReferenced(_ name: String) -> Bool { references[name] != nil }

    var completedIDs: [UInt64] { checkpoints.keys.sorted() }
}
