import CLZ4
import Testing
@testable import LSMStore

@Suite struct LZ4Tests {
    @Test func roundTrip() {
        var rng = SeededRandom(seed: 3)
        for n in [0, 1, 15, 100, 4096, 100_000] {
            let compressible = [UInt8]((0..<n).map { UInt8(($0 / 7) % 13) })
            let random = rng.bytes(n)
            for input in [compressible, random] {
                guard let c = LZ4.compress(input) else {
                    Issue.record("compress failed for \(n) bytes")
                    continue
                }
                #expect(LZ4.decompress(c, outputSize: input.count) == input)
            }
        }
    }

    /// Blocks written by hand from the LZ4 block format specification (not produced by us).
    @Test func decodesHandWrittenBlocks() {
        // Token 0x50: 5 literals, no match (last sequence).
        #expect(LZ4.decompress([0x50] + bytes("hello"), outputSize: 5) == bytes("hello"))
        // "abcd" then a match of offset 4, length 4+4=8 ("abcdabcd"), then 5 final literals.
        // Token 0x44: 4 literals, match length code 4 (+4 = 8); offset 0x0004 LE;
        // then token 0x50 with 5 literals "XYZWV".
        let block: [UInt8] = [0x44] + bytes("abcd") + [0x04, 0x00] + [0x50] + bytes("XYZWV")
        #expect(LZ4.decompress(block, outputSize: 17) == bytes("abcdabcdabcdXYZWV"))
        // Overlapping match: 1 literal "a", offset 1, match length 4+4 → "aaaaaaaaa", then 5 literals.
        let rle: [UInt8] = [0x14, 0x61, 0x01, 0x00, 0x50] + bytes("bbbbb")
        #expect(LZ4.decompress(rle, outputSize: 14) == bytes("aaaaaaaaabbbbb"))
    }

    /// Data compressed by liblz4's accelerated encoder (acceleration 9), a different code
    /// path from the one the store writes with, decodes with our wrapper.
    @Test func decodesLiblz4HighCompressionOutput() {
        let input = [UInt8]((0..<50_000).map { UInt8(($0 * 7 / 5) % 61) })
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let n = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_fast(
                    src.baseAddress!.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(input.count), Int32(bound), 9)
            }
        }
        #expect(n > 0)
        #expect(LZ4.decompress(Array(out[0..<Int(n)]), outputSize: input.count) == input)
    }

    @Test func malformedInputIsRejectedNotTrapped() {
        var rng = SeededRandom(seed: 11)
        let good = LZ4.compress([UInt8]((0..<4096).map { UInt8($0 % 17) }))!
        #expect(LZ4.decompress(good, outputSize: 4095) == nil)  // wrong size
        #expect(LZ4.decompress(Array(good.dropLast(3)), outputSize: 4096) == nil)  // truncated
        for _ in 0..<200 {
            var bad = good
            bad[Int.random(in: 0..<bad.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            _ = LZ4.decompress(bad, outputSize: 4096)  // must not trap
        }
    }
}
