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
