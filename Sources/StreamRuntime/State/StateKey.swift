import LSMStore

/// A store key as the state cache holds it: keys of up to 16 bytes (every value-state key
/// with an 8-byte key) live inline in two words, so a lookup allocates nothing and touches
/// no second object; longer keys also keep their bytes in an array. Hashes fast (two
/// multiplies), unlike `[UInt8]`, which feeds the hasher one byte at a time.
struct StateKey: Hashable {
    static let inlineCapacity = 16
    /// The first 16 bytes, zero-padded, as loaded from memory (native byte order).
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private(set) var count = 0
    /// Every byte, for keys longer than 16 bytes.
    private var long: [UInt8]? = nil

    init() {}

    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        withUnsafeMutableBytes(of: &w0) { w in
            let n = min(8, bytes.count)
            if n > 0 { w.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: n) }
        }
        withUnsafeMutableBytes(of: &w1) { w in
            let n = min(8, max(0, bytes.count - 8))
            if n > 0 { w.baseAddress!.copyMemory(from: bytes.baseAddress! + 8, byteCount: n) }
        }
        if bytes.count > StateKey.inlineCapacity { long = [UInt8](bytes) }
    }

    init(_ bytes: [UInt8]) { self = bytes.withUnsafeBytes { StateKey($0) } }

    /// Calls `body` with the key's bytes.
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let long { return try long.withUnsafeBytes(body) }
        var words = (w0, w1)
        let n = count
        return try withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }

    /// A copy of the key's bytes.
    var bytes: [UInt8] { long ?? withBytes { [UInt8]($0) } }

    /// The first and second 8 bytes as big-endian numbers: comparing them in order agrees
    /// with memcmp order on those bytes (zero padding aside, which `compare` settles).
    var order0: UInt64 { UInt64(bigEndian: w0) }
    var order1: UInt64 { UInt64(bigEndian: w1) }

    /// Positions 0..<count in the order of their keys: sorted by the first 16 bytes as two
    /// integers with a plain comparison (`key(i)` read once per position), then each run that
    /// ties there (keys longer than 16 bytes, read again) by the whole key.
    static func sortedOrder(count: Int, key: (Int) -> StateKey) -> [Int] {
        var items = [SortItem]()
        items.reserveCapacity(count)
        for i in 0..<count {
            let k = key(i)
            items.append(SortItem(o0: k.order0, o1: k.order1, index: i))
        }
        radixSort(&items)
        var start = 0
        while start < items.count {
            var end = start + 1
            while end < items.count && items[end].o0 == items[start].o0 && items[end].o1 == items[start].o1 { end += 1 }
            if end - start > 1 {
                items[start..<end].sort { StateKey.compare(key($0.index), key($1.index)) < 0 }
            }
            start = end
        }
        return items.map(\.index)
    }

    /// Sorts `items` by (o0, o1, index), as `sort()` would: a least-significant-digit radix
    /// sort, a byte per pass, that skips every byte all items share. Store keys share most
    /// of theirs (the key group's high byte, the state id, the leading zero bytes of small
    /// numeric keys), so a few passes remain, each linear, instead of n log n comparisons.
    /// It is stable and `items` arrive in index order, so equal keys stay in index order.
    static func radixSort(_ items: inout [SortItem]) {
        let n = items.count
        if n < 2 { return }
        // The byte of pass p (0...15): o1's bytes from least significant up, then o0's.
        @inline(__always) func digit(_ item: SortItem, _ p: Int) -> Int {
            Int(truncatingIfNeeded: (p < 8 ? item.o1 >> (8 * UInt64(p)) : item.o0 >> (8 * UInt64(p - 8))) & 0xFF)
        }
        // The bytes some items differ in: only their passes are counted and run.
        var and0 = UInt64.max, or0: UInt64 = 0, and1 = UInt64.max, or1: UInt64 = 0
        for item in items {
            and0 &= item.o0
            or0 |= item.o0
            and1 &= item.o1
            or1 |= item.o1
        }
        let varying0 = and0 ^ or0, varying1 = and1 ^ or1
        let varying = SortItem(o0: varying0, o1: varying1, index: 0)
        let passes = (0..<16).filter { digit(varying, $0) != 0 }
        if passes.isEmpty { return }
        var counts = [Int](repeating: 0, count: 16 * 256)
        counts.withUnsafeMutableBufferPointer { c in
            for item in items {
                for p in passes { c[p * 256 + digit(item, p)] += 1 }
            }
        }
        var other = items
        var sortedIsItems = true
        for p in passes {
            let base = p * 256
            var offsets = [Int](repeating: 0, count: 256)
            var sum = 0
            for d in 0..<256 {
                offsets[d] = sum
                sum += counts[base + d]
            }
            func scatter(_ from: UnsafeBufferPointer<SortItem>, _ to: UnsafeMutableBufferPointer<SortItem>) {
                offsets.withUnsafeMutableBufferPointer { o in
                    for item in from {
                        let d = digit(item, p)
                        to[o[d]] = item
                        o[d] += 1
                    }
                }
            }
            if sortedIsItems {
                items.withUnsafeBufferPointer { from in other.withUnsafeMutableBufferPointer { scatter(from, $0) } }
            } else {
                other.withUnsafeBufferPointer { from in items.withUnsafeMutableBufferPointer { scatter(from, $0) } }
            }
            sortedIsItems.toggle()
        }
        if !sortedIsItems { items = other }
    }

    struct SortItem: Comparable {
        var o0: UInt64
        var o1: UInt64
        var index: Int
        static func < (a: SortItem, b: SortItem) -> Bool {
            a.o0 != b.o0 ? a.o0 < b.o0 : (a.o1 != b.o1 ? a.o1 < b.o1 : a.index < b.index)
        }
    }

    /// memcmp order, then length.
    static func compare(_ a: StateKey, _ b: StateKey) -> Int {
        if a.order0 != b.order0 { return a.order0 < b.order0 ? -1 : 1 }
        if a.order1 != b.order1 { return a.order1 < b.order1 ? -1 : 1 }
        if a.long == nil && b.long == nil { return a.count == b.count ? 0 : (a.count < b.count ? -1 : 1) }
        return a.withBytes { x in b.withBytes { y in KeyOrder.compare(x, y) } }
    }

    static func == (a: StateKey, b: StateKey) -> Bool {
        a.count == b.count && a.w0 == b.w0 && a.w1 == b.w1 && a.long == b.long
    }

    /// A 64-bit hash with every bit mixed (MurmurHash3's finalizer over the two words, the
    /// length and any bytes past 16): the state cache's `SlotIndex` uses its low 32 bits.
    var hash64: UInt64 {
        var h = (w0 &* 0x9E37_79B9_7F4A_7C15) ^ (w1 &* 0xff51_afd7_ed55_8ccd) ^ UInt64(count)
        if let long {
            long.withUnsafeBytes { raw in
                var i = StateKey.inlineCapacity
                while i < raw.count {
                    h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                    i += 1
                }
            }
        }
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hash64) }
}
