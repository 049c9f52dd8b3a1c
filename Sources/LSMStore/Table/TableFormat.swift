/// Where a block lives in an SST: offset and size of its stored bytes (without the 5-byte
/// trailer).
struct BlockHandle: Equatable, Sendable {
    var offset: UInt64
    var size: UInt64

    func encode(into out: inout [UInt8]) {
        putVarint64(&out, offset)
        putVarint64(&out, size)
    }

    static func decode(_ bytes: [UInt8]) -> BlockHandle? {
        var r = ByteReader(bytes)
        guard let o = r.readVarint64(), let s = r.readVarint64(), r.isAtEnd else { return nil }
        return BlockHandle(offset: o, size: s)
    }
}

/// Compression type byte of a stored block (RocksDB's values).
enum BlockCompressionType: UInt8 {
    case uncompressed = 0
    case lz4 = 4
}

/// The fixed 64-byte footer at the end of every SST.
///
/// `index offset·size, filter offset·size, properties offset·size` (6 × fixed64),
/// `format version` (fixed32), masked CRC32C of the preceding 52 bytes (fixed32),
/// magic (fixed64).
struct Footer {
    static let size = 64
    static let magic: UInt64 = 0x4C53_4D53_5354_0001  // "LSMSST" + 0x0001
    static let formatVersion: UInt32 = 1

    var index: BlockHandle
    var filter: BlockHandle  // size 0 when the table has no filter
    var properties: BlockHandle

    func encode() -> [UInt8] {
        var out = [UInt8]()
        for h in [index, filter, properties] {
            putFixed64(&out, h.offset)
            putFixed64(&out, h.size)
        }
        putFixed32(&out, Footer.formatVersion)
        putFixed32(&out, CRC32C.mask(CRC32C.checksum(out)))
        putFixed64(&out, Footer.magic)
        return out
    }

    static func decode(_ b: [UInt8], fileName: String, fileOffset: UInt64) throws -> Footer {
        func bad(_ why: String) -> LSMError {
            .corruption(file: fileName, offset: fileOffset, reason: "footer: \(why)")
        }
        guard b.count == size else { throw bad("wrong size") }
        guard decodeFixed64(b, 56) == magic else { throw bad("bad magic number (not an SST, or truncated)") }
        let crc = CRC32C.unmask(decodeFixed32(b, 52))
        guard crc == CRC32C.checksum(b[0..<52]) else { throw bad("checksum mismatch") }
        let version = decodeFixed32(b, 48)
        guard version == formatVersion else { throw bad("unsupported format version \(version)") }
        func h(_ i: Int) -> BlockHandle {
            BlockHandle(offset: decodeFixed64(b, i * 16), size: decodeFixed64(b, i * 16 + 8))
        }
        return Footer(index: h(0), filter: h(1), properties: h(2))
    }
}

/// Statistics stored in every SST's properties block.
public struct TableProperties: Sendable, Equatable {
    /// Entries (puts and deletions).
    public var entryCount: UInt64 = 0
    /// Deletion markers among the entries.
    public var deletionCount: UInt64 = 0
    /// Data blocks.
    public var dataBlockCount: UInt64 = 0
    /// Sum of internal key lengths.
    public var rawKeyBytes: UInt64 = 0
    /// Sum of value lengths.
    public var rawValueBytes: UInt64 = 0
    /// Bytes of data blocks as stored (after compression, with trailers).
    public var dataBytes: UInt64 = 0
    /// Smallest and largest internal keys.
    public var smallestKey: [UInt8] = []
    /// See `smallestKey`.
    public var largestKey: [UInt8] = []
    /// Smallest and largest sequence numbers.
    public var smallestSequence: UInt64 = 0
    /// See `smallestSequence`.
    public var largestSequence: UInt64 = 0
    /// Data blocks stored LZ4-compressed.
    public var compressedBlockCount: UInt64 = 0

    func encode() -> [UInt8] {
        var out = [UInt8]()
        func field(_ tag: UInt64, _ v: UInt64) {
            putVarint64(&out, tag)
            var b = [UInt8]()
            putVarint64(&b, v)
            putLengthPrefixed(&out, b)
        }
        func bytes(_ tag: UInt64, _ v: [UInt8]) {
            putVarint64(&out, tag)
            putLengthPrefixed(&out, v)
        }
        field(1, entryCount)
        field(2, deletionCount)
        field(3, dataBlockCount)
        field(4, rawKeyBytes)
        field(5, rawValueBytes)
        field(6, dataBytes)
        bytes(7, smallestKey)
        bytes(8, largestKey)
        field(9, smallestSequence)
        field(10, largestSequence)
        field(11, compressedBlockCount)
        return out
    }

    static func decode(_ b: [UInt8]) -> TableProperties? {
        var p = TableProperties()
        var r = ByteReader(b)
        while !r.isAtEnd {
            guard let tag = r.readVarint64(), let payload = r.readLengthPrefixed() else { return nil }
            var pr = ByteReader(payload)
            switch tag {
            case 7: p.smallestKey = payload
            case 8: p.largestKey = payload
            case 1...11:
                guard let v = pr.readVarint64() else { return nil }
                switch tag {
                case 1: p.entryCount = v
                case 2: p.deletionCount = v
                case 3: p.dataBlockCount = v
                case 4: p.rawKeyBytes = v
                case 5: p.rawValueBytes = v
                case 6: p.dataBytes = v
                case 9: p.smallestSequence = v
                case 10: p.largestSequence = v
                default: p.compressedBlockCount = v
                }
            default: break  // unknown properties from a newer writer are skipped
            }
        }
        return p
    }
}

/// Size of the per-block trailer: compression type (1) + masked CRC32C (4).
let blockTrailerSize = 5

