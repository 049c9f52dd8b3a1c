import LSMStore

/// The canonical savepoint format (docs/FORMAT.md §11): independent of the store's tables,
/// compression, compaction style and of the parallelism that wrote it. A savepoint is a
/// storage root holding `_savepoint` (this metadata) and one part per subtask of the job that
/// took it (`part-<i>`), each the subtask's key groups in ascending order, every group's
/// entries in store-key order, each group block with its own CRC32C.
struct SavepointMetadata: Equatable, Sendable {
    /// One state the savepoint holds.
    struct State: Equatable, Sendable {
        var name: String
        var id: UInt8
        /// 0: value state, 1: map state.
        var kind: UInt8
        /// Values carry the 8-byte access-time header of a state with a time to live.
        var ttl: Bool
        var valueCodec: String
        var valueCodecVersion: UInt32
        /// Empty (and version 0) for value state.
        var keyCodec: String
        var keyCodecVersion: UInt32
        var entries: UInt64
    }

    /// One part file.
    struct Part: Equatable, Sendable {
        var name: String
        /// Key groups the writing subtask owned (inclusive bounds).
        var firstGroup: UInt16
        var lastGroup: UInt16
        /// Group blocks in the file (groups with at least one entry).
        var blocks: UInt32
        var entries: UInt64
        var size: UInt64
        var crc32c: UInt32
    }

    var id: UInt64
    var createdAtMillis: UInt64
    var maxParallelism: UInt32
    var parallelism: UInt32
    var sourceRecords: UInt64
    var sourcePosition: [UInt8]
    var operatorID: String
    var states: [State]
    var parts: [Part]

    static let magic = Array("LSMSAVE1".utf8)
    static let formatVersion: UInt32 = 1
    static let fileName = "_savepoint"

    var entries: UInt64 { parts.reduce(0) { $0 + $1.entries } }
    var size: UInt64 { parts.reduce(0) { $0 + $1.size } }

    func encode() -> [UInt8] {
        var body = SavepointBytes()
        body.u64(id)
        body.u64(createdAtMillis)
        body.u32(maxParallelism)
        body.u32(parallelism)
        body.u64(sourceRecords)
        body.bytes(sourcePosition)
        body.string(operatorID)
        body.varint(UInt64(states.count))
        for s in states {
            body.string(s.name)
            body.out.append(s.id)
            body.out.append(s.kind)
            body.out.append(s.ttl ? 1 : 0)
            body.string(s.valueCodec)
            body.u32(s.valueCodecVersion)
            body.string(s.keyCodec)
            body.u32(s.keyCodecVersion)
            body.u64(s.entries)
        }
        body.varint(UInt64(parts.count))
        for p in parts {
            body.string(p.name)
            body.u16(p.firstGroup)
            body.u16(p.lastGroup)
            body.u32(p.blocks)
            body.u64(p.entries)
            body.u64(p.size)
            body.u32(p.crc32c)
        }
        var out = SavepointBytes()
        out.out = SavepointMetadata.magic
        out.u32(SavepointMetadata.formatVersion)
        out.u32(UInt32(body.out.count))
        out.out += body.out
        out.u32(Checksum.crc32c(out.out))
        return out.out
    }

