/// The two ways a checkpoint can store the state.
public enum CheckpointMode: String, Sendable, CaseIterable {
    /// Every live table is copied into the checkpoint's own folder; nothing is shared.
    case full
    /// Each table is uploaded once into `shared/` and referenced by every later checkpoint
    /// that still needs it; a checkpoint uploads only tables no retained checkpoint has.
    case incremental
}

/// One table a checkpoint needs.
public struct CheckpointFile: Sendable, Equatable {
    /// Level of the table in the store's version.
    public var level: Int
    /// The table's file number in the store it came from (it keeps it when restored).
    public var fileNumber: UInt64
    /// Where it is in the checkpoint storage (`chk-N/…` or `shared/…`).
    public var name: String
    /// Size in bytes.
    public var size: UInt64
    /// CRC32C of the whole file.
    public var checksum: UInt32
    /// Smallest and largest internal keys (user key + sequence/kind trailer).
    public var smallestKey: [UInt8]
    /// See `smallestKey`.
    public var largestKey: [UInt8]
    /// True when this checkpoint uploaded the file (false: reused from an earlier one).
    public var uploadedHere: Bool
}

/// `_metadata`: what a checkpoint holds. Written last, so a checkpoint folder without it is
/// incomplete. Format (docs/FORMAT.md): magic `LSMCKPT1` (8) · format version (fixed32) ·
/// payload length (fixed32) · payload (tagged fields) · masked CRC32C of everything before it.
public struct CheckpointMetadata: Sendable, Equatable {
    /// Checkpoint id (the N of `chk-N`).
    public var id: UInt64
    /// Full or incremental.
    public var mode: CheckpointMode
    /// Sequence number of the last write the checkpoint contains.
    public var sequence: UInt64
    /// Identity (hex) of the store the checkpoint was taken from.
    public var storeID: String
    /// Wall-clock time of the checkpoint, in milliseconds since 1970.
    public var createdAtMillis: UInt64
    /// The store's next file number at the checkpoint.
    public var nextFileNumber: UInt64
    /// Every table of the checkpoint's version.
    public var files: [CheckpointFile]
    /// Opaque bytes the caller attached (a stream job keeps its source offsets here).
    public var userMetadata: [UInt8]

    static let magic: [UInt8] = Array("LSMCKPT1".utf8)
    static let formatVersion: UInt32 = 1

    /// Bytes of all files (what a restore needs).
    public var fullSize: UInt64 { files.reduce(0) { $0 + $1.size } }

    func encode() -> [UInt8] {
        var p = [UInt8]()
        func field(_ tag: UInt64, _ v: UInt64) {
            putVarint64(&p, tag)
            putVarint64(&p, v)
        }
        field(1, id)
        field(2, mode == .full ? 0 : 1)
        field(3, sequence)
        putVarint64(&p, 4)
        putLengthPrefixed(&p, Array(storeID.utf8))
        field(5, createdAtMillis)
        field(6, nextFileNumber)
        for f in files {
            putVarint64(&p, 7)
            var e = [UInt8]()
            putVarint64(&e, UInt64(f.level))
            putVarint64(&e, f.fileNumber)
            putLengthPrefixed(&e, Array(f.name.utf8))
            putVarint64(&e, f.size)
            putFixed32(&e, f.checksum)
            putLengthPrefixed(&e, f.smallestKey)
            putLengthPrefixed(&e, f.largestKey)
            e.append(f.uploadedHere ? 1 : 0)
            putLengthPrefixed(&p, e)
        }
        putVarint64(&p, 8)
        putLengthPrefixed(&p, userMetadata)
        var out = CheckpointMetadata.magic
        putFixed32(&out, CheckpointMetadata.formatVersion)
        putFixed32(&out, UInt32(p.count))
        out += p
        putFixed32(&out, CRC32C.mask(CRC32C.checksum(out)))
        return out
    }

    static func decode(_ b: [UInt8], name: String) throws -> CheckpointMetadata {
        func bad(_ offset: Int, _ why: String) -> LSMError {
            .corruption(file: name, offset: UInt64(offset), reason: why)
        }
        guard b.count >= 20 else { throw bad(0, "metadata too short (\(b.count) bytes)") }
        guard Array(b[0..<8]) == magic else { throw bad(0, "bad magic: not checkpoint metadata") }
        let version = decodeFixed32(b, 8)
        guard version == formatVersion else { throw bad(8, "unsupported metadata version \(version)") }
        let length = Int(decodeFixed32(b, 12))
        guard length == b.count - 20 else {
            throw bad(12, "payload length \(length) does not match file size \(b.count)")
        }
        let crc = CRC32C.unmask(decodeFixed32(b, b.count - 4))
        guard crc == CRC32C.checksum(b[0..<(b.count - 4)]) else { throw bad(b.count - 4, "checksum mismatch") }
        var m = CheckpointMetadata(
            id: 0, mode: .full, sequence: 0, storeID: "", createdAtMillis: 0, nextFileNumber: 0, files: [],
            userMetadata: [])
        var r = ByteReader(b, from: 16, to: b.count - 4)
        var seen = Set<UInt64>()
        while !r.isAtEnd {
            let at = r.position
            guard let tag = r.readVarint64() else { throw bad(at, "bad field tag") }
            seen.insert(tag)
            switch tag {
            case 1, 2, 3, 5, 6:
                guard let v = r.readVarint64() else { throw bad(at, "bad field \(tag)") }
                switch tag {
                case 1: m.id = v
                case 2:
                    guard v <= 1 else { throw bad(at, "unknown mode \(v)") }
                    m.mode = v == 0 ? .full : .incremental
                case 3: m.sequence = v
                case 5: m.createdAtMillis = v
                default: m.nextFileNumber = v
                }
            case 4:
                guard let s = r.readLengthPrefixed(), let id = String(validating: s, as: UTF8.self) else {
                    throw bad(at, "bad store id")
                }
                m.storeID = id
            case 7:
                guard let e = r.readLengthPrefixed() else { throw bad(at, "bad file entry") }
                var fr = ByteReader(e)
                guard let level = fr.readVarint64(), level < UInt64(Version.numLevels),
                    let number = fr.readVarint64(), let nameBytes = fr.readLengthPrefixed(),
                    let fileName = String(validating: nameBytes, as: UTF8.self),
                    let size = fr.readVarint64(), let checksum = fr.readFixed32(),
                    let small = fr.readLengthPrefixed(), let large = fr.readLengthPrefixed(),
                    InternalKey.isValid(small), InternalKey.isValid(large),
                    let flag = fr.readByte(), fr.isAtEnd,
                    CheckpointMetadata.isSafeName(fileName)
                else { throw bad(at, "malformed file entry") }
                m.files.append(
                    CheckpointFile(
                        level: Int(level), fileNumber: number, name: fileName, size: size, checksum: checksum,
                        smallestKey: small, largestKey: large, uploadedHere: flag != 0))
            case 8:
                guard let u = r.readLengthPrefixed() else { throw bad(at, "bad user metadata") }
                m.userMetadata = u
            default:
                throw bad(at, "unknown field \(tag)")
            }
        }
        guard seen.isSuperset(of: [1, 2, 3, 4, 6]) else { throw bad(16, "required fields missing") }
        return m
    }

    /// Object names stay inside the storage: relative, no `..`.
    static func isSafeName(_ n: String) -> Bool {
        !n.isEmpty && !n.hasPrefix("/") && !n.split(separator: "/").contains("..")
    }
}
