import Foundation
import LSMStore
import LSMStoreTesting
import Synchronization
import Testing

@testable import StreamRuntime

/// Completing a checkpoint (its job `_metadata` made durable, retention) runs off the source
/// thread: while a commit waits for the disk, the source goes on sending records.
@Suite struct CoordinatorCommitTests {
    @Test func sourceKeepsSendingWhileACheckpointCommits() throws {
        let (s, c) = (temp("state"), temp("chk"))
        defer { for d in [s, c] { try? FileManager.default.removeItem(atPath: d) } }
        let monitor = JobMonitor()
        let fs = FaultInjectingFileSystem(PosixFileSystem())
        let held = Atomic<Bool>(false)
        let advanced = Atomic<Int>(-1)
        // The first sync of a job `_metadata` waits until the source has sent 3,000 more
        // records (at most 10 s): it cannot if the sync runs on the source's own thread.
        fs.onOperation { kind, path in
            guard kind == .sync, path.contains("/job/"), path.contains("_metadata"),
                held.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
            else { return }
            let start = monitor.snapshot().recordsIn
            let deadline = Date().addingTimeInterval(10)
            while monitor.snapshot().recordsIn < start + 3_000 && Date() < deadline { usleep(1_000) }
            advanced.store(monitor.snapshot().recordsIn - start, ordering: .relaxed)
        }
        let env = StreamExecutionEnvironment(stateDirectory: s, checkpointDirectory: c)
        env.checkpointLocation = CheckpointLocation(
            description: c,
            storage: { path -> any CheckpointStorage in
                try LocalCheckpointStorage(
                    root: c + "/" + path, fileSystem: path == "job" ? fs : PosixFileSystem())
            },
            removeAll: { try? FileManager.default.removeItem(atPath: c + "/" + $0) })
        env.monitor = monitor
        env.checkpointing.trigger = .everyRecords(2_000)
        env.logger.logLevel = .critical
        let job = env.fromSource { GeneratorSource(count: 60_000) { transaction($0, seed: 5, accounts: 500) } }
            .keyBy(codec: Int64Codec()) { $0.account }
            .process { CountAndSum() }
            .sink { _ in CountingSink(counter: CountingSink<(Int64, Int64)>.Counter()) }
        let r = try env.execute(job, name: "commit off the source thread")
        let wasHeld = held.load(ordering: .relaxed)
        let sent = advanced.load(ordering: .relaxed)
        #expect(wasHeld, "a job _metadata was synced")
        #expect(sent >= 3_000, "records the source sent while the commit waited: \(sent)")
        #expect(r.checkpoints.count >= 2)
        #expect(r.stateDigest == expectedDigest(rows: 60_000, seed: 5, accounts: 500).digest)
    }
}
