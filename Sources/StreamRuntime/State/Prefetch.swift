import CPlatform

/// Cache prefetch hints for loops that visit scattered memory in an order known ahead: the
/// state cache's slots in dirty order, a cut's entries in key order. Each step asks for the
/// memory a few steps ahead, so those misses overlap instead of being waited for one by one.
/// Hints only: any address is allowed and results never depend on them.
enum Prefetch {
    /// The line at `p`.
    @inline(__always) static func read(_ p: UnsafeRawPointer) { lsm_prefetch(p) }

    /// The line at `p`, to be written (a reference count, say).
    @inline(__always) static func write(_ p: UnsafeRawPointer) { lsm_prefetch_write(p) }

    /// The first `lines` cache lines of the storage of the array stored at `field`, found by
    /// reading the array's reference as a plain word: neither retained nor its count read,
    /// either of which would touch the storage, the very miss this is meant to hide.
    @inline(__always) static func arrayStorage(at field: UnsafeRawPointer, lines: Int, forWriting: Bool = false) {
        guard let storage = UnsafeRawPointer(bitPattern: field.load(as: UInt.self)) else { return }
        if forWriting { write(storage) } else { read(storage) }
        var i = 1
        while i < lines {
            read(storage + 64 * i)
            i += 1
        }
    }
}
