/// `chk-N/_claim`: which store took checkpoint id N, and when. Created exclusively
/// (`CheckpointStorage.createExclusively`) before anything else of the checkpoint is written,
/// so two writers sharing a storage never take one id; until `_metadata` exists it marks the
/// folder as a checkpoint in progress (or abandoned) and names its owner.
/// Format (docs/FORMAT.md): magic `LSMCLAIM` (8) · format version (fixed32) · store id
/// (length-prefixed hex) · created at, ms since 1970 (fixed64) · masked CRC32C of the rest.
public struct CheckpointClaim: Sendable, Equatable {
    /// The claiming store's id (hex).
    public var storeID: String
    /// When the claim was made, in milliseconds since 1970.
    public var createdAtMillis: UInt64

    static let magic: [UInt8] = Array("LSMCLAIM".utf8)
    static let formatVersion: UInt32 = 1

    static func name(_ id: UInt64) -> String { CheckpointLayout.claim(id) }

    func encode() -> [UInt8] {
        var out = CheckpointClaim.magic
        putFixed32(&out, CheckpointClaim.formatVersion)
        putLengthPrefixed(&out, Array(storeID.utf8))
        putFixed64(&out, createdAtMillis)
        putFixed32(&out, CRC32C.mask(CRC32C.checksum(out)))
        return out
    }

    static func decode(_ b: [UInt8], name: String) throws -> CheckpointClaim {
        func bad(_ offset: Int, _ why: String) -> LSMError {
            .corruption(file: name, offset: UInt64(offset), reason: why)
        }
        guard b.count >= 8 + 4 + 1 + 8 + 4 else { throw bad(0, "claim too short (\(b.count) bytes)") }
        guard Array(b[0..<8]) == magic else { throw bad(0, "bad magic: not a checkpoint claim") }
        guard CRC32C.unmask(decodeFixed32(b, b.count - 4)) == CRC32C.checksum(b[0..<(b.count - 4)]) else {
            throw bad(b.count - 4, "checksum mismatch")
        }
        let version = decodeFixed32(b, 8)
        guard version == formatVersion else { throw bad(8, "unsupported claim version \(version)") }
        var r = ByteReader(b, from: 12, to: b.count - 4)
        guard let idBytes = r.readLengthPrefixed(), let id = String(validating: idBytes, as: UTF8.self),
            let created = r.readFixed64(), r.isAtEnd
        else { throw bad(12, "malformed claim") }
        return CheckpointClaim(storeID: id, createdAtMillis: created)
    }
}
