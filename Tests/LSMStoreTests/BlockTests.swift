import Foundation
import Testing
@testable import LSMStore

@Suite struct BlockTests {
    static func keys(_ n: Int) -> [[UInt8]] {
        (0..<n).map { InternalKey.make(bytes("prefix-shared-\(100_000 + $0)"), UInt64($0), .value) }
    }

    static func parse(_ raw: [UInt8]) throws -> Block {
        try Block(raw.withUnsafeBytes { BlockContents.make($0) }, fileName: "test", fileOffset: 0)
    }

    @Test(arguments: [1, 2, 16])
    func buildAndReadBack(restartInterval: Int) throws {
        var b = BlockBuilder(restartInterval: restartInterval)
        let ks = Self.keys(300)
        for (i, k) in ks.enumerated() { b.add(k, bytes("v\(i)")) }
        let raw = b.finish()
        let block = try Self.parse(raw)
        #expect(block.numRestarts == (300 + restartInterval - 1) / restartInterval)
        let all = try block.allEntries()
        #expect(all.map(\.key) == ks)
        #expect(all[123].value == bytes("v123"))
        let it = block.makeIterator()
        for i in stride(from: 0, to: 300, by: 37) {
            try it.seek(ks[i])
            #expect(it.isValid && it.key == ks[i])
        }
        try it.seek(InternalKey.make(bytes("zzz"), 0, .value))
        #expect(!it.isValid)
        try it.seek(InternalKey.make(bytes("a"), 0, .value))
        #expect(it.key == ks[0])
    }

    /// One builder reused for many blocks (as a table writer does), of random keys whose
    /// shared prefixes grow and shrink, each block stored after other bytes with
    /// `appendStoredBlock`: every block reads back whole, its stored form equals
    /// `encodeBlockForStorage`'s, its checksum covers exactly its own bytes and, when
    /// compressed, it decompresses to the raw block. Prints its seed (`LSM_SEED` replays one).
    @Test(arguments: [Compression.none, .lz4])
    func reusedBuilderAndStoredBlocks(compression: Compression) throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        var b = BlockBuilder(restartInterval: Int(rng.next() % 16) + 1)
        var file: [UInt8] = rng.bytes(Int(rng.next() % 100))
        var scratch: [UInt8] = []
        for _ in 0..<20 {
            var keys = Set<[UInt8]>()
            for _ in 0..<Int(rng.next() % 200) {
                keys.insert((0..<Int(rng.next() % 30)).map { _ in UInt8(truncatingIfNeeded: rng.next() % 3) })
            }
            // Internal keys of distinct user keys, in order (one sequence number each).
            let entries = keys.sorted { $0.lexicographicallyPrecedes($1) }.enumerated().map { i, k in
                (
                    InternalKey.make(k, UInt64(i), .value),
                    rng.next() % 2 == 0
                        ? rng.bytes(Int(rng.next() % 300)) : [UInt8](repeating: 7, count: Int(rng.next() % 300))
                )
            }
            for (k, v) in entries { b.add(k, v) }
            var raw: [UInt8] = []
            let start = file.count
            let type = b.finish { view in
                raw = Array(view)
                return appendStoredBlock(view, compression: compression, to: &file, scratch: &scratch)
            }
            let all = try Self.parse(raw).allEntries()
            #expect(all.map(\.key) == entries.map(\.0), "seed \(seed)")
            #expect(all.map(\.value) == entries.map(\.1), "seed \(seed)")
            let stored = Array(file[start...])
            let expected = encodeBlockForStorage(raw, compression: compression)
            #expect(stored == expected.bytes && type == expected.type, "seed \(seed)")
            let n = stored.count - blockTrailerSize
            #expect(stored[n] == type.rawValue, "seed \(seed)")
            let crc = stored.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0...n])) }
            let recorded = stored.withUnsafeBytes { loadFixed32($0.baseAddress!, n + 1) }
            #expect(CRC32C.unmask(recorded) == crc, "seed \(seed)")
            if type == .lz4 {
                let (rawLength, body) = stored.withUnsafeBytes { p -> (UInt64?, [UInt8]) in
                    var pos = 0
                    let v = decodeVarint64(p.baseAddress!, &pos, n)
                    return (v, Array(stored[pos..<n]))
                }
                #expect(rawLength == UInt64(raw.count), "seed \(seed)")
                #expect(LZ4.decompress(body, outputSize: raw.count) == raw, "seed \(seed)")
            } else {
                #expect(Array(stored[0..<n]) == raw, "seed \(seed)")
            }
        }
    }

    @Test func prefixCompressionShrinksSharedKeys() {
        var b = BlockBuilder(restartInterval: 16)
        let ks = Self.keys(100)
        for k in ks { b.add(k, []) }
        let raw = b.finish()
        #expect(raw.count < ks.reduce(0) { $0 + $1.count } / 2)
    }

    @Test func emptyBlock() throws {
        var b = BlockBuilder(restartInterval: 16)
        let block = try Self.parse(b.finish())
        let it = block.makeIterator()
        try it.seekToFirst()
        #expect(!it.isValid)
    }

    @Test func corruptBlocksThrowInsteadOfTrapping() throws {
        var b = BlockBuilder(restartInterval: 4)
        for (i, k) in Self.keys(50).enumerated() { b.add(k, bytes("value\(i)")) }
        let raw = b.finish()
        #expect(throws: LSMError.self) { try Self.parse([1, 2]) }
        var badCount = raw
        for i in (raw.count - 4)..<raw.count { badCount[i] = 0xFF }  // more restarts than bytes
        #expect(throws: LSMError.self) { try Self.parse(badCount) }
        var rng = SeededRandom(seed: 5)
        for _ in 0..<500 {
            var bad = raw
            for _ in 0..<3 { bad[Int.random(in: 0..<bad.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            guard let block = try? Self.parse(bad) else { continue }
            let it = block.makeIterator()
            do {
                try it.seekToFirst()
                var n = 0
                while it.isValid && n < 10_000 {
                    _ = it.value
                    try it.next()
                    n += 1
                }
                try it.seek(Self.keys(50)[25])
            } catch let e as LSMError {
                #expect(e.isCorruption)
            }
        }
    }
}