    /// Decodes `_savepoint`; `name` (its location) is in every error.
    static func decode(_ data: [UInt8], name: String) throws -> SavepointMetadata {
        func damaged(_ what: String, at offset: Int) -> StreamError {
            StreamError.savepoint("\(name): \(what) at offset \(offset)")
        }
        guard data.count >= 20, Array(data[0..<8]) == magic else {
            throw damaged("not savepoint metadata (no LSMSAVE1 header)", at: 0)
        }
        var r = SavepointReader(data, from: 8)
        guard let version = r.u32(), version == formatVersion else {
            throw damaged("unsupported savepoint format version", at: 8)
        }
        guard let length = r.u32(), 16 + Int(length) + 4 == data.count else {
            throw damaged("metadata length does not match the object's size \(data.count)", at: 12)
        }
        let crcAt = data.count - 4
        let stored = SavepointReader(data, from: crcAt).peekU32()
        guard stored == Checksum.crc32c(Array(data[0..<crcAt])) else {
            throw damaged("checksum mismatch over bytes 0..<\(crcAt)", at: crcAt)
        }
        r.limit = crcAt
        func need<T>(_ v: T?, _ what: String) throws -> T {
            guard let v else { throw damaged("truncated \(what)", at: r.position) }
            return v
        }
        var m = SavepointMetadata(
            id: try need(r.u64(), "id"), createdAtMillis: try need(r.u64(), "creation time"),
            maxParallelism: try need(r.u32(), "max parallelism"), parallelism: try need(r.u32(), "parallelism"),
            sourceRecords: try need(r.u64(), "source records"), sourcePosition: try need(r.bytes(), "source position"),
            operatorID: try need(r.string(), "operator id"), states: [], parts: [])
        let stateCount = try need(r.varint(), "state count")
        guard stateCount <= 255 else { throw damaged("\(stateCount) states (at most 255)", at: r.position) }
        for _ in 0..<stateCount {
            m.states.append(
                State(
                    name: try need(r.string(), "state name"), id: try need(r.u8(), "state id"),
                    kind: try need(r.u8(), "state kind"), ttl: try need(r.u8(), "state ttl flag") == 1,
                    valueCodec: try need(r.string(), "value codec"), valueCodecVersion: try need(r.u32(), "version"),
                    keyCodec: try need(r.string(), "key codec"), keyCodecVersion: try need(r.u32(), "version"),
                    entries: try need(r.u64(), "state entries")))
        }
        let partCount = try need(r.varint(), "part count")
        guard partCount <= 1 << 15 else { throw damaged("\(partCount) parts", at: r.position) }
        for _ in 0..<partCount {
            m.parts.append(
                Part(
                    name: try need(r.string(), "part name"), firstGroup: try need(r.u16(), "first group"),
                    lastGroup: try need(r.u16(), "last group"), blocks: try need(r.u32(), "blocks"),
                    entries: try need(r.u64(), "part entries"), size: try need(r.u64(), "part size"),
                    crc32c: try need(r.u32(), "part checksum")))
        }
        guard r.position == crcAt else { throw damaged("\(crcAt - r.position) unexpected bytes", at: r.position) }
        // Checksummed is not the same as sensible.
        guard m.maxParallelism >= 1, m.maxParallelism <= 1 << 15, m.parallelism >= 1,
            m.parallelism <= m.maxParallelism, m.parts.count == Int(m.parallelism),
            m.parts.allSatisfy({
                $0.name.hasPrefix("part-") && !$0.name.contains("/") && $0.firstGroup <= $0.lastGroup
                    && Int($0.lastGroup) < Int(m.maxParallelism)
            }),
            Set(m.states.map(\.id)).count == m.states.count, m.states.allSatisfy({ $0.kind <= 1 })
        else {
            throw damaged("parallelism, key groups, part names or state ids are not valid", at: 16)
        }
        return m
    }
}

/// One key group's entries in a part: (state id, key after the state id, stored value), in
/// store-key order.
struct SavepointGroupBlock {
    var group: UInt16
    var entries: [(state: UInt8, key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)]
}

/// A part file: `LSMSPPT1`, then group blocks, each
/// `group (u16) · entry count (varint) · byte length (varint) · entries · CRC32C (u32)`,
/// an entry being `state id (1) · varint length · key · varint length · value`.
enum SavepointPart {
    static let magic = Array("LSMSPPT1".utf8)

    /// Appends one group block.
    static func appendBlock(
        group: UInt16, entries: [(state: UInt8, key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)],
        to out: inout SavepointBytes
    ) {
        var body = SavepointBytes()
        for e in entries {
            body.out.append(e.state)
            body.varint(UInt64(e.key.count))
            body.out += e.key
            body.varint(UInt64(e.value.count))
            body.out += e.value
        }
        let start = out.out.count
        out.u16(group)
        out.varint(UInt64(entries.count))
        out.varint(UInt64(body.out.count))
        out.out += body.out
        let crc = out.out.withUnsafeBytes {
            Checksum.crc32c(extending: 0, UnsafeRawBufferPointer(rebasing: $0[start...]))
        }
        out.u32(crc)
    }

