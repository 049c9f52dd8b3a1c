import Foundation
import StreamRuntime

/// The workload for state TTL: accounts go idle. The standard rows, with each row's account
/// moved into a window of a tenth of the accounts that drifts from the first accounts to the
/// last over the run, so an account is active for about a tenth of the run and then never
/// seen again. With a time to live, its state expires some time after its last row.
enum IdleAccounts {
    /// The rows with their accounts moved into the drifting window.
    static func remap(_ rows: [Workload.Row], accounts: Int) -> [Workload.Row] {
        let window = max(1, accounts / 10)
        let drift = Double(accounts - window) / Double(max(1, rows.count))
        return rows.enumerated().map { i, r in
            Workload.Row(
                transactionID: r.transactionID, account: Int(Double(i) * drift) + r.account % window,
                amountCents: r.amountCents, ts: r.ts)
        }
    }

    /// Simulated processing time: 3 ms per record from the first row's timestamp (the
    /// standard workload's own pace), so runs are reproducible whatever the machine's speed.
    static let simulatedTime = TtlTimeProvider.simulated(
        start: Workload.baseTimestamp, millisecondsPerRecord: 3)

    /// A table of the run's state at about ten of its checkpoints: accounts with state
    /// (live: written within the time to live before the barrier, computed from the rows, or
    /// every account written so far for the run without TTL), the state's size in the
    /// checkpoint (every table the checkpoint references: the store's tables on disk at its
    /// barrier) and the bytes it wrote.
    static func printStateOverTime(
        _ r: JobResult, ttlMilliseconds: Int64, applied: Bool, rows: [Workload.Row], simulated: Bool
    ) {
        print("  state over time, \(applied ? "with" : "without") TTL:")
        print("    checkpoint   records   accounts with state   checkpointed state MB   written MB")
        // Positions count the records the source emitted (rows with an amount), from 1.
        var lastWrite: [Int: Int] = [:]
        var position = 0
        var next = 0
        let shown = Set(stride(from: 0, to: r.checkpoints.count, by: max(1, r.checkpoints.count / 10)))
            .union([r.checkpoints.count - 1])
        for (k, c) in r.checkpoints.enumerated() {
            while next < rows.count && position < c.sourceRecords {
                if rows[next].amountCents != nil {
                    position += 1
                    lastWrite[rows[next].account] = position
                }
                next += 1
            }
            guard shown.contains(k) else { continue }
            let live: String
            if !applied {
                live = "\(lastWrite.count)"
            } else if simulated {
                // Expired when last write time + TTL <= barrier time (3 ms per record).
                let barrier = Int64(3 * c.sourceRecords)
                live = "\(lastWrite.values.filter { Int64(3 * $0) + ttlMilliseconds > barrier }.count)"
            } else {
                live = "n/a (wall clock)"
            }
            print(
                String(
                    format: "    %10llu %9d %21@ %23.1f %12.1f", c.id, c.sourceRecords, live, Double(c.fullSize) / 1e6,
                    Double(c.bytesWritten) / 1e6))
        }
        print("    state entries at the end (live): \(r.stateEntries)")
    }
}
