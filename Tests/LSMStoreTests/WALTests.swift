import Foundation
import Testing
@testable import LSMStore

@Suite struct WALTests {
    static func write(_ dir: TempDir, _ records: [[UInt8]]) throws -> String {
        let path = dir.sub("000003.log")
        let w = LogWriter(file: try PosixFileSystem().create(path))
        for r in records { try w.addRecord(r) }
        try w.close()
        return path
    }

    static func readAll(_ data: [UInt8]) throws -> (records: [[UInt8]], dropped: Int) {
        var r = LogReader(data: data, fileName: "test.log")
        var out: [[UInt8]] = []
        while let (rec, _) = try r.next() { out.append(rec) }
        return (out, r.droppedTail)
    }

    static func sampleRecords() -> [[UInt8]] {
        var rng = SeededRandom(seed: 9)
        // Sizes chosen to hit every fragment type and the block-trailer padding.
        let sizes = [0, 1, 100, LogFormat.blockSize - 14, 5, 100_000, 3, LogFormat.blockSize * 2, 17, 1000]
        return sizes.map { rng.bytes($0) }
    }

    @Test func recordsRoundTripAcrossBlocks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let records = Self.sampleRecords()
        let path = try Self.write(dir, records)
        let (got, dropped) = try Self.readAll(try PosixFileSystem().readFile(path))
        #expect(got == records)
        #expect(dropped == 0)
    }

    @Test func headerLayout() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = try Self.write(dir, [bytes("abc")])
        let data = try PosixFileSystem().readFile(path)
        #expect(data.count == 7 + 3)
        #expect(data[4] == 3 && data[5] == 0 && data[6] == 1)  // length 3, type FULL
        let crc = CRC32C.unmask(decodeFixed32(data, 0))
        #expect(crc == CRC32C.checksum([1] + bytes("abc")))
    }

    @Test func tornTailIsDroppedAtEveryCutPoint() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let records = [bytes("first"), [UInt8](repeating: 7, count: 40_000), bytes("last")]
        let path = try Self.write(dir, records)
        let full = try PosixFileSystem().readFile(path)
        // Cutting anywhere inside the final append loses only the records it had not finished.
        let lastStart = full.count - (7 + 4)
        for cut in stride(from: 0, to: full.count, by: 97) + [lastStart, full.count - 1] {
            let (got, dropped) = try Self.readAll(Array(full[0..<cut]))
            #expect(records.starts(with: got), "cut \(cut)")
            #expect(
                got.count == records.count || dropped > 0 || cut == 0 || cut % LogFormat.blockSize == 0
                    || got.count < records.count)
        }
        let (intact, _) = try Self.readAll(Array(full[0..<lastStart]))
        #expect(intact == Array(records[0..<2]))
    }

    @Test func garbageTailIsDropped() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let path = try Self.write(dir, [bytes("one"), bytes("two")])
        var data = try PosixFileSystem().readFile(path)
        data[data.count - 1] ^= 0xFF  // the last record's payload is damaged: a torn write
        let (got, dropped) = try Self.readAll(data)
        #expect(got == [bytes("one")])
        #expect(dropped == 10)
        // Zero-filled space after the last record (preallocation) is a tail too.
        let zeros = try Self.readAll(try PosixFileSystem().readFile(path) + [UInt8](repeating: 0, count: 100))
        #expect(zeros.records == [bytes("one"), bytes("two")])
    }

    @Test func damageBeforeTheTailIsCorruption() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var records: [[UInt8]] = []
        for i in 0..<20 { records.append([UInt8](repeating: UInt8(i), count: 5000)) }
        let path = try Self.write(dir, records)
        var data = try PosixFileSystem().readFile(path)
        data[100] ^= 0x01  // inside the first record; intact records follow in later blocks
        #expect {
            _ = try Self.readAll(data)
        } throws: { error in
            guard case let .corruption(file, offset, _) = error as? LSMError else { return false }
            return file == "test.log" && offset == 0
        }
    }

    @Test func writeBatchEncoding() {
        var b = WriteBatch()
        b.put(bytes("k1"), bytes("v1"))
        b.delete(bytes("k2"))
        b.put([], [])
        b.sequence = 77
        #expect(b.count == 3)
        var seen: [(ValueKind, [UInt8], [UInt8])] = []
        let bad = b.forEach { seen.append(($0, $1, $2)) }
        #expect(bad == nil)
        #expect(seen.count == 3 && seen[1].0 == .deletion && seen[1].1 == bytes("k2") && seen[2].1 == [])
        #expect(decodeFixed64(b.rep, 0) == 77)
        // A truncated batch reports the offset of the bad entry.
        let truncated = WriteBatch(rep: Array(b.rep.dropLast(1)))
        #expect(truncated.forEach { _, _, _ in } != nil)
    }
}
