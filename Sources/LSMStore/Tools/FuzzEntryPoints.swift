/// Entry points for fuzzing every decoder of stored bytes (`lsm-fuzz`, `make fuzz`). Each takes
/// arbitrary bytes, builds from them what the decoder reads (behind checksums the harness
/// computes, so crafted contents reach the decoder instead of failing the checksum), and runs
/// the decoder and what consumes its output. Errors are the expected outcome for most inputs;
/// a trap is a bug. Not part of the store's API: reachable with `@_spi(Fuzzing) import`.
@_spi(Fuzzing) public enum FuzzEntryPoints {
    /// The targets by name, each a function of the input bytes; those that build a store or
    /// a storage do it on a fresh file system from `makeFileSystem` (an in-memory one).
    public static func targets(
        makeFileSystem: @escaping @Sendable () -> any FileSystem
    ) -> [(name: String, run: @Sendable ([UInt8]) -> Void)] {
        [
            ("block", block), ("table", { table($0, fs: makeFileSystem()) }), ("filter", filter),
            ("wal", { wal($0, makeFileSystem: makeFileSystem) }), ("manifest", { manifest($0, fs: makeFileSystem()) }),
            ("current", current), ("checkpoint-metadata", { checkpointMetadata($0, fs: makeFileSystem()) }),
        ]
    }

    /// A data or index block's contents, iterated, sought and searched.
    public static func block(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let contents = input.take(input.remaining > 0 ? Int(input.byte()) * 16 + input.remaining / 2 : 0)
        let probes = input.rest()
        do {
            let block = try Block(
                contents.withUnsafeBytes { BlockContents.make($0) }, fileName: "fuzz-block", fileOffset: 0)
            var keys: [[UInt8]] = []
            let it = block.makeIterator()
            try it.seekToFirst()
            while it.isValid && keys.count < 10_000 {
                keys.append(it.key)
                _ = it.value
                try it.next()
            }
            for k in keys.prefix(4) + [probes] {
                try it.seek(k)
                _ = try k.withUnsafeBytes { try block.find($0) }
            }
        } catch {}
    }

    /// A table assembled from crafted data blocks, index keys, filter and properties, with
    /// valid trailers and footer; read, verified, and then used as a store's only table:
    /// opened, scanned, read and compacted.
    public static func table(_ data: [UInt8], fs: any FileSystem) {
        var input = FuzzInput(data)
        var file: [UInt8] = []
        var indexKeys: [[UInt8]] = []
        var handles: [BlockHandle] = []
        func appendBlock(_ raw: [UInt8], mode: UInt8) -> BlockHandle {
            var stored: [UInt8]
            var type: UInt8
            switch mode % 3 {
            case 0: (stored, type) = (raw, BlockCompressionType.uncompressed.rawValue)
            case 1:
                let e = encodeBlockForStorage(raw, compression: .lz4)
                (stored, type) = (e.bytes, e.type.rawValue)
            default:
                // Crafted LZ4: a claimed length, then the bytes as if compressed.
                stored = []
                putVarint64(&stored, UInt64(raw.count) * 2)
                stored += raw
                type = BlockCompressionType.lz4.rawValue
            }
            let h = BlockHandle(offset: UInt64(file.count), size: UInt64(stored.count))
            file += stored
            file.append(type)
            putFixed32(&file, CRC32C.mask(CRC32C.checksum(stored + [type])))
            return h
        }
        let blocks = Int(input.byte() % 4) + 1
        for _ in 0..<blocks {
            let mode = input.byte()
            var raw: [UInt8]
            if mode & 0x80 != 0 {
                // Well-formed block encoding around crafted entries (any key length, any order).
                var b = BlockBuilder(restartInterval: Int(mode & 3) + 1)
                for _ in 0..<Int(input.byte() % 16) { b.add(input.lengthPrefixed(), input.lengthPrefixed()) }
                raw = b.finish()
            } else {
                raw = input.lengthPrefixed()
            }
            handles.append(appendBlock(raw, mode: mode))
            indexKeys.append(input.lengthPrefixed())
        }
        var index = BlockBuilder(restartInterval: 1)
        for (k, h) in zip(indexKeys, handles) {
            var v = [UInt8]()
            h.encode(into: &v)
            index.add(k, v)
        }
        let filterBytes = input.lengthPrefixed()
        let filterHandle = filterBytes.isEmpty ? BlockHandle(offset: 0, size: 0) : appendBlock(filterBytes, mode: 0)
        var props = TableProperties()
        props.entryCount = UInt64(input.byte())
        props.dataBlockCount = UInt64(blocks)
        props.smallestKey = indexKeys.first ?? []
        props.largestKey = indexKeys.last ?? []
        let propsHandle = appendBlock(input.byte() & 1 == 0 ? props.encode() : input.lengthPrefixed(), mode: 0)
        let indexHandle = appendBlock(index.finish(), mode: input.byte())
        file += Footer(index: indexHandle, filter: filterHandle, properties: propsHandle).encode()
        let probe = input.rest()

        do {
            let reader = try SSTableReader(file: MemoryFile(path: "fuzz.sst", bytes: file), fileNumber: 5, cache: nil)
            _ = try? reader.verify()
            let it = reader.makeIterator(fillCache: false)
            try it.seekToFirst()
            var n = 0
            while it.isValid && n < 10_000 {
                _ = it.key
                try it.next()
                n += 1
            }
            for k in indexKeys + [probe] {
                try it.seek(k)
                _ = try k.withUnsafeBytes {
                    try reader.get($0, userKeyHash: bloomHash(k)) { kind, value in (kind, value.count) }
                }
            }
        } catch {}
        // A manifest names a table with valid internal keys (its decoder checks them); what
        // the table holds inside is what is crafted.
        func valid(_ k: [UInt8]) -> [UInt8] {
            InternalKey.isValid(k) ? k : k + [ValueKind.value.rawValue, 0, 0, 0, 0, 0, 0, 0]
        }
        runStore(withTable: file, smallest: valid(indexKeys.first ?? []), largest: valid(indexKeys.last ?? []), fs: fs)
    }

