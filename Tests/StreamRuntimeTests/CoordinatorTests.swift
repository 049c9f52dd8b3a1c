import Foundation
import LSMStore
import LSMStoreTesting
import Testing
@testable import StreamRuntime

/// The checkpoint coordinator's timeouts, random failure injection, and the file and print
/// sinks.
@Suite struct CoordinatorTests {
    /// Every table sync of the stores takes 30 ms, so every checkpoint (which waits for its
    /// memtable's flush) outlives a 10 ms timeout: each is aborted and counted as failed, its
    /// parts are removed from the storages, and the job still ends in the right state.
    @Test(arguments: [CheckpointMode.full, .incremental])
    func timedOutCheckpointsAreAbortedAndCleanedUp(mode: CheckpointMode) throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.parallelism = 2
        env.checkpointing.mode = mode
        env.checkpointing.trigger = .everyRecords(1000)
        env.checkpointing.timeoutMilliseconds = 10
        // The source waits for each checkpoint to end (here: to time out), so all six are tried.
        env.checkpointing.waitForInFlightCheckpoint = true
        env.stateBackend.options.fileSystem = slowSyncFileSystem()
        env.logger.logLevel = .critical
        let job = env.fromSource { GeneratorSource(count: 6000) { transaction($0, seed: 4, accounts: 300) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process { CountAndSum() }
            .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        let r = try env.execute(job, name: "timeouts")
        #expect(r.checkpoints.isEmpty, "completed: \(r.checkpoints.map(\.id))")
        #expect(r.failedCheckpoints >= 6, "failed: \(r.failedCheckpoints)")
        #expect(r.peakConcurrentCheckpoints == 1)
        #expect(r.stateDigest == expectedDigest(rows: 6000, seed: 4, accounts: 300).digest)
        // Nothing of the aborted checkpoints is left: no job or subtask checkpoint folders,
        // no shared files.
        let fm = FileManager.default
        #expect(((try? fm.contentsOfDirectory(atPath: c + "/job")) ?? []).filter { $0.hasPrefix("chk-") }.isEmpty)
        for sub in try fm.contentsOfDirectory(atPath: c + "/subtasks") {
            let root = c + "/subtasks/" + sub
            #expect(try fm.contentsOfDirectory(atPath: root).filter { $0.hasPrefix("chk-") }.isEmpty, "\(sub)")
            let shared = (try? fm.contentsOfDirectory(atPath: root + "/shared")) ?? []
            #expect(shared.isEmpty, "\(sub): \(shared)")
        }
    }

    /// Failures at random records (at most two) restart the job from its latest checkpoint
    /// each time, and the final state is still exactly the aggregate.
    @Test func randomFailuresRestartToTheSameState() throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.parallelism = 3
        env.checkpointing.trigger = .everyRecords(700)
        env.checkpointing.waitForInFlightCheckpoint = true
        env.restartStrategy = .fixedDelay(attempts: 3, delayMilliseconds: 0)
        env.failureInjection.randomProbability = 1e-3
        env.failureInjection.maxFailures = 2
        env.failureInjection.seed = 99
        env.logger.logLevel = .critical
        let job = env.fromSource { GeneratorSource(count: 12_000) { transaction($0, seed: 8, accounts: 500) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process { CountAndSum() }
            .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        let r = try env.execute(job, name: "random failures")
        #expect(r.restarts.count == 2, "\(r.restarts.map(\.cause))")
        #expect(r.restarts.allSatisfy { $0.cause.contains("injected failure at record") })
        #expect(r.stateDigest == expectedDigest(rows: 12_000, seed: 8, accounts: 500).digest)
    }

    /// The file sink writes one line per record into one file per subtask.
    @Test func fileSinkWritesEveryRecordOnce() throws {
        let (s, c, out) = (temp("state"), temp("chk"), temp("out"))
        defer { for d in [s, c, out] { try? FileManager.default.removeItem(atPath: d) } }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.parallelism = 2
        env.logger.logLevel = .critical
        let path = out + "/sums"
        let job = env.fromSource { GeneratorSource(count: 3000) { transaction($0, seed: 6, accounts: 40) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process { CountAndSum() }
            .sink { try FileSink(path: path, subtask: $0) }
        let r = try env.execute(job, name: "file sink")
        var lines: [Substring] = []
        for i in 0..<2 {
            let text = try String(contentsOfFile: "\(path).subtask-\(i)", encoding: .utf8)
            lines += text.split(separator: "\n")
        }
        #expect(lines.count == r.recordsOut && r.recordsOut == r.recordsProcessed)
        // Each line is the (account, running sum) tuple; the largest sum per account is its total.
        var totals: [Int64: Int64] = [:]
        for t in (0..<3000).compactMap({ transaction($0, seed: 6, accounts: 40) }) {
            totals[t.account, default: 0] += t.cents
        }
        var best: [Int64: Int64] = [:]
        for line in lines {
            let parts = line.dropFirst().dropLast().split(separator: ",").map {
                Int64($0.trimmingCharacters(in: .whitespaces))
            }
            guard parts.count == 2, let a = parts[0], let v = parts[1] else {
                Issue.record("unexpected line \(line)")
                continue
            }
            best[a] = max(best[a] ?? 0, v)
        }
        #expect(best == totals)
    }

    /// The print sink's lines are Flink's: the subtask number from 1, "> ", the record.
    @Test func printSinkFormat() {
        #expect(PrintSink<(Int, String)>.line(subtask: 0, (7, "x")) == "1> (7, \"x\")")
        #expect(PrintSink<Int>.line(subtask: 3, 42) == "4> 42")
    }
}
