import Foundation
import Glibc
import LSMStore
import LSMStoreTesting
import Testing

@testable import StreamRuntime

/// Fails writes while open; opens once, when the source reaches `from`, and closes at `to`
/// or when the source starts over (a restart), so a replay runs without failures.
final class Switchboard: @unchecked Sendable {
    private let lock = NSLock()
    private var _errno: Int32? = nil
    private var highest = -1
    private var restarted = false
    var errno: Int32? { lock.withLock { _errno } }

    func source(at i: Int, from: Int, to: Int, errno code: Int32) {
        lock.withLock {
            if i <= highest { restarted = true }
            highest = max(highest, i)
            if i == from && !restarted { _errno = code }
            if i == to || restarted { _errno = nil }
        }
    }
}

/// Every table sync of a store takes 30 ms (a slow disk: checkpoints outlive short timeouts).
func slowSyncFileSystem() -> FaultInjectingFileSystem {
    let slow = FaultInjectingFileSystem(PosixFileSystem())
    slow.onOperation { kind, path in if kind == .sync && path.hasSuffix(".sst") { usleep(30_000) } }
    return slow
}

/// The job's checkpoint failure policy: failures below the tolerance are reported with their
/// categories and the job goes on; one more fails it over to the latest completed checkpoint,
/// with exactly-once state.
@Suite struct FailurePolicyTests {
    /// A job whose subtask storages fail writes with `errno` while the source is between
    /// records `from` and `to` (set from the source's generator).
    func run(
        tolerable: Int?, errno code: Int32, from: Int, to: Int, attempts: Int = 2, state s: String,
        checkpoints c: String
    ) throws -> JobResult {
        let board = Switchboard()
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.checkpointLocation = CheckpointLocation(
            description: c,
            storage: { path -> any CheckpointStorage in
                let folder = try LocalCheckpointStorage(root: c + "/" + path)
                guard path.hasPrefix("subtasks/") else { return folder }
                return FaultInjectingCheckpointStorage(folder) { name in
                    if let e = board.errno { throw LSMError.io(path: name, operation: "write", errno: e) }
                }
            },
            removeAll: { try? FileManager.default.removeItem(atPath: c + "/" + $0) })
        env.parallelism = 2
        env.checkpointing.trigger = .everyRecords(1000)
        env.checkpointing.waitForInFlightCheckpoint = true
        env.checkpointing.tolerableFailedCheckpoints = tolerable
        env.restartStrategy = .fixedDelay(attempts: attempts, delayMilliseconds: 0)
        env.stateBackend.cacheEntries = 300
        env.logger.logLevel = .critical
        let job = env.fromSource {
            GeneratorSource(count: 12_000) { i in
                board.source(at: i, from: from, to: to, errno: code)
                return transaction(i, seed: 8, accounts: 300)
            }
        }
        .keyBy(codec: Int64Codec()) { $0.account }
        .process { CountAndSum() }
        .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        return try env.execute(job, name: "failure policy")
    }

    @Test func failuresBelowTheToleranceAreReportedAndTheJobGoesOn() throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        // The checkpoints written while the source reads records 2,500 to 4,500 fail (two or
        // three, as the upload lags the source): the disk is full.
        let r = try run(tolerable: 4, errno: ENOSPC, from: 2_500, to: 4_500, state: s, checkpoints: c)
        #expect(r.restarts.isEmpty)
        #expect(
            (1...4).contains(r.failedCheckpoints), "\(r.checkpointFailures.map { ($0.id, $0.category, $0.message) })")
        #expect(r.checkpoints.count >= 8, "the job went on checkpointing")
        #expect(r.checkpointFailures.allSatisfy { $0.category == .storageFull && $0.message.contains("errno 28") })
        #expect(r.stateDigest == expectedDigest(rows: 12_000, seed: 8, accounts: 300).digest)
    }

    @Test func oneFailureMoreFailsTheJobOverToTheLatestCheckpoint() throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        // Storage I/O errors while the source reads records 2,500 to 6,500: three or more
        // checkpoints in a row fail, and the third is one more than tolerated.
        let r = try run(tolerable: 2, errno: EIO, from: 2_500, to: 6_500, state: s, checkpoints: c)
        #expect(r.restarts.count == 1)
        let cause = r.restarts.first?.cause ?? ""
        #expect(cause.contains("3 consecutive checkpoint failures, more than the 2 tolerated"), "\(cause)")
        #expect(cause.contains("storage I/O error"), "\(cause)")
        let firstFailed = try #require(r.checkpointFailures.first?.id)
        let latestBefore = r.checkpoints.map(\.id).filter { $0 < firstFailed }.max()
        #expect(
            latestBefore != nil && r.restarts.first?.restoredCheckpoint == latestBefore,
            "resumed from the latest completed checkpoint")
        #expect(r.checkpointFailures.filter { $0.category == .storageIO }.count >= 3)
        #expect(r.stateDigest == expectedDigest(rows: 12_000, seed: 8, accounts: 300).digest)
    }

    @Test func timeoutsCountAndNameTheirCategory() throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.checkpointing.trigger = .everyRecords(1000)
        env.checkpointing.timeoutMilliseconds = 10
        env.checkpointing.waitForInFlightCheckpoint = true
        env.checkpointing.tolerableFailedCheckpoints = 1
        env.restartStrategy = .fixedDelay(attempts: 1, delayMilliseconds: 0)
        env.stateBackend.options.fileSystem = slowSyncFileSystem()
        env.logger.logLevel = .critical
        let job = env.fromSource { GeneratorSource(count: 8000) { transaction($0, seed: 4, accounts: 300) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process { CountAndSum() }
            .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        do {
            _ = try env.execute(job, name: "timeouts")
            Issue.record("the job went on past the tolerance")
        } catch {
            let m = "\(error)"
            #expect(
                m.contains("2 consecutive checkpoint failures, more than the 1 tolerated") && m.contains("timeout"),
                "\(m)")
            #expect(m.contains("job failed after 2 attempt(s)"), "\(m)")
        }
    }

    @Test func theProductionPresetIsTheRecommendedOne() {
        let p = CheckpointConfig.production
        #expect(p.trigger == .intervalMilliseconds(10_000) && p.minPauseMilliseconds == 5_000)
        #expect(p.timeoutMilliseconds == 60_000 && p.maxConcurrent == 1 && p.mode == .incremental)
        #expect(p.tolerableFailedCheckpoints == 3)
    }
}
