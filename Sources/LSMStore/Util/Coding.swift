// Little-endian fixed-width and varint coding, as LevelDB's util/coding.

@inline(__always)
func putFixed32(_ dst: inout [UInt8], _ v: UInt32) {
    dst.append(UInt8(truncatingIfNeeded: v))
    dst.append(UInt8(truncatingIfNeeded: v >> 8))
    dst.append(UInt8(truncatingIfNeeded: v >> 16))
    dst.append(UInt8(truncatingIfNeeded: v >> 24))
}

@inline(__always)
func putFixed64(_ dst: inout [UInt8], _ v: UInt64) {
    for i in 0..<8 { dst.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
}

@inline(__always)
func putVarint32(_ dst: inout [UInt8], _ v: UInt32) { putVarint64(&dst, UInt64(v)) }

@inline(__always)
func putVarint64(_ dst: inout [UInt8], _ v: UInt64) {
    var v = v
    while v >= 0x80 {
        dst.append(UInt8(truncatingIfNeeded: v) | 0x80)
        v >>= 7
    }
    dst.append(UInt8(v))
}

/// Varint then bytes.
@inline(__always)
func putLengthPrefixed(_ dst: inout [UInt8], _ bytes: [UInt8]) {
    putVarint64(&dst, UInt64(bytes.count))
    dst.append(contentsOf: bytes)
}

/// Number of bytes `putVarint64` writes for `v`.
@inline(__always)
func varintLength(_ v: UInt64) -> Int {
    var v = v, n = 1
    while v >= 0x80 {
        v >>= 7
        n += 1
    }
    return n
}

@inline(__always)
func loadFixed32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt32 {
    UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

@inline(__always)
func loadFixed64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
    UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

func decodeFixed32(_ b: [UInt8], _ offset: Int) -> UInt32 {
    b.withUnsafeBytes { loadFixed32($0.baseAddress!, offset) }
}

func decodeFixed64(_ b: [UInt8], _ offset: Int) -> UInt64 {
    b.withUnsafeBytes { loadFixed64($0.baseAddress!, offset) }
}

/// Decodes a varint at `pos` in `p[0..<limit]`; returns nil when truncated or longer than
/// 10 bytes (corrupt). Advances `pos` on success.
@inline(__always)
func decodeVarint64(_ p: UnsafeRawPointer, _ pos: inout Int, _ limit: Int) -> UInt64? {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    var i = pos
    while i < limit && shift <= 63 {
        let byte = p.load(fromByteOffset: i, as: UInt8.self)
        i += 1
        if shift == 63 && byte > 1 { return nil }  // would overflow 64 bits
        if byte & 0x80 != 0 {
            result |= UInt64(byte & 0x7f) << shift
        } else {
            result |= UInt64(byte) << shift
            pos = i
            return result
        }
        shift += 7
    }
    return nil
}

/// A bounds-checked reader over a byte array. Every accessor returns nil instead of trapping
/// when the input is short, so decoders of on-disk data can report corruption.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var position: Int
    let end: Int

    init(_ bytes: [UInt8], from start: Int = 0, to end: Int? = nil) {
        self.bytes = bytes
        self.position = start
        self.end = min(end ?? bytes.count, bytes.count)
    }

    var remaining: Int { end - position }
    var isAtEnd: Bool { position >= end }

    mutating func readByte() -> UInt8? {
        guard position < end else { return nil }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readFixed32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        defer { position += 4 }
        return decodeFixed32(bytes, position)
    }

    mutating func readFixed64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        defer { position += 8 }
        return decodeFixed64(bytes, position)
    }

    mutating func readVarint64() -> UInt64? {
        bytes.withUnsafeBytes { raw -> UInt64? in
            guard let base = raw.baseAddress else { return nil }
            var pos = position
            guard let v = decodeVarint64(base, &pos, end) else { return nil }
            position = pos
            return v
        }
    }

    mutating func readVarint32() -> UInt32? {
        guard let v = readVarint64(), v <= UInt64(UInt32.max) else { return nil }
        return UInt32(v)
    }

    mutating func readBytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, remaining >= n else { return nil }
        defer { position += n }
        return Array(bytes[position..<(position + n)])
    }

    mutating func readLengthPrefixed() -> [UInt8]? {
        guard let n = readVarint64(), n <= UInt64(remaining) else { return nil }
        return readBytes(Int(n))
    }
}
