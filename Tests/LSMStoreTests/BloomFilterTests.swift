import Foundation
import Testing
@testable import LSMStore

@Suite struct BloomFilterTests {
    @Test func noFalseNegativesAndAboutOnePercentFalsePositives() {
        var b = BloomFilterBuilder(bitsPerKey: 10)
        let n = 20_000
        for i in 0..<n { b.add(userKeyHash: bloomHash(bytes("present-\(i)"))) }
        let f = BloomFilter(data: b.finish())
        for i in 0..<n { #expect(f.mayContain(userKeyHash: bloomHash(bytes("present-\(i)"))), "false negative \(i)") }
        var fp = 0
        let probes = 100_000
        for i in 0..<probes where f.mayContain(userKeyHash: bloomHash(bytes("absent-\(i)"))) { fp += 1 }
        let rate = Double(fp) / Double(probes)
        // 10 bits per key with 6 probes: theory says about 0.84%.
        #expect(rate < 0.02, "false positive rate \(rate)")
        #expect(rate > 0.002, "suspiciously low false positive rate \(rate)")
    }

    @Test func hashOfSliceEqualsHashOfArray() {
        for n in 0..<40 {
            let key = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let ikey = InternalKey.make(key, 99, .value)
            let viaSlice = ikey.withUnsafeBytes { bloomHash(UnsafeRawBufferPointer(rebasing: $0[0..<(ikey.count - 8)])) }
            #expect(viaSlice == bloomHash(key), "length \(n)")
        }
    }
}
