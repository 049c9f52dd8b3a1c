import Foundation
import Testing
@testable import LSMStore

@Suite struct ManifestTests {
    @Test func versionEditRoundTrip() throws {
        var e = VersionEdit()
        e.logNumber = 12
        e.nextFileNumber = 40
        e.lastSequence = 9_999
        e.storeID = [1, 2, 3]
        e.compactPointers = [(2, InternalKey.make(bytes("m"), 5, .value))]
        e.deleteFile(1, 7)
        e.addFile(
            3,
            FileMetaData(
                number: 21, size: 4096,
                smallest: InternalKey.make(bytes("a"), 1, .value),
                largest: InternalKey.make(bytes("z"), 2, .deletion), checksum: 0xDEAD_BEEF))
        guard let d = VersionEdit.decode(e.encode()) else {
            Issue.record("decode failed")
            return
        }
        #expect(d.logNumber == 12 && d.nextFileNumber == 40 && d.lastSequence == 9_999 && d.storeID == [1, 2, 3])
        #expect(d.compactPointers.count == 1 && d.compactPointers[0].level == 2)
        #expect(d.deletedFiles.count == 1 && d.deletedFiles[0].number == 7)
        #expect(d.newFiles.count == 1 && d.newFiles[0].level == 3 && d.newFiles[0].file.number == 21)
        #expect(d.newFiles[0].file.largest == InternalKey.make(bytes("z"), 2, .deletion))
        #expect(d.newFiles[0].file.checksum == 0xDEAD_BEEF)
        // Truncations and an unknown tag never decode into a wrong edit.
        let enc = e.encode()
        for cut in 1..<enc.count { _ = VersionEdit.decode(Array(enc[0..<cut])) }
        #expect(VersionEdit.decode([99, 1]) == nil)
        #expect(VersionEdit.decode([6, 9, 1, 1, 0, 0]) == nil)  // level 9 does not exist
    }

    @Test func aRestoredTablesOriginRoundTripsAndAStrayOriginIsRefused() throws {
        var e = VersionEdit()
        let small = InternalKey.make(bytes("a"), 1, .value)
        let large = InternalKey.make(bytes("b"), 2, .value)
        e.addFile(0, FileMetaData(number: 5, size: 10, smallest: small, largest: large, checksum: 1))
        e.addFile(0, FileMetaData(number: 6, size: 10, smallest: small, largest: large, checksum: 2, origin: [9, 8]))
        let d = try #require(VersionEdit.decode(e.encode()))
        #expect(d.newFiles.map(\.file.origin) == [nil, [9, 8]])
        // An origin must follow the new file of its number.
        var stray: [UInt8] = []
        putVarint64(&stray, 8)
        putVarint64(&stray, 6)
        putLengthPrefixed(&stray, [9, 8])
        #expect(VersionEdit.decode(stray) == nil)
        var wrongNumber = VersionEdit()
        wrongNumber.addFile(0, FileMetaData(number: 5, size: 10, smallest: small, largest: large, checksum: 1))
        #expect(VersionEdit.decode(wrongNumber.encode() + stray) == nil)
    }

    @Test func currentFileCarriesAChecksum() throws {
        let enc = FileNames.encodeCurrent(5)
        #expect(String(decoding: enc, as: UTF8.self).hasPrefix("MANIFEST-000005 "))
        #expect(try FileNames.decodeCurrent(enc, path: "CURRENT") == 5)
        var bad = enc
        bad[14] = UInt8(ascii: "6")
        #expect(throws: LSMError.self) { try FileNames.decodeCurrent(bad, path: "CURRENT") }
        #expect(throws: LSMError.self) { try FileNames.decodeCurrent([], path: "CURRENT") }
    }

    @Test func manifestReplayRebuildsTheLiveVersion() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions()
        o.walEnabled = true
        var store: LSMStore? = try LSMStore.open(at: dir.path, options: o)
        for i in 0..<3000 { try store!.put(bytes("key\(i % 700)"), bytes("value-\(i)")) }
        try store!.flush()
        let info1 = try Inspector.manifest(at: dir.path)
        try store!.close()  // background compaction may still have changed files before this
        store = nil
        let info2 = try Inspector.manifest(at: dir.path)
        #expect(info2.storeID == info1.storeID && info2.storeID.count == 32)
        #expect(!info2.files.isEmpty)
        let reopened = try LSMStore.open(at: dir.path, options: o)
        let after = reopened.stats
        let perLevel = (0..<7).map { l in info2.files.filter { $0.level == l }.count }
        #expect(after.levels.map(\.files) == perLevel)
        #expect(Set(try Inspector.manifest(at: dir.path).files.map(\.number)) == Set(info2.files.map(\.number)))
        #expect(after.lastSequence == 3000)
        for i in 0..<700 {
            let last = (0..<3000).last { $0 % 700 == i }!
            #expect(try reopened.get(bytes("key\(i)")) == bytes("value-\(last)"))
        }
        // Reopening starts a fresh manifest and deletes the old one.
        let manifests = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter {
            $0.hasPrefix("MANIFEST-")
        }
        #expect(manifests.count == 1)
        try reopened.close()
    }
}