/// Encodes `raw` for storage: LZ4 when asked and it saves at least 1/8, else raw.
/// Returns the stored bytes with their trailer appended, and the type chosen.
func encodeBlockForStorage(_ raw: [UInt8], compression: Compression) -> (bytes: [UInt8], type: BlockCompressionType) {
    var stored: [UInt8] = []
    var scratch: [UInt8] = []
    let type = raw.withUnsafeBytes { appendStoredBlock($0, compression: compression, to: &stored, scratch: &scratch) }
    return (stored, type)
}

/// Appends `raw` to `dst` as `encodeBlockForStorage` encodes it (the same bytes), with no
/// allocation once `dst` and `scratch` have grown: LZ4 compresses into `scratch`, which is
/// reused from block to block, and the trailer's checksum is taken over `dst` in place.
func appendStoredBlock(
    _ raw: UnsafeRawBufferPointer, compression: Compression, to dst: inout [UInt8], scratch: inout [UInt8]
) -> BlockCompressionType {
    let start = dst.count
    var type = BlockCompressionType.uncompressed
    if compression == .lz4, let bound = LZ4.bound(raw.count) {
        if scratch.count < bound { scratch = [UInt8](repeating: 0, count: bound) }
        let n = scratch.withUnsafeMutableBytes { LZ4.compress(raw, into: $0) }
        if let n, n + varintLength(UInt64(raw.count)) < raw.count - raw.count / 8 {
            putVarint64(&dst, UInt64(raw.count))
            scratch.withUnsafeBytes { dst.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            type = .lz4
        }
    }
    if type == .uncompressed { dst.append(contentsOf: raw) }
    dst.append(type.rawValue)
    let crc = dst.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    putFixed32(&dst, CRC32C.mask(crc))
    return type
}

/// A stored block read and verified (its CRC32C matched), borrowed from the reader's
/// temporary buffer: the payload as stored, its compression, and the length it decodes to.
struct StoredBlock {
    /// The bytes after any length prefix: LZ4 input, or the raw block.
    let payload: UnsafeRawBufferPointer
    let type: BlockCompressionType
    /// Bytes of the uncompressed block.
    let rawLength: Int

    /// Decodes the block into the `rawLength` bytes at `out`; throws corruption naming
    /// `file` and `handle` (where it was read) when LZ4 input does not decode to exactly
    /// that many bytes.
    func decode(into out: UnsafeMutableRawPointer, file: any RandomAccessFile, handle: BlockHandle) throws {
        switch type {
        case .uncompressed:
            if let src = payload.baseAddress, rawLength > 0 { out.copyMemory(from: src, byteCount: rawLength) }
        case .lz4:
            guard LZ4.decompress(payload, into: out, outputSize: rawLength) else {
                throw blockDamage(file, handle, "LZ4 block does not decompress")
            }
        }
    }

    /// The block decoded into a new `BlockContents` (see `decode`).
    func contents(file: any RandomAccessFile, handle: BlockHandle) throws -> BlockContents {
        let out = BlockContents.make(count: rawLength)
        try decode(into: out.base, file: file, handle: handle)
        return out
    }
}

/// The error for damage in the block at `handle` of `file`.
func blockDamage(_ file: any RandomAccessFile, _ handle: BlockHandle, _ reason: String) -> LSMError {
    .corruption(file: file.path, offset: handle.offset, reason: reason)
}

/// Reads the block at `handle` and its trailer into the thread's scratch memory
/// (`withScratchBuffer`: no zero-filled array and no allocation per read), checks its CRC32C
/// and calls `body` with it.
func withStoredBlock<R>(
    _ file: any RandomAccessFile, _ handle: BlockHandle, _ body: (StoredBlock) throws -> R
) throws -> R {
    // The file's name only for an error: reading it copies a string (a retain and release per
    // block read otherwise).
    guard handle.size <= 1 << 30 else {
        throw blockDamage(file, handle, "block size \(handle.size) implausible")
    }
    let n = Int(handle.size)
    let total = n + blockTrailerSize
    return try withScratchBuffer(byteCount: total) { buf -> R in
        let got = try file.read(at: handle.offset, into: buf)
        guard got == total else {
            throw blockDamage(file, handle, "truncated: wanted \(total) bytes, file has \(got) from there")
        }
        let bytes = UnsafeRawBufferPointer(buf)
        let expected = CRC32C.unmask(loadFixed32(bytes.baseAddress!, n + 1))
        let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<(n + 1)]))
        guard expected == actual else {
            throw blockDamage(file, handle, "block checksum mismatch")
        }
        switch BlockCompressionType(rawValue: bytes[n]) {
        case .uncompressed:
            return try body(
                StoredBlock(payload: UnsafeRawBufferPointer(rebasing: bytes[0..<n]), type: .uncompressed, rawLength: n))
        case .lz4:
            var p = 0
            guard let rawLen = decodeVarint64(bytes.baseAddress!, &p, n), rawLen <= 1 << 30 else {
                throw blockDamage(file, handle, "bad LZ4 block length")
            }
            return try body(
                StoredBlock(payload: UnsafeRawBufferPointer(rebasing: bytes[p..<n]), type: .lz4, rawLength: Int(rawLen))
            )
        case nil:
            throw blockDamage(file, handle, "unknown compression type \(bytes[n])")
        }
    }
}

/// Reads and verifies the block at `handle`, decompressing it when needed, into a new
/// `BlockContents`.
func readBlockContents(_ file: any RandomAccessFile, _ handle: BlockHandle) throws -> BlockContents {
    try withStoredBlock(file, handle) { try $0.contents(file: file, handle: handle) }
}
