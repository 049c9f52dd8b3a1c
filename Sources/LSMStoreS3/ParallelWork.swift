import Foundation

/// Runs `body(i)` for every i in `0..<count` on at most `width` threads of its own (not
/// Dispatch's pool, which the HTTP client's callbacks need while these threads wait), and
/// returns when all are done. The first error thrown is rethrown, after the work in flight
/// finishes; items not yet started are then skipped.
func forEachInParallel(_ count: Int, width: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    if count == 0 { return }
    let threads = max(1, min(width, count))
    if threads == 1 {
        for i in 0..<count { try body(i) }
        return
    }
    final class State: @unchecked Sendable {
        let lock = NSLock()
        var next = 0
        var error: Error? = nil
    }
    let state = State()
    let group = DispatchGroup()
    for _ in 0..<threads {
        group.enter()
        let t = Thread {
            defer { group.leave() }
            while true {
                state.lock.lock()
                guard state.error == nil, state.next < count else {
                    state.lock.unlock()
                    return
                }
                let i = state.next
                state.next += 1
                state.lock.unlock()
                do {
                    try body(i)
                } catch {
                    state.lock.lock()
                    if state.error == nil { state.error = error }
                    state.lock.unlock()
                }
            }
        }
        t.name = "s3-transfer"
        t.start()
    }
    group.wait()
    if let e = state.error { throw e }
}
