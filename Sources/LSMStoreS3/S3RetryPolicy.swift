import Foundation
import LSMStore

/// When and how long an S3 request is retried: exponential backoff with full jitter (AWS's
/// recommendation), on the failures a retry can cure: no response (a timeout, a reset or
/// refused connection), HTTP 500, 502, 503 (`SlowDown` included), 504 and 429, and S3's
/// `RequestTimeout` and `InternalError` codes. Anything else (a wrong key, a missing bucket,
/// a refused signature) fails at once.
public struct S3RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included (at least 1). Default 6.
    public var maxAttempts: Int
    /// The backoff's base: attempt n (from 1) waits a random time in `0 ..< min(maxDelay,
    /// baseDelay × 2^(n-1))`. Default 50 ms.
    public var baseDelay: Duration
    /// The longest wait between two attempts. Default 2 s.
    public var maxDelay: Duration

    /// A policy.
    public init(maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(50), maxDelay: Duration = .seconds(2)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// No retries.
    public static let none = S3RetryPolicy(maxAttempts: 1)

    /// The wait before retry `retry` (1 for the first), drawn from `rng`.
    func delay(beforeRetry retry: Int, using rng: inout SplitMix64) -> Duration {
        let cap = seconds(maxDelay)
        let ceiling = min(cap, seconds(baseDelay) * pow(2, Double(min(retry - 1, 30))))
        guard ceiling > 0 else { return .zero }
        let fraction = Double(rng.next() >> 11) / Double(1 << 53)
        return .nanoseconds(Int64(ceiling * fraction * 1e9))
    }

    /// Whether a response (or, with status 0, its absence) is worth another attempt.
    static func isRetryable(status: Int, code: String) -> Bool {
        switch status {
        case 0, 429, 500, 502, 503, 504: return true
        default: return code == "RequestTimeout" || code == "InternalError" || code == "SlowDown"
        }
    }

    private func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
