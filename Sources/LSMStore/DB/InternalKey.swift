import Glibc

/// The kind of an internal entry. Stored in the low byte of the 8-byte key trailer.
enum ValueKind: UInt8 {
    case deletion = 0
    case value = 1
}

/// The largest sequence number: 56 bits, as the trailer packs `sequence << 8 | kind`.
let maxSequenceNumber: UInt64 = (1 << 56) - 1

/// An internal key is the user key followed by an 8-byte little-endian trailer
/// `sequence << 8 | kind`. Internal keys sort by user key ascending, then by trailer
/// descending, so the newest version of a key comes first.
enum InternalKey {
    @inline(__always)
    static func make(_ userKey: [UInt8], _ sequence: UInt64, _ kind: ValueKind) -> [UInt8] {
        var k = [UInt8]()
        k.reserveCapacity(userKey.count + 8)
        k.append(contentsOf: userKey)
        putFixed64(&k, (sequence << 8) | UInt64(kind.rawValue))
        return k
    }

    /// Key used to look up `userKey` as of `sequence`: sorts before every entry of that user
    /// key with a sequence number at or below `sequence`.
    @inline(__always)
    static func lookup(_ userKey: [UInt8], _ sequence: UInt64) -> [UInt8] {
        make(userKey, sequence, .value)
    }

    /// Calls `body` with `lookup(userKey, sequence)` built in a temporary buffer (on the
    /// stack for keys up to about a kilobyte) instead of a new array.
    @inline(__always)
    static func withLookup<R>(
        _ userKey: UnsafeRawBufferPointer, _ sequence: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R
    ) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: userKey.count + 8, alignment: 8) { buffer in
            let base = buffer.baseAddress!
            if let src = userKey.baseAddress, !userKey.isEmpty { base.copyMemory(from: src, byteCount: userKey.count) }
            base.storeBytes(
                of: ((sequence << 8) | UInt64(ValueKind.value.rawValue)).littleEndian, toByteOffset: userKey.count,
                as: UInt64.self)
            return try body(UnsafeRawBufferPointer(buffer))
        }
    }

    @inline(__always)
    static func userKey(_ ikey: [UInt8]) -> [UInt8] { Array(ikey[0..<(ikey.count - 8)]) }

    @inline(__always)
    static func trailer(_ ikey: [UInt8]) -> UInt64 { decodeFixed64(ikey, ikey.count - 8) }

    /// The trailer (`sequence << 8 | kind`) of an internal key held in a buffer (at least 8 bytes).
    @inline(__always)
    static func trailer(_ ikey: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: ikey.loadUnaligned(fromByteOffset: ikey.count - 8, as: UInt64.self))
    }

    @inline(__always)
    static func sequence(_ ikey: [UInt8]) -> UInt64 { trailer(ikey) >> 8 }

    @inline(__always)
    static func kind(_ ikey: [UInt8]) -> ValueKind? { ValueKind(rawValue: UInt8(truncatingIfNeeded: trailer(ikey))) }

    /// A well-formed internal key has a trailer and a known kind.
    static func isValid(_ ikey: [UInt8]) -> Bool { ikey.count >= 8 && kind(ikey) != nil }
}

/// Compares the first `n` bytes of `a` and `b` (both hold at least `n`): -1 or 1 when they
/// differ, nil when equal. The first 8 bytes compare as one big-endian word (most keys of a
/// state store differ there, and a `memcmp` call costs more than the comparison itself).
@inline(__always)
func comparePrefix(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ n: Int) -> Int? {
    guard n > 0, let pa = a.baseAddress, let pb = b.baseAddress else { return nil }
    if n >= 8 {
        let wa = UInt64(bigEndian: pa.loadUnaligned(as: UInt64.self))
        let wb = UInt64(bigEndian: pb.loadUnaligned(as: UInt64.self))
        if wa != wb { return wa < wb ? -1 : 1 }
        if n == 8 { return nil }
        let r = memcmp(pa + 8, pb + 8, n - 8)
        return r == 0 ? nil : (r < 0 ? -1 : 1)
    }
    let r = memcmp(pa, pb, n)
    return r == 0 ? nil : (r < 0 ? -1 : 1)
}