    /// A store whose manifest names `table` (at L0 and, as a second file, at L1): opened,
    /// scanned, read and compacted, so iterators, compaction and the table writer meet the
    /// crafted keys.
    static func runStore(withTable table: [UInt8], smallest: [UInt8], largest: [UInt8], fs: any FileSystem) {
        let dir = "/fuzz"
        do {
            try fs.createDirectory(dir)
            for n: UInt64 in [7, 8] {
                let f = try fs.create(FileNames.table(dir, n))
                try f.append(table)
                try f.sync()
                try f.close()
            }
            var options = Options()
            options.fileSystem = fs
            options.walEnabled = false
            let versions = VersionSet(dir: dir, fs: fs, options: options)
            versions.create()
            versions.nextFileNumber = 10
            versions.lastSequence = 1 << 20
            var edit = VersionEdit()
            let crc = CRC32C.checksum(table)
            edit.addFile(
                0,
                FileMetaData(number: 7, size: UInt64(table.count), smallest: smallest, largest: largest, checksum: crc))
            edit.addFile(
                1,
                FileMetaData(number: 8, size: UInt64(table.count), smallest: smallest, largest: largest, checksum: crc))
            edit.logNumber = 0
            try versions.logAndApply(&edit)
            versions.close()
            let store = try LSMStore.open(at: dir, options: options)
            defer { try? store.close() }
            let it = try store.scan()
            var n = 0
            while let (k, _) = try it.next(), n < 10_000 {
                _ = try store.get(k)
                n += 1
            }
            _ = try store.get(smallest)
            try store.compact()
        } catch {}
    }

    /// Filter bytes probed with hashes from the input.
    public static func filter(_ data: [UInt8]) {
        var input = FuzzInput(data)
        let filter = BloomFilter(data: input.lengthPrefixed())
        while input.remaining >= 8 { _ = filter.mayContain(userKeyHash: decodeFixed64(input.take(8), 0)) }
        _ = filter.mayContain(userKeyHash: 0)
    }

