import LSMStore

/// Where a job keeps its checkpoints: a root holding `job/` (the job checkpoints) and
/// `subtasks/<name>/` (one store checkpoint storage per subtask), each an ordinary
/// `CheckpointStorage` (docs/FORMAT.md §9.1). A local folder by default
/// (`StreamExecutionEnvironment.checkpointDirectory`); any other storage, such as an S3 bucket
/// through `LSMStoreS3`, by the two operations a job needs of it.
public struct CheckpointLocation: Sendable, CustomStringConvertible {
    /// How messages name the location: a folder's path, or a URL such as `s3://bucket/prefix`.
    public let description: String
    /// The local folder, when the location is one.
    let folder: String?
    private let open: @Sendable (String) throws -> any CheckpointStorage
    private let remove: @Sendable (String) throws -> Void

    /// A location named `description` whose storage under a relative path (`job`,
    /// `subtasks/p2-s0`) `storage` opens, and whose objects under such a path `removeAll`
    /// deletes (a fresh job clears what earlier runs left).
    public init(
        description: String, storage: @escaping @Sendable (_ path: String) throws -> any CheckpointStorage,
        removeAll: @escaping @Sendable (_ path: String) throws -> Void
    ) {
        self.description = description
        self.folder = nil
        self.open = storage
        self.remove = removeAll
    }

    /// The local folder `path`.
    public static func folder(_ path: String) -> CheckpointLocation {
        CheckpointLocation(folder: path)
    }

    private init(folder path: String) {
        description = path
        folder = path
        open = { try LocalCheckpointStorage(root: path + "/" + $0) }
        remove = { try JobRunnerSupport.removeTree(path + "/" + $0) }
    }

    /// The storage under relative path `path`.
    func storage(_ path: String) throws -> any CheckpointStorage { try open(path) }

    /// Deletes everything under relative path `path`.
    func removeAll(_ path: String) throws { try remove(path) }
}
