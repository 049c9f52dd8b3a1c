/// A whole-table bloom filter over user keys.
///
/// Layout: `ceil(bits/8)` bytes of bit array, then one byte holding the probe count `k`.
/// Probes use double hashing on the two 32-bit halves of `bloomHash`, each probe mapped to a
/// bit by a multiply-shift (`(a × N) >> 32`) rather than a division.
struct BloomFilterBuilder {
    let bitsPerKey: Int
    private(set) var hashes: [UInt64] = []

    init(bitsPerKey: Int) { self.bitsPerKey = bitsPerKey }

    mutating func add(userKeyHash: UInt64) { hashes.append(userKeyHash) }

    var isEmpty: Bool { hashes.isEmpty }

    static func probes(bitsPerKey: Int) -> Int {
        // k = ln(2) * bits/key minimises the false positive rate.
        min(30, max(1, Int(Double(bitsPerKey) * 0.69)))
    }

    /// The filter in the cache-local format: `k` probes of a key all fall in one 64-byte
    /// line, so a lookup costs one cache miss, not `k` (RocksDB's "fast local bloom" idea).
    /// Layout: `L` lines of 64 bytes, then one byte `0x80 | k`. See docs/FORMAT.md §7.5.
    func finish() -> [UInt8] {
        let k = Self.probes(bitsPerKey: bitsPerKey)
        let lines = max(1, (hashes.count * bitsPerKey + 511) / 512)
        var out = [UInt8](repeating: 0, count: lines * 64 + 1)
        out[lines * 64] = 0x80 | UInt8(k)
        out.withUnsafeMutableBufferPointer { buf in
            for h in hashes {
                let line = Int((UInt64(UInt32(truncatingIfNeeded: h >> 32)) &* UInt64(lines)) >> 32) * 64
                var a = UInt32(truncatingIfNeeded: h)
                for _ in 0..<k {
                    let bit = Int(a >> 23)  // 0..<512
                    buf[line + (bit >> 3)] |= UInt8(1) << UInt8(bit & 7)
                    a = a &* 0x9E37_79B9
                }
            }
        }
        return out
    }

    /// The filter in the original format (`k` probes spread over the whole bit array), as
    /// tables written before the cache-local format hold it; kept for tests of the reader.
    func finishSpread() -> [UInt8] {
        let k = Self.probes(bitsPerKey: bitsPerKey)
        let bits = max(64, hashes.count * bitsPerKey)
        let bytes = (bits + 7) / 8
        let nbits = UInt64(bytes * 8)
        var out = [UInt8](repeating: 0, count: bytes + 1)
        out[bytes] = UInt8(k)
        out.withUnsafeMutableBufferPointer { buf in
            for h in hashes {
                var a = UInt32(truncatingIfNeeded: h)
                let delta = UInt32(truncatingIfNeeded: h >> 32) | 1
                for _ in 0..<k {
                    let pos = (UInt64(a) &* nbits) >> 32
                    buf[Int(pos >> 3)] |= UInt8(1) << UInt8(pos & 7)
                    a = a &+ delta
                }
            }
        }
        return out
    }
}

/// Reads a filter built by `BloomFilterBuilder`.
struct BloomFilter: Sendable {
    let data: [UInt8]

    /// Returns false only when the key is certainly absent (`mayContain(bits:userKeyHash:)`).
    func mayContain(userKeyHash h: UInt64) -> Bool {
        data.withUnsafeBytes { BloomFilter.mayContain(bits: $0, userKeyHash: h) }
    }

    /// Returns false only when the key is certainly absent from the filter `bits`. Reads
    /// both formats: a last byte `0x80 | k` is the cache-local format, `k` alone the spread
    /// one; anything else (or a filter too short for its format) never rules a key out.
    static func mayContain(bits buf: UnsafeRawBufferPointer, userKeyHash h: UInt64) -> Bool {
        let n = buf.count
        guard n >= 2 else { return true }
        let tag = buf[n - 1]
        if tag & 0x80 != 0 {
            let k = Int(tag & 0x7F)
            let lines = (n - 1) / 64
            guard k >= 1, k <= 30, lines >= 1, (n - 1) % 64 == 0 else { return true }
            let line = Int((UInt64(UInt32(truncatingIfNeeded: h >> 32)) &* UInt64(lines)) >> 32) * 64
            var a = UInt32(truncatingIfNeeded: h)
            for _ in 0..<k {
                let bit = Int(a >> 23)
                if buf[line + (bit >> 3)] & (UInt8(1) << UInt8(bit & 7)) == 0 { return false }
                a = a &* 0x9E37_79B9
            }
            return true
        }
        let k = Int(tag)
        guard k >= 1, k <= 30 else { return true }  // unknown encoding: never rule a key out
        let nbits = UInt64((n - 1) * 8)
        var a = UInt32(truncatingIfNeeded: h)
        let delta = UInt32(truncatingIfNeeded: h >> 32) | 1
        for _ in 0..<k {
            let pos = (UInt64(a) &* nbits) >> 32
            if buf[Int(pos >> 3)] & (UInt8(1) << UInt8(pos & 7)) == 0 { return false }
            a = a &+ delta
        }
        return true
    }

    /// The cache line `mayContain` reads for this hash in a cache-local filter, nil for the
    /// spread format (whose probes are spread over the filter) and for malformed filters.
    static func probedLine(bits buf: UnsafeRawBufferPointer, userKeyHash h: UInt64) -> UnsafeRawPointer? {
        let n = buf.count
        guard n >= 65, let base = buf.baseAddress, buf[n - 1] & 0x80 != 0, (n - 1) % 64 == 0 else { return nil }
        let lines = (n - 1) / 64
        return base + Int((UInt64(UInt32(truncatingIfNeeded: h >> 32)) &* UInt64(lines)) >> 32) * 64
    }
}