    /// A write-ahead log of crafted records (correctly framed and checksummed), then crafted
    /// trailing bytes, recovered under each recovery mode.
    public static func wal(_ data: [UInt8], makeFileSystem: () -> any FileSystem) {
        var input = FuzzInput(data)
        let records = Int(input.byte() % 8)
        var logical: [[UInt8]] = []
        for _ in 0..<records { logical.append(input.lengthPrefixed(wide: true)) }
        let tail = input.rest()
        for mode in WALRecoveryMode.allCases {
            let fs = makeFileSystem()
            do {
                try fs.createDirectory("/fuzz")
                let w = LogWriter(file: try fs.create(FileNames.log("/fuzz", 3)))
                for r in logical { try w.addRecord(r) }
                try w.file.append(tail)
                try w.sync()
                try w.close()
                var options = Options()
                options.fileSystem = fs
                options.walRecoveryMode = mode
                let store = try LSMStore.open(at: "/fuzz", options: options)
                defer { try? store.close() }
                let it = try store.scan()
                var n = 0
                while let _ = try it.next(), n < 10_000 { n += 1 }
                try store.put([1], [2])
                try store.flush()
            } catch {}
        }
        var reader = LogReader(data: data, fileName: "fuzz.log", tail: .stopAtDamage)
        while let _ = try? reader.next() {}
    }

    /// A manifest of crafted edits (framed and checksummed) named by a valid CURRENT; read,
    /// then the store opened.
    public static func manifest(_ data: [UInt8], fs: any FileSystem) {
        var input = FuzzInput(data)
        let edits = Int(input.byte() % 6)
        var records: [[UInt8]] = []
        for _ in 0..<edits { records.append(input.lengthPrefixed(wide: true)) }
        do {
            try fs.createDirectory("/fuzz")
            let w = LogWriter(file: try fs.create(FileNames.manifest("/fuzz", 2)))
            for r in records { try w.addRecord(r) }
            try w.sync()
            try w.close()
            try fs.writeFileAtomically(FileNames.current("/fuzz"), FileNames.encodeCurrent(2))
            _ = try? Inspector.manifest(at: "/fuzz", fileSystem: fs)
            var options = Options()
            options.fileSystem = fs
            let store = try LSMStore.open(at: "/fuzz", options: options)
            try store.close()
        } catch {}
        for r in records { _ = VersionEdit.decode(r).map { Version.empty.applying($0).overlapError() } }
    }

    /// CURRENT's bytes.
    public static func current(_ data: [UInt8]) {
        _ = try? FileNames.decodeCurrent(data, path: "CURRENT")
    }

    /// Checkpoint `_metadata` and `_claim`, as given and with valid framing around crafted
    /// payloads; a decoded checkpoint is listed, verified and restored from a storage.
    public static func checkpointMetadata(_ data: [UInt8], fs: any FileSystem) {
        _ = try? CheckpointMetadata.decode(data, name: "_metadata")
        _ = try? CheckpointClaim.decode(data, name: "_claim")
        var framed = CheckpointMetadata.magic
        putFixed32(&framed, CheckpointMetadata.formatVersion)
        putFixed32(&framed, UInt32(data.count))
        framed += data
        putFixed32(&framed, CRC32C.mask(CRC32C.checksum(framed)))
        guard let m = try? CheckpointMetadata.decode(framed, name: "_metadata") else { return }
        do {
            let storage = try LocalCheckpointStorage(root: "/storage", fileSystem: fs, allowLinks: false)
            guard try storage.createExclusively(Checkpointer.metadataName(m.id), framed) else { return }
            for f in m.files {
                _ = try? storage.putAtomically(f.name, [UInt8](repeating: 0, count: Int(min(f.size, 4096))))
            }
            _ = try CheckpointCatalog.load(storage).latest()
            _ = try Checkpointer.verify(storage: storage)
            var options = Options()
            options.fileSystem = fs
            let store = try LSMStore.restore(from: storage, to: "/restored", options: options)
            try store.close()
        } catch {}
    }
}

/// Splits fuzz input into pieces; past the end it yields zeros and empty pieces.
struct FuzzInput {
    let data: [UInt8]
    var position = 0

    init(_ data: [UInt8]) { self.data = data }

    var remaining: Int { data.count - position }

    mutating func byte() -> UInt8 {
        guard position < data.count else { return 0 }
        position += 1
        return data[position - 1]
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let k = max(0, min(n, remaining))
        defer { position += k }
        return Array(data[position..<(position + k)])
    }

    /// A piece whose length is the next byte (or two bytes when `wide`).
    mutating func lengthPrefixed(wide: Bool = false) -> [UInt8] {
        let n = wide ? Int(byte()) | Int(byte()) << 8 : Int(byte())
        return take(n)
    }

    mutating func rest() -> [UInt8] { take(remaining) }
}
