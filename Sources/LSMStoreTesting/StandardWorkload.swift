import Foundation
import LSMStore

/// The standard workload of docs/EXPERIMENT.md, generated directly (no CSV): row i has
/// `account = floor(A·u²)`, a skewed positive 2-decimal amount below 1,000,000 (about 1% of
/// rows have none and are dropped), and a strictly increasing timestamp. Deterministic for a
/// seed.
public struct StandardWorkload: Sendable {
    /// A named size of the workload.
    public struct Preset: Sendable {
        /// `large` or `small`.
        public let name: String
        /// Rows (transactions).
        public let rows: Int
        /// Accounts (keys).
        public let accounts: Int
    }

    /// 3,000,000 rows over 1,000,000 accounts (the experiment's default).
    public static let large = Preset(name: "large", rows: 3_000_000, accounts: 1_000_000)
    /// 1,000,000 rows over 100,000 accounts.
    public static let small = Preset(name: "small", rows: 1_000_000, accounts: 100_000)

    /// One transaction.
    public struct Row: Sendable {
        /// The row's index, from 0.
        public let transactionID: Int
        /// The account, in `0..<accounts`.
        public let account: Int
        /// Amount in cents; nil when the row's amount is empty.
        public let amountCents: Int64?
        /// Milliseconds since 1970, strictly increasing.
        public let ts: Int64

        /// A row with these fields.
        public init(transactionID: Int, account: Int, amountCents: Int64?, ts: Int64) {
            self.transactionID = transactionID
            self.account = account
            self.amountCents = amountCents
            self.ts = ts
        }
    }

    private var rng: SplitMix64
    private let accounts: Int
    private var index = 0
    /// The first row's timestamp.
    public static let baseTimestamp: Int64 = 1_700_000_000_000

    /// The workload for `seed` over `accounts` accounts.
    public init(seed: UInt64, accounts: Int) {
        rng = SplitMix64(seed: seed)
        self.accounts = accounts
    }

    private mutating func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }

    /// The next row.
    public mutating func next() -> Row {
        let u = uniform()
        let account = min(accounts - 1, Int(Double(accounts) * u * u))
        let v = uniform()
        let cents = min(99_999_999, max(1, Int64(pow(10.0, 1.0 + 6.99 * v * v))))
        let empty = uniform() < 0.01
        defer { index += 1 }
        return Row(
            transactionID: index, account: account, amountCents: empty ? nil : cents,
            ts: StandardWorkload.baseTimestamp + Int64(index) * 3 + Int64(rng.next() % 3))
    }
}
