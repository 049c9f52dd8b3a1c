import Foundation
import StreamRuntime

/// JSON in the shape of Flink's REST API (`/jobs/overview`, `/jobs/:jobid/checkpoints`), so
/// tools written for Flink's checkpoint statistics can read it. Figures Flink does not have
/// (the lower bound, the cut capture, the failure category) are extra fields.
enum FlinkREST {
    static func millis(_ d: Date?) -> Int64 { d.map { Int64($0.timeIntervalSince1970 * 1000) } ?? -1 }

    /// `/jobs/overview`: every job, newest first.
    static func overview(_ jobs: [JobSnapshot]) -> [String: Any] {
        ["jobs": jobs.map(job)]
    }

    static func job(_ s: JobSnapshot) -> [String: Any] {
        let start = millis(s.startedAt)
        let end = millis(s.endedAt)
        let duration = s.startedAt.map { Int64(((s.endedAt ?? Date()).timeIntervalSince($0)) * 1000) } ?? 0
        let p = s.parallelism
        let running = s.status == .running ? p + 1 : 0
        return [
            "jid": s.jobID, "name": s.name, "state": s.status.rawValue, "start-time": start, "end-time": end,
            "duration": duration, "last-modification": end > 0 ? end : millis(Date()),
            "tasks": [
                "total": p + 1, "running": running,
                "finished": s.status == .finished ? p + 1 : 0, "failed": s.status == .failed ? p + 1 : 0,
                "canceled": 0, "created": 0, "scheduled": 0, "deploying": 0, "reconciling": 0,
                "initializing": 0,
            ] as [String: Any],
            "records-in": s.recordsIn, "records-out": s.recordsOut,
            "records-in-per-second": s.recordsInPerSecond, "restarts": s.restarts.count,
        ] as [String: Any]
    }

    static func stat(_ values: [Double]) -> [String: Any] {
        guard !values.isEmpty else { return ["min": 0, "max": 0, "avg": 0] }
        return [
            "min": Int64(values.min() ?? 0), "max": Int64(values.max() ?? 0),
            "avg": Int64(values.reduce(0, +) / Double(values.count)),
        ]
    }

    static func completed(_ c: JobCheckpointStats, _ s: JobSnapshot) -> [String: Any] {
        let trigger = millis(s.startedAt) + Int64(c.triggerMilliseconds)
        return [
            "className": "completed", "id": c.id, "status": "COMPLETED", "is_savepoint": false,
            "checkpoint_type": c.mode == .full ? "FULL_CHECKPOINT" : "CHECKPOINT",
            "trigger_timestamp": trigger, "latest_ack_timestamp": trigger + Int64(c.totalMilliseconds),
            "end_to_end_duration": Int64(c.totalMilliseconds), "state_size": c.fullSize,
            "checkpointed_size": c.bytesWritten, "lower_bound_size": c.lowerBoundBytes,
            "sync_duration": c.syncMilliseconds, "async_duration": c.asyncMilliseconds,
            "alignment_duration": c.alignmentMilliseconds, "capture_duration": c.captureMilliseconds,
            "num_subtasks": s.parallelism, "num_acknowledged_subtasks": c.subtasks.count,
            "source_records": c.sourceRecords,
            "subtasks": c.subtasks.enumerated().map { i, r in
                [
                    "index": i, "sync_duration": Self.ms(r.syncDuration), "async_duration": Self.ms(r.asyncDuration),
                    "state_size": r.fullSize, "checkpointed_size": r.bytesWritten, "files_new": r.filesNew,
                    "files_reused": r.filesReused,
                ] as [String: Any]
            },
        ]
    }

    /// `d` in milliseconds.
    static func ms(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }

    static func failed(_ f: CheckpointFailure, _ s: JobSnapshot) -> [String: Any] {
        let trigger = millis(s.startedAt) + Int64(f.triggerMilliseconds)
        return [
            "className": "failed", "id": f.id, "status": "FAILED", "is_savepoint": false,
            "checkpoint_type": s.mode == .full ? "FULL_CHECKPOINT" : "CHECKPOINT", "trigger_timestamp": trigger,
            "failure_timestamp": millis(s.startedAt) + Int64(f.failedMilliseconds),
            "end_to_end_duration": Int64(f.failedMilliseconds - f.triggerMilliseconds),
            "failure_message": f.message, "failure_category": f.category.rawValue, "num_subtasks": s.parallelism,
        ]
    }

    static func savepoint(_ sp: SavepointInfo) -> [String: Any] {
        [
            "className": "completed", "id": sp.id, "status": "COMPLETED", "is_savepoint": true,
            "checkpoint_type": "SAVEPOINT", "external_path": sp.location, "trigger_timestamp": sp.createdAtMillis,
            "end_to_end_duration": Int64(sp.durationMilliseconds), "state_size": sp.bytes,
            "checkpointed_size": sp.bytes, "num_subtasks": sp.parallelism,
            "num_acknowledged_subtasks": sp.parts.count, "source_records": sp.sourceRecords,
        ]
    }

    /// `/jobs/:jobid/checkpoints`: counts, summary (min/avg/max), latest completed, failed and
    /// savepoint, and the history (newest first) with each checkpoint's subtasks.
    static func checkpoints(_ s: JobSnapshot) -> [String: Any] {
        let done = s.completedCheckpoints
        let failures = s.failedCheckpoints
        var history: [(Double, [String: Any])] = done.map { ($0.triggerMilliseconds, completed($0, s)) }
        history += failures.map { ($0.triggerMilliseconds, failed($0, s)) }
        history.sort { $0.0 > $1.0 }
        let null = NSNull()
        return [
            "counts": [
                "restored": s.restarts.count, "total": done.count + failures.count + s.checkpointsInProgress,
                "in_progress": s.checkpointsInProgress, "completed": done.count, "failed": failures.count,
            ],
            "summary": [
                "state_size": stat(done.map { Double($0.fullSize) }),
                "checkpointed_size": stat(done.map { Double($0.bytesWritten) }),
                "end_to_end_duration": stat(done.map(\.totalMilliseconds)),
                "sync_duration": stat(done.map(\.syncMilliseconds)),
                "async_duration": stat(done.map(\.asyncMilliseconds)),
                "alignment_duration": stat(done.map(\.alignmentMilliseconds)),
                "lower_bound_size": stat(done.map { Double($0.lowerBoundBytes) }),
            ],
            "latest": [
                "completed": done.last.map { completed($0, s) } ?? null,
                "savepoint": s.savepoints.last.map { savepoint($0) } ?? null,
                "failed": failures.last.map { failed($0, s) } ?? null,
                "restored": null,
            ] as [String: Any],
            "history": history.map(\.1),
        ]
    }

    /// Serialized with sorted keys (throws for a figure JSON cannot hold, such as NaN).
    static func json(_ object: Any) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }
}
