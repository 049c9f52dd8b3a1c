import Synchronization

/// Whether a version is still in use, for the version set's list of live files: the version
/// holds it strongly and marks it dead in its `deinit`.
///
/// The version set used to hold its versions weakly; a weak reference gives its object a
/// side table, and every retain and release of a version then took the runtime's slow path.
/// Each point read retains the current version once; in the keyed job with a small state
/// cache the slow reference-count paths fell from 5.7% to 2.2% of the subtask thread's
/// samples without them (what remains is deallocation).
final class VersionLiveness: Sendable {
    private let alive = Atomic<Bool>(true)

    /// True until the version's `deinit`.
    var isAlive: Bool { alive.load(ordering: .acquiring) }

    /// Called once, by the version's `deinit`.
    func markDead() { alive.store(false, ordering: .releasing) }
}