/// Bytewise three-way comparison.
@inline(__always)
func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    #if DEBUG
        ComparisonCounter.record()
    #endif
    if let r = comparePrefix(a, b, min(a.count, b.count)) { return r }
    return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1)
}

@inline(__always)
func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareBytes(pa, pb) } }
}

/// Three-way comparison of two internal keys (see `InternalKey`).
@inline(__always)
func compareInternal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
    #if DEBUG
        ComparisonCounter.record()
    #endif
    let ua = a.count - 8, ub = b.count - 8
    if let r = comparePrefix(a, b, min(ua, ub)) { return r }
    if ua != ub { return ua < ub ? -1 : 1 }
    let ta = UInt64(littleEndian: a.loadUnaligned(fromByteOffset: ua, as: UInt64.self))
    let tb = UInt64(littleEndian: b.loadUnaligned(fromByteOffset: ub, as: UInt64.self))
    if ta == tb { return 0 }
    return ta > tb ? -1 : 1
}

@inline(__always)
func compareInternal(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in compareInternal(pa, pb) } }
}

/// Compares the user-key part of internal key `ikey` with user key `userKey`.
@inline(__always)
func compareUserKey(ofInternal ikey: [UInt8], _ userKey: [UInt8]) -> Int {
    ikey.withUnsafeBytes { pa in userKey.withUnsafeBytes { compareUserKey(ofInternal: pa, $0) } }
}

/// `compareUserKey(ofInternal:_:)` over bytes in place.
@inline(__always)
func compareUserKey(ofInternal ikey: UnsafeRawBufferPointer, _ userKey: UnsafeRawBufferPointer) -> Int {
    compareBytes(UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)]), userKey)
}

/// Whether two internal keys have the same user key.
@inline(__always)
func sameUserKey(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in
            a.count == 8 || memcmp(pa.baseAddress!, pb.baseAddress!, a.count - 8) == 0
        }
    }
}

/// Which readers can tell versions apart: the "stripe" of a sequence number is the index of
/// the oldest snapshot that sees it (`snapshots.count` for none: only readers of the latest
/// state). Two versions of a key in the same stripe are indistinguishable to every reader,
/// so only the newer one must be kept (RocksDB's rule; LevelDB keeps more, using only the
/// oldest snapshot).
@inline(__always)
func snapshotStripe(_ sequence: UInt64, _ snapshots: [UInt64]) -> Int {
    var lo = 0, hi = snapshots.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if snapshots[mid] < sequence { lo = mid + 1 } else { hi = mid }
    }
    return lo
}

/// The first 16 bytes of a user key as two big-endian words, zero padded. Keys compare as
/// their prefixes do whenever the prefixes differ (a shorter key pads with zeros, which sort
/// first, and is then a prefix of the other); equal prefixes settle nothing.
struct UserKeyPrefix: Equatable {
    var high: UInt64
    var low: UInt64
}

extension UserKeyPrefix {
    /// The prefix of the user key of internal key `ikey` (at least 8 bytes long).
    @inline(__always)
    init(ofInternalKey ikey: UnsafeRawBufferPointer) {
        let n = ikey.count - 8
        guard n > 0, let p = ikey.baseAddress else {
            self.init(high: 0, low: 0)
            return
        }
        if n >= 16 {
            self.init(
                high: UInt64(bigEndian: p.loadUnaligned(as: UInt64.self)),
                low: UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            return
        }
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { w in
            if let d = w.baseAddress { d.copyMemory(from: p, byteCount: n) }
        }
        self.init(high: UInt64(bigEndian: words.0), low: UInt64(bigEndian: words.1))
    }

    /// Whether this prefix sorts before `other` (they must differ to settle an order).
    @inline(__always)
    func precedes(_ other: UserKeyPrefix) -> Bool {
        high < other.high || (high == other.high && low < other.low)
    }
}
