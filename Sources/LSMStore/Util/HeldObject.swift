/// An object a hot loop uses on every step (the block a table iterator reads, the table a
/// level iterator reads, the table a compaction writes): owned through one manual retain,
/// and reached without reference counting.
///
/// Reading an optional class reference from a `var` retains and releases it on every use
/// (the compiler cannot prove the call leaves the field alone). A compaction moves each
/// entry through three iterators and a writer reached that way, and those counts were
/// about a tenth of the compaction thread's samples. Noncopyable, so exactly one owner
/// releases the object: when another replaces it, or in `deinit`.
struct HeldObject<T: AnyObject>: ~Copyable {
    /// The object, retained once by `set`.
    private var object: Unmanaged<T>? = nil

    init() {}

    deinit { object?.release() }

    /// Holds `newObject` (nil: none), releasing the one held before.
    mutating func set(_ newObject: T?) {
        let old = object
        object = newObject.map { Unmanaged.passRetained($0) }
        old?.release()
    }

    /// Whether an object is held.
    var isSet: Bool { object != nil }

    /// Calls `body` with the held object, or returns nil when none is held. `body` must not
    /// replace the object (the owner's single thread never does while using it).
    @inline(__always)
    func with<R>(_ body: (T) throws -> R) rethrows -> R? {
        guard let u = object else { return nil }
        return try u._withUnsafeGuaranteedRef(body)
    }
}