    /// Decodes every block of a part, checking each block's checksum and that groups ascend
    /// within `first...last` and keys ascend within a group; `name` and the offset are in
    /// every error.
    static func decode(_ data: [UInt8], name: String, first: UInt16, last: UInt16) throws -> [SavepointGroupBlock] {
        func damaged(_ what: String, at offset: Int) -> StreamError {
            StreamError.savepoint("\(name): \(what) at offset \(offset)")
        }
        guard data.count >= 8, Array(data[0..<8]) == magic else {
            throw damaged("not a savepoint part (no LSMSPPT1 header)", at: 0)
        }
        var r = SavepointReader(data, from: 8)
        var blocks: [SavepointGroupBlock] = []
        var previousGroup = -1
        while r.position < data.count {
            let start = r.position
            guard let group = r.u16(), let count = r.varint(), let length = r.varint(),
                length <= UInt64(data.count - r.position), count <= length
            else {
                throw damaged("truncated or damaged group block header", at: start)
            }
            let bodyStart = r.position
            let bodyEnd = bodyStart + Int(length)
            guard bodyEnd + 4 <= data.count else { throw damaged("truncated group block", at: start) }
            let stored = SavepointReader(data, from: bodyEnd).peekU32()
            let actual = data.withUnsafeBytes {
                Checksum.crc32c(extending: 0, UnsafeRawBufferPointer(rebasing: $0[start..<bodyEnd]))
            }
            guard stored == actual else {
                throw damaged(
                    "checksum mismatch in the block of key group \(group) (bytes \(start)..<\(bodyEnd + 4))", at: start)
            }
            guard Int(group) > previousGroup, group >= first, group <= last else {
                throw damaged("key group \(group) out of order or outside \(first)...\(last)", at: start)
            }
            previousGroup = Int(group)
            r.limit = bodyEnd
            var entries: [(state: UInt8, key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)] = []
            entries.reserveCapacity(Int(count))
            var previous: (UInt8, ArraySlice<UInt8>)? = nil
            for _ in 0..<count {
                let at = r.position
                guard let state = r.u8(), let key = r.slice(), let value = r.slice() else {
                    throw damaged("truncated entry in key group \(group)", at: at)
                }
                if let (ps, pk) = previous, ps > state || (ps == state && !pk.lexicographicallyPrecedes(key)) {
                    throw damaged("entries out of order in key group \(group)", at: at)
                }
                previous = (state, key)
                entries.append((state, key, value))
            }
            guard r.position == bodyEnd else { throw damaged("unexpected bytes in key group \(group)", at: r.position) }
            r.limit = data.count
            r.position = bodyEnd + 4
            blocks.append(SavepointGroupBlock(group: group, entries: entries))
        }
        return blocks
    }
}

/// Big-endian fixed-width integers, LEB128 varints and length-prefixed strings.
struct SavepointBytes {
    var out: [UInt8] = []
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.bigEndian) { out += $0 } }
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    mutating func bytes(_ b: [UInt8]) {
        varint(UInt64(b.count))
        out += b
    }
    mutating func string(_ s: String) { bytes(Array(s.utf8)) }
}

/// Reads what `SavepointBytes` writes; every read returns nil past `limit`.
struct SavepointReader {
    let data: [UInt8]
    var position: Int
    var limit: Int

    init(_ data: [UInt8], from position: Int) {
        self.data = data
        self.position = position
        limit = data.count
    }

    private mutating func fixed(_ n: Int) -> UInt64? {
        guard position + n <= limit else { return nil }
        var v: UInt64 = 0
        for i in 0..<n { v = (v << 8) | UInt64(data[position + i]) }
        position += n
        return v
    }
    mutating func u8() -> UInt8? { fixed(1).map { UInt8($0) } }
    mutating func u16() -> UInt16? { fixed(2).map { UInt16($0) } }
    mutating func u32() -> UInt32? { fixed(4).map { UInt32($0) } }
    mutating func u64() -> UInt64? { fixed(8) }
    func peekU32() -> UInt32? {
        var copy = self
        copy.limit = data.count
        return copy.u32()
    }
    mutating func varint() -> UInt64? {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while position < limit, shift <= 63 {
            let b = data[position]
            position += 1
            v |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return v }
            shift += 7
        }
        return nil
    }
    mutating func slice() -> ArraySlice<UInt8>? {
        guard let n = varint(), n <= UInt64(limit - position) else { return nil }
        defer { position += Int(n) }
        return data[position..<(position + Int(n))]
    }
    mutating func bytes() -> [UInt8]? { slice().map(Array.init) }
    mutating func string() -> String? { slice().flatMap { String(validating: $0, as: UTF8.self) } }
}
