import Foundation

/// One run of the read-modify-write workload, by either system. The RocksDB harness
/// (`tools/rocksdb-rmw/rmw.c`) prints exactly this object as one JSON line, so both sides
/// are read and reported by the same code.
struct RMWResult: Codable {
    struct Checkpoint: Codable {
        var id: Int
        var atOp: Int
        var ms: Double
        var bytes: Int
        var filesCopied: Int
        var filesReused: Int
        enum CodingKeys: String, CodingKey {
            case id, ms, bytes
            case atOp = "at_op", filesCopied = "files_copied", filesReused = "files_reused"
        }
    }

    struct Restore: Codable {
        /// Restore into a new directory and open (nil without checkpoints: the live store is read).
        var ms: Double?
        /// Reading every account back and checking it against the model.
        var readMs: Double?
        var keysFound: Int
        var mismatches: Int
        /// FNV-1a-64 of the sorted concatenation of key || value, 16 hex digits.
        var digest: String
        var stateBytes: Int
        var countSum: Int
        enum CodingKeys: String, CodingKey {
            case ms, mismatches, digest
            case readMs = "read_ms", keysFound = "keys_found", stateBytes = "state_bytes", countSum = "count_sum"
        }
    }

    struct ReferenceChecks: Codable {
        var firstFive: Bool?
        var distinct: Bool?
        var digest: Bool?
        enum CodingKeys: String, CodingKey {
            case distinct, digest
            case firstFive = "first_five"
        }
    }

    var system: String
    var version: String
    var accounts: Int
    var ops: Int
    var checkpointEvery: Int
    var zipf: Double
    var mode: String
    var memtableMb: Int
    var compaction: String
    /// Operations per second of the loop without the time spent in checkpoints.
    var rmwOpsPerS: Double?
    /// Gets (puts) per second of the time spent inside the get (put) calls.
    var getPerS: Double?
    var putPerS: Double?
    var loopSeconds: Double
    var checkpointSeconds: Double
    var checkpoints: [Checkpoint]
    var restore: Restore?
    var distinctAfterEach100k: [Int]
    var firstFive: [[Int]]
    var referenceChecks: ReferenceChecks

    enum CodingKeys: String, CodingKey {
        case system, version, accounts, ops, zipf, mode, compaction, checkpoints, restore
        case checkpointEvery = "checkpoint_every", memtableMb = "memtable_mb", rmwOpsPerS = "rmw_ops_per_s"
        case getPerS = "get_per_s", putPerS = "put_per_s", loopSeconds = "loop_seconds"
        case checkpointSeconds = "checkpoint_seconds", distinctAfterEach100k = "distinct_after_each_100k"
        case firstFive = "first_five", referenceChecks = "reference_checks"
    }

    static let decoder = JSONDecoder()

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Whether every check that applies passed: reference values, read-back, digest.
    var passed: Bool {
        let refs = [referenceChecks.firstFive, referenceChecks.distinct, referenceChecks.digest].allSatisfy {
            $0 != false
        }
        return refs && (restore.map { $0.mismatches == 0 } ?? true)
    }

    var medianCheckpointMs: Double { median(checkpoints.map(\.ms)) }
    var medianCheckpointBytes: Double { median(checkpoints.map { Double($0.bytes) }) }
}
