import CPlatform

/// CRC32C (Castagnoli), with the SSE4.2 instruction when the CPU has it and a table-driven
/// Swift fallback otherwise. `mask`/`unmask` follow LevelDB: a CRC stored next to data that
/// itself contains CRCs is masked so that checksumming the checksum does not cancel out.
enum CRC32C {
    static let hardware: Bool = lsm_crc32c_hw_available() == 1

    /// Slicing-by-8 tables for the software path.
    static let tables: [[UInt32]] = {
        let poly: UInt32 = 0x82F6_3B78
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ poly : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 {
                let prev = t[k - 1][i]
                t[k][i] = (prev >> 8) ^ t[0][Int(prev & 0xff)]
            }
        }
        return t
    }()

    /// Extends `crc` (the CRC of the bytes so far; 0 for none) with `buffer`.
    static func extend(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return crc }
        if hardware {
            return lsm_crc32c_hw_extend(crc, base.assumingMemoryBound(to: UInt8.self), buffer.count)
        }
        return softwareExtend(crc, buffer)
    }

    static func softwareExtend(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var l = ~crc
        var i = 0
        let n = buffer.count
        let t0 = tables[0], t1 = tables[1], t2 = tables[2], t3 = tables[3]
        let t4 = tables[4], t5 = tables[5], t6 = tables[6], t7 = tables[7]
        while n - i >= 8 {
            let lo = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ l
            let hi = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
            l =
                t7[Int(lo & 0xff)] ^ t6[Int((lo >> 8) & 0xff)] ^ t5[Int((lo >> 16) & 0xff)] ^ t4[Int(lo >> 24)]
                ^ t3[Int(hi & 0xff)] ^ t2[Int((hi >> 8) & 0xff)] ^ t1[Int((hi >> 16) & 0xff)] ^ t0[Int(hi >> 24)]
            i += 8
        }
        while i < n {
            l = t0[Int((l ^ UInt32(buffer[i])) & 0xff)] ^ (l >> 8)
            i += 1
        }
        return ~l
    }

    static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 { extend(0, buffer) }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { extend(0, $0) }
    }

    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.withUnsafeBytes { extend(0, $0) }
    }

    static let maskDelta: UInt32 = 0xa282_ead8

    /// LevelDB's mask: rotate right by 15 bits and add a constant.
    static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ maskDelta }

    static func unmask(_ masked: UInt32) -> UInt32 {
        let rot = masked &- maskDelta
        return (rot >> 17) | (rot << 15)
    }
}

/// Checksums for code built on the store (the runtime's job metadata uses it).
public enum Checksum {
    /// CRC32C (Castagnoli) of `bytes`, hardware-accelerated where the CPU allows.
    public static func crc32c(_ bytes: [UInt8]) -> UInt32 { CRC32C.checksum(bytes) }

    /// The CRC32C of some bytes followed by `bytes`, given `crc`, the CRC32C of the first
    /// ones (0 for none): a checksum computed piece by piece.
    public static func crc32c(extending crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        CRC32C.extend(crc, bytes)
    }
}
