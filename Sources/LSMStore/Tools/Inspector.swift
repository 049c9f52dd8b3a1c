/// Read-only inspection of stores and table files, for tools such as `lsmctl`. Nothing here
/// modifies a store, so it is safe on a store another process has open.
public enum Inspector {
    /// One live table as the manifest records it.
    public struct TableFile: Sendable {
        /// Level 0-6.
        public var level: Int
        /// File number (the file is `NNNNNN.sst`).
        public var number: UInt64
        /// Size in bytes.
        public var size: UInt64
        /// Smallest and largest user keys, with their sequence numbers.
        public var smallestKey: [UInt8]
        /// See `smallestKey`.
        public var largestKey: [UInt8]
        /// See `smallestKey`.
        public var smallestKeySequence: UInt64
        /// See `smallestKey`.
        public var largestKeySequence: UInt64
    }

    /// The live version of a store, read from CURRENT and its manifest.
    public struct ManifestInfo: Sendable {
        /// The manifest file CURRENT names.
        public var manifestFile: String
        /// Random identity of the store, fixed at creation (hex).
        public var storeID: String
        /// Logs with numbers below this one are fully flushed.
        public var logNumber: UInt64
        /// The next file number to be assigned.
        public var nextFileNumber: UInt64
        /// The last sequence number recorded in the manifest (later writes may be in the WAL).
        public var lastSequence: UInt64
        /// Live tables, by level then key order.
        public var files: [TableFile]
        /// Number of edit records in the manifest.
        public var editCount: Int
    }

    /// Reads the live version of the store in `dir` without opening it.
    public static func manifest(
        at dir: String, fileSystem fs: any FileSystem = PosixFileSystem()
    ) throws -> ManifestInfo {
        let set = VersionSet(dir: dir, fs: fs, options: Options())
        let number = try set.recover()
        let edits = set.lastRecoveredEditCount
        var files: [TableFile] = []
        for (level, list) in set.current.levels.enumerated() {
            for f in list {
                files.append(
                    TableFile(
                        level: level, number: f.number, size: f.size,
                        smallestKey: f.smallestUserKey, largestKey: f.largestUserKey,
                        smallestKeySequence: InternalKey.sequence(f.smallest),
                        largestKeySequence: InternalKey.sequence(f.largest)))
            }
        }
        return ManifestInfo(
            manifestFile: FileNames.manifestName(number), storeID: hexString(set.storeID),
            logNumber: set.logNumber, nextFileNumber: set.nextFileNumber, lastSequence: set.lastSequence,
            files: files, editCount: edits)
    }

    /// One data block of a table.
    public struct BlockInfo: Sendable {
        /// Offset of the stored block in the file.
        public var offset: UInt64
        /// Stored size (without the 5-byte trailer).
        public var storedSize: UInt64
        /// Size after decompression.
        public var uncompressedSize: Int
        /// Entries in the block.
        public var entryCount: Int
    }

    /// One entry of a table.
    public struct Entry: Sendable {
        /// The user key.
        public var key: [UInt8]
        /// Sequence number of the write.
        public var sequence: UInt64
        /// True for a deletion marker.
        public var isDeletion: Bool
        /// The value (empty for deletions).
        public var value: [UInt8]
    }

    /// Everything in one table file.
    public struct TableDump: Sendable {
        /// The statistics stored in the file.
        public var properties: TableProperties
        /// Data blocks in file order.
        public var blocks: [BlockInfo]
        /// Entries in key order (empty unless asked for).
        public var entries: [Entry]
        /// Whether the table has a bloom filter.
        public var hasFilter: Bool
        /// File size.
        public var fileSize: UInt64
    }

