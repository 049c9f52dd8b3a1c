import Foundation
import LSMStore

/// Savepoints in the coordinator: triggered by the source like checkpoints (a barrier through
/// every subtask), each subtask writes its part, and the coordinator writes `_savepoint`
/// last, once every part is in (DESIGN.md §19.13).
extension CheckpointCoordinator {
    struct SavepointInFlight {
        let id: UInt64
        let injectedAt: ContinuousClock.Instant
        let sourcePosition: [UInt8]
        let sourceRecords: Int
        let target: SavepointTarget
        let request: SavepointRequests.Request?
        let scheduledIndex: Int?
        var acks: [Ack] = []
    }

    /// Records a new savepoint as in flight; returns its id and start time (the source then
    /// sends its barriers).
    func triggerSavepoint(
        target: SavepointTarget, request: SavepointRequests.Request?, scheduledIndex: Int?, sourcePosition: [UInt8],
        sourceRecords: Int
    ) -> (id: UInt64, at: ContinuousClock.Instant) {
        let id = nextSavepointID
        nextSavepointID += 1
        let now = clock.now
        savepointsInFlight.append(
            SavepointInFlight(
                id: id, injectedAt: now, sourcePosition: sourcePosition, sourceRecords: sourceRecords, target: target,
                request: request, scheduledIndex: scheduledIndex))
        return (id, now)
    }

    /// A savepoint that could not start or complete: counted, logged, and its requester told.
    func savepointFailed(_ request: SavepointRequests.Request?, location: String, _ error: Error) {
        failedSavepoints += 1
        env.logger.warning("savepoint into \(location) failed: \(error)")
        if let request { requests?.complete(request, .failure(error)) }
    }

    func failSavepoint(_ f: SavepointInFlight, _ error: Error) {
        savepointsInFlight.removeAll { $0.id == f.id }
        savepointFailed(f.request, location: f.target.location, error)
    }

    /// Writes `_savepoint` once every part is in: the states (declared, or restored from the
    /// savepoint the job started from) with their entry counts, and the parts.
    func completeSavepoint(_ f: SavepointInFlight) {
        savepointsInFlight.removeAll { $0.id == f.id }
        do {
            let errors = f.acks.compactMap(\.error)
            guard errors.isEmpty else {
                throw StreamError.savepoint("a part failed: \(errors.joined(separator: "; "))")
            }
            var parts: [SavepointMetadata.Part] = []
            var perState: [UInt8: UInt64] = [:]
            for a in f.acks.sorted(by: { $0.subtask < $1.subtask }) {
                guard let w = a.savepoint else { throw StreamError.savepoint("subtask \(a.subtask) sent no part") }
                parts.append(w.part)
                perState.merge(w.perState, uniquingKeysWith: +)
            }
            let declared = declaredStates.all()
            var states: [SavepointMetadata.State] = []
            for id in Set(perState.keys).union(declared.keys).sorted() {
                guard var s = declared[id] ?? restoredStates[id] else {
                    throw StreamError.savepoint("the store holds entries of state id \(id), which no state declares")
                }
                s.entries = perState[id] ?? 0
                states.append(s)
            }
            let m = SavepointMetadata(
                id: f.id, createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000),
                maxParallelism: UInt32(env.maxParallelism), parallelism: UInt32(env.parallelism),
                sourceRecords: UInt64(f.sourceRecords), sourcePosition: f.sourcePosition, operatorID: operatorID,
                states: states, parts: parts)
            let bytes = m.encode()
            guard try f.target.storage.createExclusively(SavepointMetadata.fileName, bytes) else {
                throw StreamError.savepoint("\(f.target.location) already holds a savepoint")
            }
            try f.target.storage.sync("")
            var info = SavepointInfo(m, location: f.target.location, metadataBytes: bytes.count)
            info.durationMilliseconds = ms(clock.now - f.injectedAt)
            savepoints.append(info)
            env.monitor?.savepointCompleted(info)
            if let i = f.scheduledIndex { scheduledDone.insert(i) }
            env.logger.info(
                "savepoint \(f.id) completed",
                metadata: [
                    "location": "\(f.target.location)", "entries": "\(info.entries)", "bytes": "\(info.bytes)",
                    "total_ms": "\(Int(info.durationMilliseconds))",
                ])
            if let r = f.request { requests?.complete(r, .success(info)) }
        } catch {
            savepointFailed(f.request, location: f.target.location, error)
        }
    }

    /// Waits until savepoint `id` has completed or failed; returns whether it completed.
    func waitForSavepoint(_ id: UInt64, state: AttemptState, checkpointers: [Checkpointer]) -> Bool {
        while savepointsInFlight.contains(where: { $0.id == id }) && state.failed == nil {
            collectAcks(state: state, checkpointers: checkpointers, waitUntilInFlightAtMost: nil)
            Thread.sleep(forTimeInterval: 0.0005)
        }
        return savepoints.contains { $0.id == id }
    }

    /// At the end of an attempt: savepoints still in flight fail (their parts belong to it).
    func abandonSavepoints(_ cause: String) {
        for f in savepointsInFlight { failSavepoint(f, StreamError.savepoint(cause)) }
    }
}
