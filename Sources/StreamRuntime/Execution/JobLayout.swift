import LSMStore

/// The runtime's checkpoint directory (docs/FORMAT.md §9.1), spelled once: `job/` holds the
/// job checkpoints (`chk-N/_metadata`, `CheckpointLayout`), `subtasks/p{P}-s{i}/` one
/// ordinary checkpoint storage per subtask of a run at parallelism P.
enum JobLayout {
    /// The top-level folders a job owns in its checkpoint directory.
    static let folders = ["job", "subtasks"]

    /// The storage of job checkpoints.
    static func jobStorage(_ root: String) -> String { root + "/job" }

    /// The name of subtask `i`'s storage at parallelism `p`.
    static func subtaskStorageName(parallelism p: Int, subtask i: Int) -> String { "p\(p)-s\(i)" }

    /// The storage folder called `name`.
    static func subtaskStorage(_ root: String, _ name: String) -> String { root + "/subtasks/" + name }
}
