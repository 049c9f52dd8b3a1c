import LSMStore
import Synchronization

/// The job's declared states (name, id, kind, codecs, time to live), as subtasks declare
/// them: what a savepoint's metadata lists.
final class DeclaredStates: Sendable {
    private let table = Mutex<[UInt8: SavepointMetadata.State]>([:])

    func register(_ s: SavepointMetadata.State) { table.withLock { $0[s.id] = s } }

    func all() -> [UInt8: SavepointMetadata.State] { table.withLock { $0 } }
}

/// A job started from a savepoint: what its subtasks check their declarations against.
struct RestoredSavepointStates {
    /// The savepoint's states by id.
    var states: [UInt8: SavepointMetadata.State]
    /// Drop the states the job does not declare instead of refusing them.
    var allowNonRestoredState: Bool
    /// Where the savepoint is (for messages).
    var location: String
}

/// Declarations checked against a savepoint the attempt restored from (Flink's state
/// compatibility checks and schema migration), on the backend's store.
extension KeyedStateBackend {
    /// Records a state declaration; when the attempt started from a savepoint holding this
    /// state, checks that it is compatible, and migrates its values to the declared codec.
    func declare(_ s: SavepointMetadata.State, migration: StateMigration?) throws {
        declaredStates.register(s)
        declaredHere.insert(s.id)
        guard let saved = restoredSavepoint?.states[s.id] else { return }
        restoredSavepoint?.states[s.id] = nil
        let kinds = ["value", "map"]
        guard saved.name == s.name else {
            throw StreamError.invalidJob(
                "state \"\(s.name)\" has the id of the savepoint's state \"\(saved.name)\"; rename one of them")
        }
        guard saved.kind == s.kind else {
            throw StreamError.invalidJob(
                "state \"\(s.name)\" is a \(kinds[Int(saved.kind)]) state in the savepoint and is declared as a \(kinds[Int(s.kind)]) state"
            )
        }
        guard saved.ttl == s.ttl else {
            throw StreamError.invalidJob(
                "state \"\(s.name)\" was saved \(saved.ttl ? "with" : "without") a time to live and is declared \(s.ttl ? "with" : "without") one; a time to live cannot be turned on or off across a savepoint"
            )
        }
        guard saved.keyCodec == s.keyCodec && saved.keyCodecVersion == s.keyCodecVersion else {
            throw StreamError.invalidJob(
                "map state \"\(s.name)\": its keys were saved with codec \(saved.keyCodec) version \(saved.keyCodecVersion) and are declared with \(s.keyCodec) version \(s.keyCodecVersion); map keys cannot be migrated"
            )
        }
        guard saved.valueCodec != s.valueCodec || saved.valueCodecVersion != s.valueCodecVersion else { return }
        guard let migration else {
            throw StreamError.invalidJob(
                "state \"\(s.name)\": saved with codec \(saved.valueCodec) version \(saved.valueCodecVersion), declared with \(s.valueCodec) version \(s.valueCodecVersion); give its descriptor a StateMigration, or keep the codec"
            )
        }
        try rewriteEntries(of: s.id) { value in
            if s.ttl {
                guard value.count >= TtlValue.headerSize else {
                    throw StreamError.stateCorrupt("state \"\(s.name)\": a value shorter than its time-to-live header")
                }
                return Array(value.prefix(TtlValue.headerSize))
                    + (try migration.migrate(
                        saved.valueCodec, Int(saved.valueCodecVersion), value.dropFirst(TtlValue.headerSize)))
            }
            return try migration.migrate(saved.valueCodec, Int(saved.valueCodecVersion), value[...])
        }
    }

    /// After the function's `open`: every state of the savepoint the attempt restored from
    /// must have been declared, unless non-restored state is allowed (its entries are then
    /// deleted).
    func checkRestoredStatesDeclared() throws {
        guard let restored = restoredSavepoint, !restored.states.isEmpty else { return }
        for s in restored.states.values.sorted(by: { $0.name < $1.name }) {
            guard restored.allowNonRestoredState else {
                throw StreamError.invalidJob(
                    "the savepoint \(restored.location) holds state \"\(s.name)\", which the job does not declare (in open(context:)); declare it, or allow non-restored state to drop it"
                )
            }
            try rewriteEntries(of: s.id) { _ in nil }
            restoredSavepoint?.states[s.id] = nil
        }
    }

    /// Replaces every stored value of state `id` by `transform`'s result (nil deletes it),
    /// key group by key group, written after any cut the store has yet to take.
    private func rewriteEntries(of id: UInt8, _ transform: ([UInt8]) throws -> [UInt8]?) throws {
        try flush()
        try gate.wait()
        for g in 0..<maxParallelism {
            let lower = KeyGroups.prefix(g) + [id]
            let upper =
                id == 255 ? (g + 1 < maxParallelism ? KeyGroups.prefix(g + 1) : nil) : KeyGroups.prefix(g) + [id + 1]
            var batch = WriteBatch()
            let it = try store.scan(from: lower, to: upper)
            while let (k, v) = try it.next() {
                if let nv = try transform(v) { batch.put(k, nv) } else { batch.delete(k) }
            }
            if !batch.isEmpty { try store.write(batch) }
        }
    }
}
