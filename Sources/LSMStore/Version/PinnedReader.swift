import Synchronization

/// A table's reader, set at most once and then read without a lock: the reference is kept
/// as the bits of a retained pointer in an `Atomic<UInt>` (0: not set). It does what the
/// standard library's `AtomicLazyReference` does, but every access here is concrete, so a
/// point lookup pays no generic metadata lookup (which `AtomicLazyReference.load` paid on
/// every call, several percent of a lookup's time). Noncopyable, stored inline in its
/// `FileMetaData`.
struct PinnedReader: ~Copyable, @unchecked Sendable {
    private let bits = Atomic<UInt>(0)

    init() {}

    deinit {
        let b = bits.load(ordering: .acquiring)
        if b != 0, let p = UnsafeRawPointer(bitPattern: b) { Unmanaged<SSTableReader>.fromOpaque(p).release() }
    }

    /// The reader, if set.
    @inline(__always)
    func load() -> SSTableReader? {
        let b = bits.load(ordering: .acquiring)
        guard b != 0, let p = UnsafeRawPointer(bitPattern: b) else { return nil }
        return Unmanaged<SSTableReader>.fromOpaque(p).takeUnretainedValue()
    }

    /// The reader, if set, unmanaged: valid while the metadata holding this pin lives.
    @inline(__always)
    func loadUnmanaged() -> Unmanaged<SSTableReader>? {
        let b = bits.load(ordering: .acquiring)
        guard b != 0, let p = UnsafeRawPointer(bitPattern: b) else { return nil }
        return Unmanaged<SSTableReader>.fromOpaque(p)
    }

    /// Sets the reader to `reader` if it is not set yet; returns the reader that is set.
    func storeIfNil(_ reader: SSTableReader) -> SSTableReader {
        let retained = Unmanaged.passRetained(reader)
        let b = UInt(bitPattern: retained.toOpaque())
        let (exchanged, current) = bits.compareExchange(
            expected: 0, desired: b, successOrdering: .acquiringAndReleasing, failureOrdering: .acquiring)
        if exchanged { return reader }
        retained.release()
        guard let p = UnsafeRawPointer(bitPattern: current) else { return reader }
        return Unmanaged<SSTableReader>.fromOpaque(p).takeUnretainedValue()
    }
}
