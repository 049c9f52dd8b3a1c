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
