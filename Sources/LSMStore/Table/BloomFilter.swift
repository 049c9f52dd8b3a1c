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

    func finish() -> [UInt8] {
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

    /// Returns false only when the key is certainly absent.
    func mayContain(userKeyHash h: UInt64) -> Bool {
        let n = data.count
        guard n >= 2 else { return true }
        let k = Int(data[n - 1])
        guard k >= 1, k <= 30 else { return true }  // unknown encoding: never rule a key out
        let nbits = UInt64((n - 1) * 8)
        return data.withUnsafeBufferPointer { buf in
            var a = UInt32(truncatingIfNeeded: h)
            let delta = UInt32(truncatingIfNeeded: h >> 32) | 1
            for _ in 0..<k {
                let pos = (UInt64(a) &* nbits) >> 32
                if buf[Int(pos >> 3)] & (UInt8(1) << UInt8(pos & 7)) == 0 { return false }
                a = a &+ delta
            }
            return true
        }
    }
}