    /// Reads and verifies a table file; `includeEntries` also decodes every entry.
    public static func dumpTable(
        at path: String, includeEntries: Bool = true, fileSystem fs: any FileSystem = PosixFileSystem()
    ) throws -> TableDump {
        let reader = try SSTableReader.open(fileSystem: fs, path: path, fileNumber: 0, cache: nil)
        var blocks: [BlockInfo] = []
        var entries: [Entry] = []
        for i in reader.indexHandles.indices {
            let block = try reader.dataBlock(i, fillCache: false)
            let it = block.makeIterator()
            try it.seekToFirst()
            var n = 0
            while it.isValid {
                n += 1
                if includeEntries {
                    let k = it.key
                    guard let kind = InternalKey.kind(k) else {
                        throw LSMError.corruption(
                            file: path, offset: reader.indexHandles[i].offset, reason: "malformed internal key")
                    }
                    entries.append(
                        Entry(
                            key: InternalKey.userKey(k), sequence: InternalKey.sequence(k),
                            isDeletion: kind == .deletion, value: it.value))
                }
                try it.next()
            }
            blocks.append(
                BlockInfo(
                    offset: reader.indexHandles[i].offset, storedSize: reader.indexHandles[i].size,
                    uncompressedSize: block.contents.count, entryCount: n))
        }
        _ = try reader.verify()
        return TableDump(
            properties: reader.properties, blocks: blocks, entries: entries,
            hasFilter: reader.hasFilter, fileSize: reader.fileSize)
    }

    /// What `verify` checked and found.
    public struct VerifyReport: Sendable {
        /// Tables whose every block was re-read and checksummed.
        public var tablesChecked = 0
        /// Entries read from them.
        public var entriesChecked: UInt64 = 0
        /// Bytes of tables read.
        public var bytesChecked: UInt64 = 0
        /// Write-ahead logs read.
        public var logsChecked = 0
        /// Every problem found (empty when the store is sound).
        public var problems: [LSMError] = []
        /// Torn last writes at the end of the newest log, which opening the store with the
        /// default `WALRecoveryMode.tolerateCorruptedTail` drops (not problems, but reported).
        public var tornWrites: [WALDroppedRange] = []
    }

    /// Re-reads every live table block and the write-ahead logs of the store in `dir`,
    /// checking every checksum, the entry order and the sizes the manifest records.
    public static func verify(at dir: String, fileSystem fs: any FileSystem = PosixFileSystem()) throws -> VerifyReport
    {
        var report = VerifyReport()
        let info = try manifest(at: dir, fileSystem: fs)
        for f in info.files {
            let path = FileNames.table(dir, f.number)
            do {
                guard let st = try fs.stat(path) else {
                    report.problems.append(.corruption(file: path, offset: 0, reason: "live table file is missing"))
                    continue
                }
                if st.size != f.size {
                    report.problems.append(
                        .corruption(
                            file: path, offset: min(st.size, f.size),
                            reason: "size \(st.size) differs from the manifest's \(f.size)"))
                    continue
                }
                let reader = try SSTableReader.open(fileSystem: fs, path: path, fileNumber: f.number, cache: nil)
                report.entriesChecked += try reader.verify()
                report.tablesChecked += 1
                report.bytesChecked += st.size
            } catch let e as LSMError {
                report.problems.append(e)
            }
        }
        var logs: [UInt64] = []
        for name in try fs.listDirectory(dir) {
            if case .log(let n)? = FileNames.parse(name), n >= info.logNumber { logs.append(n) }
        }
        logs.sort()
        for (i, n) in logs.enumerated() {
            let path = FileNames.log(dir, n)
            do {
                // As recovery reads them by default: only the newest log may end in a torn write.
                var reader = LogReader(
                    data: try fs.readFile(path), fileName: path, tail: i == logs.count - 1 ? .dropTornWrite : .strict)
                while let (record, offset) = try reader.next() {
                    let batch = WriteBatch(rep: record)
                    if record.count < WriteBatch.headerSize || batch.forEach({ _, _, _ in }) != nil {
                        throw LSMError.corruption(file: path, offset: UInt64(offset), reason: "malformed batch")
                    }
                }
                if let d = reader.dropped {
                    report.tornWrites.append(
                        WALDroppedRange(
                            file: path, offset: UInt64(d.offset), bytes: UInt64(reader.droppedTail), reason: d.reason))
                }
                report.logsChecked += 1
            } catch let e as LSMError {
                report.problems.append(e)
            }
        }
        return report
    }

    static func hexString(_ b: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var s = ""
        for x in b {
            s.append(digits[Int(x >> 4)])
            s.append(digits[Int(x & 15)])
        }
        return s
    }
}
