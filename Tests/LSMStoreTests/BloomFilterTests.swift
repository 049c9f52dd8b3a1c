import Foundation
import Testing
@testable import LSMStore

@Suite struct BloomFilterTests {
    /// Both formats: the cache-local one tables are written in, and the spread one older
    /// tables hold.
    @Test(arguments: [true, false])
    func noFalseNegativesAndAboutOnePercentFalsePositives(cacheLocal: Bool) {
        var b = BloomFilterBuilder(bitsPerKey: 10)
        let n = 20_000
        for i in 0..<n { b.add(userKeyHash: bloomHash(bytes("present-\(i)"))) }
        let f = BloomFilter(data: cacheLocal ? b.finish() : b.finishSpread())
        for i in 0..<n { #expect(f.mayContain(userKeyHash: bloomHash(bytes("present-\(i)"))), "false negative \(i)") }
        var fp = 0
        let probes = 100_000
        for i in 0..<probes where f.mayContain(userKeyHash: bloomHash(bytes("absent-\(i)"))) { fp += 1 }
        let rate = Double(fp) / Double(probes)
        // 10 bits per key with 6 probes: theory says about 0.84% spread, a little more
        // (about 1%) when each key's probes share one 512-bit line.
        #expect(rate < 0.02, "false positive rate \(rate)")
        #expect(rate > 0.002, "suspiciously low false positive rate \(rate)")
    }

    /// A damaged tag byte or a length that is not whole lines never rules a key out.
    @Test func malformedFiltersNeverRuleKeysOut() {
        var b = BloomFilterBuilder(bitsPerKey: 10)
        for i in 0..<100 { b.add(userKeyHash: bloomHash(bytes("k\(i)"))) }
        var data = b.finish()
        var shortened = data
        shortened.remove(at: 0)
        data[data.count - 1] = 0x80  // k = 0
        for f in [BloomFilter(data: data), BloomFilter(data: shortened)] {
            for i in 0..<200 { #expect(f.mayContain(userKeyHash: bloomHash(bytes("x\(i)")))) }
        }
    }

    /// `probedLine`, what a point read prefetches, is the one line `mayContain` reads in the
    /// cache-local format: with that line cleared, a present key is ruled out, and with any
    /// other line cleared it is not. The spread format has no such line. Seeded.
    @Test func probedLineIsTheLineALookupReads() {
        let seed = testSeed()
        var rng = SeededRandom(seed: seed)
        var b = BloomFilterBuilder(bitsPerKey: 10)
        let hashes = (0..<2_000).map { _ in rng.next() }
        for h in hashes { b.add(userKeyHash: h) }
        let data = b.finish()
        let lines = (data.count - 1) / 64
        for _ in 0..<200 {
            let h = hashes[Int(rng.next() % UInt64(hashes.count))]
            data.withUnsafeBytes { bits in
                guard let line = BloomFilter.probedLine(bits: bits, userKeyHash: h), let base = bits.baseAddress else {
                    Issue.record("seed \(seed): no line for a cache-local filter")
                    return
                }
                let offset = line - base
                #expect(offset % 64 == 0 && offset / 64 < lines, "seed \(seed)")
                var cleared = data
                for i in offset..<(offset + 64) { cleared[i] = 0 }
                #expect(!BloomFilter(data: cleared).mayContain(userKeyHash: h), "seed \(seed)")
                var other = data
                let o = (offset / 64 + 1 + Int(rng.next() % UInt64(max(1, lines - 1)))) % lines * 64
                if o != offset { for i in o..<(o + 64) { other[i] = 0 } }
                #expect(BloomFilter(data: other).mayContain(userKeyHash: h), "seed \(seed)")
            }
        }
        let spread = b.finishSpread()
        spread.withUnsafeBytes { #expect(BloomFilter.probedLine(bits: $0, userKeyHash: hashes[0]) == nil) }
    }

    @Test func hashOfSliceEqualsHashOfArray() {
        for n in 0..<40 {
            let key = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let ikey = InternalKey.make(key, 99, .value)
            let viaSlice = ikey.withUnsafeBytes {
                bloomHash(UnsafeRawBufferPointer(rebasing: $0[0..<(ikey.count - 8)]))
            }
            #expect(viaSlice == bloomHash(key), "length \(n)")
        }
    }
}
