import CPlatform
import Glibc

/// A joinable POSIX thread running a closure (the store keeps Foundation out of its core).
final class BackgroundThread: @unchecked Sendable {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private var thread = pthread_t()
    private var joined = false

    /// Starts `body` on a new thread named `name` (at most 15 bytes show in `top -H`, `perf`).
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        let ctx = Unmanaged.passRetained(
            Box {
                lsm_set_thread_name(name)
                body()
            }
        ).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, ctx)
        precondition(rc == 0, "pthread_create failed: \(rc)")
    }

    func join() {
        guard !joined else { return }
        joined = true
        pthread_join(thread, nil)
    }
}

/// Sleeps the calling thread.
func sleepMicroseconds(_ us: UInt32) { usleep(us) }
