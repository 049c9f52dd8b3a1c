/// The log format shared by the write-ahead log and the manifest (LevelDB's `log_format`):
/// the file is a sequence of 32 KiB blocks; a logical record is split into physical records
/// that never cross a block boundary, each with a 7-byte header:
/// masked CRC32C of type+payload (4, LE), payload length (2, LE), type (1).
enum LogFormat {
    static let blockSize = 32 * 1024
    static let headerSize = 7

    enum RecordType: UInt8 {
        case zero = 0  // preallocated or padding bytes
        case full = 1
        case first = 2
        case middle = 3
        case last = 4
    }

    /// Masked CRC32C over the type byte and the payload.
    static func checksum(type: UInt8, payload: UnsafeRawBufferPointer) -> UInt32 {
        var t = type
        let c = withUnsafeBytes(of: &t) { CRC32C.extend(0, $0) }
        return CRC32C.mask(CRC32C.extend(c, payload))
    }
}
