/// A 64-bit hash for bloom filters (a MurmurHash64A-style mix written for this project).
/// The filter format depends on it: changing it changes which keys a stored filter admits.
@inline(__always)
func bloomHash(_ p: UnsafeRawBufferPointer) -> UInt64 {
    let m: UInt64 = 0xc6a4_a793_5bd1_e995
    let r: UInt64 = 47
    let n = p.count
    var h: UInt64 = 0x9747_b28c ^ (UInt64(n) &* m)
    var i = 0
    while n - i >= 8 {
        var k = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        k = k &* m
        k ^= k >> r
        k = k &* m
        h ^= k
        h = h &* m
        i += 8
    }
    if n - i > 0 {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(p[i]) << shift
            shift += 8
            i += 1
        }
        h ^= tail
        h = h &* m
    }
    h ^= h >> r
    h = h &* m
    h ^= h >> r
    return h
}

func bloomHash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { bloomHash($0) } }

/// The order of the store's keys: bytewise, as `memcmp`, a key before every longer key it
/// begins. For embedders that sort keys the way the store does (a sorted batch for
/// `LSMStore.ingest`, for example).
public enum KeyOrder {
    /// -1, 0 or 1 as `a` sorts before, equal to, or after `b`.
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int { compareBytes(a, b) }

    /// -1, 0 or 1 as `a` sorts before, equal to, or after `b`.
    public static func compare(_ a: [UInt8], _ b: [UInt8]) -> Int { compareBytes(a, b) }
}
