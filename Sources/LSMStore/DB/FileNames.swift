/// Names of the files in a store directory.
enum FileKind: Equatable {
    case log(UInt64)
    case table(UInt64)
    case manifest(UInt64)
    case current
    case lock
    case temp
}

enum FileNames {
    static func pad(_ n: UInt64) -> String {
        let s = String(n)
        return s.count >= 6 ? s : String(repeating: "0", count: 6 - s.count) + s
    }

    static func log(_ dir: String, _ n: UInt64) -> String { joinPath(dir, pad(n) + ".log") }
    static func table(_ dir: String, _ n: UInt64) -> String { joinPath(dir, pad(n) + ".sst") }
    static func tableName(_ n: UInt64) -> String { pad(n) + ".sst" }
    static func manifestName(_ n: UInt64) -> String { "MANIFEST-" + pad(n) }
    static func manifest(_ dir: String, _ n: UInt64) -> String { joinPath(dir, manifestName(n)) }
    static func current(_ dir: String) -> String { joinPath(dir, "CURRENT") }
    static func lock(_ dir: String) -> String { joinPath(dir, "LOCK") }

    static func parse(_ name: String) -> FileKind? {
        if name == "CURRENT" { return .current }
        if name == "LOCK" { return .lock }
        if name.hasSuffix(".tmp") { return .temp }
        if name.hasPrefix("MANIFEST-"), let n = UInt64(name.dropFirst(9)) { return .manifest(n) }
        if name.hasSuffix(".log"), let n = UInt64(name.dropLast(4)) { return .log(n) }
        if name.hasSuffix(".sst"), let n = UInt64(name.dropLast(4)) { return .table(n) }
        return nil
    }

    /// CURRENT holds `MANIFEST-NNNNNN` and the CRC32C of that name in hex, then a newline.
    static func encodeCurrent(_ manifestNumber: UInt64) -> [UInt8] {
        let name = manifestName(manifestNumber)
        let crc = CRC32C.checksum(Array(name.utf8))
        let hex = String(crc, radix: 16)
        return Array((name + " " + String(repeating: "0", count: 8 - hex.count) + hex + "\n").utf8)
    }

    static func decodeCurrent(_ bytes: [UInt8], path: String) throws -> UInt64 {
        guard let text = String(validating: bytes, as: UTF8.self), text.hasSuffix("\n") else {
            throw LSMError.corruption(file: path, offset: 0, reason: "CURRENT is not a text line")
        }
        let parts = text.dropLast().split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, case .manifest(let n)? = parse(String(parts[0])),
            let crc = UInt32(parts[1], radix: 16)
        else { throw LSMError.corruption(file: path, offset: 0, reason: "CURRENT is malformed") }
        guard crc == CRC32C.checksum(Array(parts[0].utf8)) else {
            throw LSMError.corruption(file: path, offset: 0, reason: "CURRENT checksum mismatch")
        }
        return n
    }
}
