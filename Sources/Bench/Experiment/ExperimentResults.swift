import Foundation

/// Everything one `Bench` experiment measured: written to results.json, and the input of the
/// text summary, checkpoints.csv and report.html.
struct ExperimentResults: Codable {
    /// The settings the runs used.
    struct Configuration: Codable {
        var preset: String
        var input: String
        var rows: Int
        var accounts: Int
        var seed: UInt64
        var keyColumn: String
        var trigger: String
        var minPauseMilliseconds: Int
        var timeoutMilliseconds: Int
        var maxConcurrent: Int
        /// Consecutive checkpoint failures tolerated (nil: no limit).
        var tolerableFailedCheckpoints: Int? = nil
        /// Whether `--production` chose the checkpoint settings.
        var production = false
        var retained: Int
        var parallelism: Int
        var rateLimit: Int?
        var failAt: Int?
        var runs: Int
        var cacheMiB: Int
        /// Write-backs of dirty state between checkpoints (`--write-backs`).
        var writeBacksPerInterval = 3
        var memtableMiB: Int
        /// The S3 location of the runs on S3, when any.
        var s3Location: String?
    }

    /// Where the figures come from.
    struct Machine: Codable {
        var hostname: String
        var cpus: Int
        var memoryBytes: UInt64
        var os: String
        var startedAt: String
        var gitCommit: String?
    }

    /// One failed checkpoint of one run.
    struct Failure: Codable {
        var id: UInt64
        var category: String
        var message: String
        var triggerMilliseconds: Double
    }

    /// One checkpoint of one run.
    struct Checkpoint: Codable {
        var id: UInt64
        /// Milliseconds since the job started when the checkpoint was triggered.
        var triggerMilliseconds: Double
        var alignmentMilliseconds: Double
        var syncMilliseconds: Double
        /// The subtask's time capturing the state cache's cut between records.
        var captureMilliseconds: Double
        var asyncMilliseconds: Double
        var totalMilliseconds: Double
        /// Bytes the checkpoint wrote (its delta).
        var deltaBytes: UInt64
        /// Stored size of exactly the state changed since the previous checkpoint.
        var lowerBoundBytes: UInt64
        /// Bytes a restore of this checkpoint reads.
        var fullSizeBytes: UInt64
        var filesNew: Int
        var filesReused: Int
        /// Checkpoint storage on disk after it completed, each inode counted once.
        var storageBytesOnDisk: UInt64
        /// The physical floor: the delta written at the disk's fsync'd sequential bandwidth
        /// measured in the same run (`ExperimentResults.diskWriteBytesPerSecond`).
        var physicalFloorMilliseconds: Double
        /// Requests to the checkpoint storage (an object store's), nil for a folder.
        var requests: Requests?
        /// The checkpoint's total time over its physical floor.
        var timeOverFloor: Double { physicalFloorMilliseconds > 0 ? totalMilliseconds / physicalFloorMilliseconds : 0 }
    }

    /// Requests one checkpoint made to an object store, by kind.
    struct Requests: Codable {
        var total: Int
        var puts: Int
        var gets: Int
        var heads: Int
        var lists: Int
        var deletes: Int
        var parts: Int
        var multipartControl: Int
        var retries: Int
        var bytesSent: UInt64
        var bytesReceived: UInt64
    }

    /// One run of the job in one mode.
    struct Run: Codable {
        var mode: String
        /// Where its checkpoints went: `folder`, or `s3` (the location is in the configuration).
        var storage: String
        /// The mode, and the storage when it is not a folder: how tables and charts name the
        /// runs' series.
        var series: String { storage == "folder" ? mode : "\(mode) on S3" }
        /// 1-based, per mode.
        var index: Int
        var seconds: Double
        var recordsIn: Int
        var rowsDropped: Int
        var recordsPerSecond: Double
        var checkpoints: [Checkpoint]
        var failedCheckpoints: Int
        /// Each failed checkpoint: its id, category and message.
        var checkpointFailures: [Failure] = []
        var restarts: [String]
        var restartRestoreSeconds: [Double]
        /// Write-backs of the state cache made between checkpoints (all subtasks).
        var writeBacks: Int = 0
        /// Restore of the last retained checkpoint after the run.
        var restoreSeconds: Double
        var restoredCheckpointID: UInt64
        var stateDigest: String
        var restoredDigest: String
        var stateVerified: Bool
        var stateEntries: Int
        /// Checkpoint storage on disk at the end (each inode once).
        var storageBytesAtEnd: UInt64
    }

    var tool: String
    var version: String
    var configuration: Configuration
    var machine: Machine
    /// The disk's sequential write bandwidth with fsync, measured at the start of the run.
    var diskWriteBytesPerSecond: Double
    var runs: [Run]
}
