/// A change to the set of live files, recorded as one manifest record.
///
/// Encoding: a sequence of tagged fields, each `varint tag · fields` (docs/FORMAT.md):
/// 1 log number · 2 next file number · 3 last sequence · 4 compact pointer (level, key) ·
/// 5 deleted file (level, number) · 6 new file (level, number, size, smallest, largest,
/// fixed32 CRC32C of the whole file) · 7 store id (length-prefixed bytes) · 8 origin of the
/// new file just before it (number, length-prefixed store id: the table was restored from a
/// checkpoint of that store, which numbered it the same).
struct VersionEdit {
    var logNumber: UInt64?
    var nextFileNumber: UInt64?
    var lastSequence: UInt64?
    var storeID: [UInt8]?
    var compactPointers: [(level: Int, key: [UInt8])] = []
    var deletedFiles: [(level: Int, number: UInt64)] = []
    var newFiles: [(level: Int, file: FileMetaData)] = []

    mutating func addFile(_ level: Int, _ f: FileMetaData) { newFiles.append((level, f)) }
    mutating func deleteFile(_ level: Int, _ number: UInt64) { deletedFiles.append((level, number)) }

    func encode() -> [UInt8] {
        var out = [UInt8]()
        if let v = logNumber {
            putVarint64(&out, 1)
            putVarint64(&out, v)
        }
        if let v = nextFileNumber {
            putVarint64(&out, 2)
            putVarint64(&out, v)
        }
        if let v = lastSequence {
            putVarint64(&out, 3)
            putVarint64(&out, v)
        }
        for (level, key) in compactPointers {
            putVarint64(&out, 4)
            putVarint64(&out, UInt64(level))
            putLengthPrefixed(&out, key)
        }
        for (level, number) in deletedFiles {
            putVarint64(&out, 5)
            putVarint64(&out, UInt64(level))
            putVarint64(&out, number)
        }
        for (level, f) in newFiles {
            putVarint64(&out, 6)
            putVarint64(&out, UInt64(level))
            putVarint64(&out, f.number)
            putVarint64(&out, f.size)
            putLengthPrefixed(&out, f.smallest)
            putLengthPrefixed(&out, f.largest)
            putFixed32(&out, f.checksum)
            if let origin = f.origin {
                putVarint64(&out, 8)
                putVarint64(&out, f.number)
                putLengthPrefixed(&out, origin)
            }
        }
        if let id = storeID {
            putVarint64(&out, 7)
            putLengthPrefixed(&out, id)
        }
        return out
    }

    /// Decodes an edit; returns nil when malformed.
    static func decode(_ bytes: [UInt8]) -> VersionEdit? {
        var e = VersionEdit()
        var r = ByteReader(bytes)
        func level(_ v: UInt64?) -> Int? {
            guard let v, v < UInt64(Version.numLevels) else { return nil }
            return Int(v)
        }
        while !r.isAtEnd {
            guard let tag = r.readVarint64() else { return nil }
            switch tag {
            case 1:
                guard let v = r.readVarint64() else { return nil }
                e.logNumber = v
            case 2:
                guard let v = r.readVarint64() else { return nil }
                e.nextFileNumber = v
            case 3:
                guard let v = r.readVarint64() else { return nil }
                e.lastSequence = v
            case 4:
                guard let l = level(r.readVarint64()), let k = r.readLengthPrefixed() else { return nil }
                e.compactPointers.append((l, k))
            case 5:
                guard let l = level(r.readVarint64()), let n = r.readVarint64() else { return nil }
                e.deletedFiles.append((l, n))
            case 6:
                guard let l = level(r.readVarint64()), let n = r.readVarint64(), let s = r.readVarint64(),
                    let small = r.readLengthPrefixed(), let large = r.readLengthPrefixed(),
                    let crc = r.readFixed32(), InternalKey.isValid(small), InternalKey.isValid(large)
                else { return nil }
                e.newFiles.append((l, FileMetaData(number: n, size: s, smallest: small, largest: large, checksum: crc)))
            case 7:
                guard let id = r.readLengthPrefixed() else { return nil }
                e.storeID = id
            case 8:
                // Belongs to the new file just before it, of the same number.
                guard let n = r.readVarint64(), let origin = r.readLengthPrefixed(), !origin.isEmpty,
                    let last = e.newFiles.last, last.file.number == n, last.file.origin == nil
                else { return nil }
                let f = last.file
                e.newFiles[e.newFiles.count - 1].file = FileMetaData(
                    number: f.number, size: f.size, smallest: f.smallest, largest: f.largest, checksum: f.checksum,
                    origin: origin)
            default:
                return nil
            }
        }
        return e
    }
}
