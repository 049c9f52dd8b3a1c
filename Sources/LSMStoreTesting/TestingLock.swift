import Foundation

/// A plain lock for the test file systems (the engine's own lock is internal to it).
final class TestingLock: @unchecked Sendable {
    private let lock = NSLock()

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
