import LSMStore

/// The runtime's checkpoint directory (docs/FORMAT.md §9.1), spelled once: `job/` holds the
/// job checkpoints (`chk-N/_metadata`, `CheckpointLayout`), `subtasks/p{P}-s{i}/` one
/// ordinary checkpoint storage per subtask of a run at parallelism P.
enum JobLayout {
    /// The top-level folders a job owns in its checkpoint directory.
    static let folders = ["job", "subtasks"]

    /// The storage of job checkpoints, relative to the root.
    static let jobStorage = "job"

    /// The name of subtask `i`'s storage at parallelism `p`.
    static func subtaskStorageName(parallelism p: Int, subtask i: Int) -> String { "p\(p)-s\(i)" }

    /// The subtask storage called `name`, relative to the root.
    static func subtaskStorage(_ name: String) -> String { "subtasks/" + name }
}
