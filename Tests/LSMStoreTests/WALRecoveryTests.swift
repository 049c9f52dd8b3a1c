import Foundation
import Testing
@testable import LSMStore

/// Damage to a write-ahead log under each `WALRecoveryMode`, at random positions: the store
/// opens with every acknowledged write, or with a reported drop the mode allows, or fails
/// with corruption naming the log. Never a silent loss.
@Suite struct WALRecoveryTests {
    /// Writes `n` puts (one log record each, sizes spanning blocks) and closes the store
    /// without flushing; returns the values and the log's path and record offsets.
    static func makeStore(
        _ dir: TempDir, n: Int, seed: UInt64
    ) throws -> (values: [[UInt8]], log: String, offsets: [Int]) {
        var rng = SeededRandom(seed: seed)
        var options = Options()
        options.memtableSize = 64 << 20
        let store = try LSMStore.open(at: dir.path, options: options)
        var values: [[UInt8]] = []
        for i in 0..<n {
            let v = rng.bytes(Int.random(in: 1...(rng.chance(0.2) ? 40_000 : 300), using: &rng))
            try store.put(key(i), v, sync: true)
            values.append(v)
        }
        try store.close()
        let logs = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".log") }
            .sorted()
        let log = dir.sub(try #require(logs.last))
        var reader = LogReader(data: try PosixFileSystem().readFile(log), fileName: log, tail: .strict)
        var offsets: [Int] = []
        while let (_, offset) = try reader.next() { offsets.append(offset) }
        try #require(offsets.count == n)
        return (values, log, offsets)
    }

    static func key(_ i: Int) -> [UInt8] { Array("k\(100_000 + i)".utf8) }

    static func open(_ dir: TempDir, _ mode: WALRecoveryMode) throws -> LSMStore {
        var options = Options()
        options.walRecoveryMode = mode
        options.memtableSize = 64 << 20
        return try LSMStore.open(at: dir.path, options: options)
    }

    /// The number of leading records the store holds, checking that it holds exactly those.
    static func prefixHeld(_ store: LSMStore, _ values: [[UInt8]], seed: UInt64) throws -> Int {
        var held = 0
        while held < values.count, let v = try store.get(key(held)) {
            #expect(v == values[held], "seed \(seed): record \(held) has a wrong value")
            held += 1
        }
        for i in held..<values.count {
            #expect(try store.get(key(i)) == nil, "seed \(seed): record \(i) present after a gap")
        }
        return held
    }

    static func isCorruption(_ error: Error, naming log: String) -> Bool {
        guard case let .corruption(file, _, _)? = error as? LSMError else { return false }
        return file == log
    }

    @Test(arguments: 0..<12)
    func flippedByteIsNeverASilentLoss(round: Int) throws {
        let seed = UInt64(0xA11 + round)
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let n = Int.random(in: 2...30, using: &rng)
        let (values, log, offsets) = try Self.makeStore(dir, n: n, seed: seed)
        var data = try PosixFileSystem().readFile(log)
        let pos = Int.random(in: 0..<data.count, using: &rng)
        data[pos] ^= UInt8.random(in: 1...255, using: &rng)
        try overwriteFile(log, data)
        let damaged = offsets.lastIndex(where: { $0 <= pos }) ?? 0
        do {
            let store = try Self.open(dir, .tolerateCorruptedTail)
            defer { try? store.close() }
            let held = try Self.prefixHeld(store, values, seed: seed)
            let drops = store.stats.walDroppedAtOpen
            if held < n {
                // Only the last record may go, and only reported.
                #expect(
                    held == n - 1 && damaged == n - 1,
                    "seed \(seed): flip at \(pos) in record \(damaged) of \(n) lost records \(held)..<\(n)")
                #expect(drops.count == 1 && drops.first?.file == log, "seed \(seed): a dropped write is not reported")
            }
        } catch {
            #expect(Self.isCorruption(error, naming: log), "seed \(seed): \(error)")
        }
        // A record before the last one: damage followed by intact records is always an error.
        if damaged < n - 1 && pos >= offsets[0] + LogFormat.headerSize {
            #expect(throws: LSMError.self, "seed \(seed): flip at \(pos) in record \(damaged) of \(n) opened") {
                try Self.open(dir, .tolerateCorruptedTail).close()
            }
        }
    }

    @Test(arguments: 0..<6)
    func tornLastWriteUnderEachMode(round: Int) throws {
        let seed = UInt64(0xB22 + round)
        for mode in WALRecoveryMode.allCases {
            var rng = SeededRandom(seed: seed)
            let dir = TempDir()
            defer { dir.cleanup() }
            let n = Int.random(in: 2...20, using: &rng)
            let (values, log, offsets) = try Self.makeStore(dir, n: n, seed: seed)
            let data = try PosixFileSystem().readFile(log)
            // Cut inside the last append (a crash in the middle of it), maybe padding with
            // zeros as a file system that extended the file before writing its data would.
            let cut = Int.random(in: (offsets[n - 1] + 1)..<data.count, using: &rng)
            let zeros = rng.chance(0.5) ? Int.random(in: 1...5000, using: &rng) : 0
            try overwriteFile(log, Array(data[0..<cut]) + [UInt8](repeating: 0, count: zeros))
            if mode == .absoluteConsistency {
                #expect(throws: LSMError.self, "seed \(seed): absolute consistency accepted a torn write") {
                    try Self.open(dir, mode).close()
                }
                continue
            }
            let store = try Self.open(dir, mode)
            #expect(try Self.prefixHeld(store, values, seed: seed) == n - 1, "seed \(seed), \(mode)")
            #expect(store.stats.walDroppedAtOpen.map(\.offset) == [UInt64(offsets[n - 1])], "seed \(seed), \(mode)")
            try store.close()
            // What was dropped stays dropped: reopening finds the store as it was.
            let again = try Self.open(dir, .absoluteConsistency)
            #expect(try Self.prefixHeld(again, values, seed: seed) == n - 1)
            #expect(again.stats.walDroppedAtOpen.isEmpty)
            try again.close()
        }
    }

    @Test(arguments: 0..<6)
    func pointInTimeKeepsThePrefixBeforeDamage(round: Int) throws {
        let seed = UInt64(0xC33 + round)
        var rng = SeededRandom(seed: seed)
        let dir = TempDir()
        defer { dir.cleanup() }
        let n = Int.random(in: 3...20, using: &rng)
        let (values, log, offsets) = try Self.makeStore(dir, n: n, seed: seed)
        var data = try PosixFileSystem().readFile(log)
        // Damage the payload of a record before the last.
        let k = Int.random(in: 0..<(n - 1), using: &rng)
        let pos = Int.random(in: (offsets[k] + LogFormat.headerSize)..<offsets[k + 1], using: &rng)
        // A position in a block's trailer padding damages nothing.
        guard pos % LogFormat.blockSize <= LogFormat.blockSize - LogFormat.headerSize else { return }
        data[pos] ^= 0x20
        try overwriteFile(log, data)
        #expect(throws: LSMError.self, "seed \(seed)") { try Self.open(dir, .tolerateCorruptedTail).close() }
        let store = try Self.open(dir, .pointInTime)
        let held = try Self.prefixHeld(store, values, seed: seed)
        // Records before the damaged one's log record are kept; a record split over blocks
        // loses at most itself.
        #expect(held == k || (held < k && offsets[held] <= pos), "seed \(seed): held \(held), damaged record \(k)")
        let drops = store.stats.walDroppedAtOpen
        #expect(drops.count == 1 && drops[0].file == log && drops[0].offset <= UInt64(pos), "seed \(seed): \(drops)")
        try store.close()
    }
}
