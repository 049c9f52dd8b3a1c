import Testing
@testable import LSMStore

@Suite struct CodingTests {
    @Test func varintRoundTrip() {
        let values: [UInt64] = [0, 1, 127, 128, 255, 300, 16383, 16384, 1 << 32, UInt64.max - 1, UInt64.max]
        var buf = [UInt8]()
        for v in values { putVarint64(&buf, v) }
        var r = ByteReader(buf)
        for v in values {
            #expect(r.readVarint64() == v)
        }
        #expect(r.isAtEnd)
        #expect(varintLength(127) == 1 && varintLength(128) == 2 && varintLength(UInt64.max) == 10)
    }

    @Test func varintEncodingIsLittleEndianBase128() {
        var buf = [UInt8]()
        putVarint64(&buf, 300)
        #expect(buf == [0xAC, 0x02])
    }

    @Test func truncatedAndOverlongVarintsAreRejected() {
        var r = ByteReader([0x80, 0x80])
        #expect(r.readVarint64() == nil)
        var r2 = ByteReader([UInt8](repeating: 0xFF, count: 11))
        #expect(r2.readVarint64() == nil)
        var r3 = ByteReader([0xFF, 0xFF, 0xFF, 0xFF, 0x1F])  // > UInt32.max
        #expect(r3.readVarint32() == nil)
    }

    @Test func fixedWidthIsLittleEndian() {
        var buf = [UInt8]()
        putFixed32(&buf, 0x0403_0201)
        putFixed64(&buf, 0x0807_0605_0403_0201)
        #expect(buf == [1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(decodeFixed32(buf, 0) == 0x0403_0201)
        #expect(decodeFixed64(buf, 4) == 0x0807_0605_0403_0201)
    }

    @Test func byteReaderNeverReadsPastTheEnd() {
        var buf = [UInt8]()
        putLengthPrefixed(&buf, [1, 2, 3])
        var r = ByteReader(Array(buf.dropLast()))
        #expect(r.readLengthPrefixed() == nil)
        var r2 = ByteReader([1, 2, 3])
        #expect(r2.readFixed32() == nil)
        #expect(r2.readBytes(4) == nil)
        #expect(r2.readBytes(3) == [1, 2, 3])
        #expect(r2.readByte() == nil)
    }

    @Test func internalKeyOrdering() {
        let a1 = InternalKey.make(bytes("a"), 1, .value)
        let a9 = InternalKey.make(bytes("a"), 9, .value)
        let a9d = InternalKey.make(bytes("a"), 9, .deletion)
        let b1 = InternalKey.make(bytes("b"), 1, .value)
        let empty = InternalKey.make([], 5, .value)
        #expect(compareInternal(a9, a1) < 0)  // newer first
        #expect(compareInternal(a9, a9d) < 0)  // value kind sorts before deletion at equal sequence
        #expect(compareInternal(a1, b1) < 0)
        #expect(compareInternal(empty, a1) < 0)
        #expect(InternalKey.sequence(a9) == 9 && InternalKey.kind(a9d) == .deletion)
        #expect(InternalKey.userKey(a9) == bytes("a"))
    }
}

@Suite struct CRC32CTests {
    // Vectors from RFC 3720 (iSCSI), appendix B.4, and the common "123456789" check value.
    @Test func publishedVectors() {
        #expect(CRC32C.checksum(bytes("123456789")) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func hardwareAndSoftwareAgree() {
        var rng = SeededRandom(seed: 7)
        for n in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4096 + 3] {
            let data = rng.bytes(n)
            let sw = data.withUnsafeBytes { CRC32C.softwareExtend(0, $0) }
            #expect(CRC32C.checksum(data) == sw, "length \(n)")
            // Extending in two pieces equals one pass.
            let split = n / 3
            let two = data.withUnsafeBytes {
                CRC32C.extend(
                    CRC32C.extend(0, UnsafeRawBufferPointer(rebasing: $0[0..<split])),
                    UnsafeRawBufferPointer(rebasing: $0[split...]))
            }
            #expect(two == sw)
        }
    }

    /// The hardware path joins three streams above 768 bytes (and 24 KiB): random lengths
    /// around and far past those cut points, at random offsets (unaligned starts) and split
    /// at a random point, against the table-driven software path.
    @Test func hardwareAgreesOnRandomLengthsAndSplits() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let data = rng.bytes(200_000)
        data.withUnsafeBytes { all in
            for _ in 0..<400 {
                let n: Int
                switch rng.next() % 3 {
                case 0: n = Int(rng.next() % 2048)
                case 1: n = 3 * 8192 - 64 + Int(rng.next() % 128)
                default: n = Int(rng.next() % 190_000)
                }
                let offset = Int(rng.next() % 64)
                let piece = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)])
                let start = UInt32(truncatingIfNeeded: rng.next())
                let expected = CRC32C.softwareExtend(start, piece)
                let split = n == 0 ? 0 : Int(rng.next() % UInt64(n))
                let joined = CRC32C.extend(
                    CRC32C.extend(start, UnsafeRawBufferPointer(rebasing: piece[..<split])),
                    UnsafeRawBufferPointer(rebasing: piece[split...]))
                #expect(CRC32C.extend(start, piece) == expected, "seed \(seed): length \(n), offset \(offset)")
                #expect(joined == expected, "seed \(seed): length \(n), offset \(offset), split \(split)")
            }
        }
    }

    @Test func maskRoundTripsAndDiffers() {
        for c: UInt32 in [0, 1, 0xE306_9283, UInt32.max] {
            #expect(CRC32C.unmask(CRC32C.mask(c)) == c)
            #expect(CRC32C.mask(c) != c)
        }
    }
}
