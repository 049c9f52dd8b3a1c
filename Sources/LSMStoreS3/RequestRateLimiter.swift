import Foundation

/// Spaces requests at most `perSecond` a second, across every thread using it (a token
/// bucket holding one second's worth): a client can stay under a service's request-rate
/// limits (S3 answers `SlowDown` above about 3,500 writes a second per prefix) or a budget.
final class RequestRateLimiter: @unchecked Sendable {
    private let lock = NSLock()
    private let interval: Double
    private let burst: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant

    init(perSecond: Double) {
        interval = 1 / max(perSecond, 0.001)
        burst = max(1, perSecond)
        tokens = burst
        last = .now
    }

    /// Waits until a request may be sent, and takes its token.
    func acquire() {
        while true {
            lock.lock()
            let now = ContinuousClock.now
            let elapsed = now - last
            last = now
            tokens = min(
                burst,
                tokens + (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) / interval
            )
            if tokens >= 1 {
                tokens -= 1
                lock.unlock()
                return
            }
            let wait = (1 - tokens) * interval
            lock.unlock()
            Thread.sleep(forTimeInterval: wait)
        }
    }
}
