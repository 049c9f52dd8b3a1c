import LSMStore

/// Savepoint I/O: a subtask's part written from its store, the metadata, and a part read
/// back and checked (for a restore or a verification).
enum SavepointStore {
    static func partName(_ subtask: Int) -> String { "part-\(subtask)" }

    /// The savepoint's metadata and its size in bytes.
    static func readMetadata(
        _ storage: any CheckpointStorage, location: String
    ) throws -> (SavepointMetadata, Int) {
        let name = SavepointMetadata.fileName
        guard try storage.size(name) != nil else {
            throw StreamError.savepoint("\(location): no savepoint here (no \(name))")
        }
        let bytes = try storage.get(name)
        return (try SavepointMetadata.decode(bytes, name: "\(location)/\(name)"), bytes.count)
    }

    /// A part's group blocks, after every check: its size, each block's checksum and order
    /// (which locate damage), the whole object's checksum, and each entry's state id.
    static func readPart(
        _ part: SavepointMetadata.Part, metadata m: SavepointMetadata, storage: any CheckpointStorage,
        location: String
    ) throws -> [SavepointGroupBlock] {
        let name = "\(location)/\(part.name)"
        guard try storage.size(part.name) != nil else { throw StreamError.savepoint("\(name) is missing") }
        let data = try storage.get(part.name)
        guard data.count == part.size else {
            throw StreamError.savepoint("\(name): \(data.count) bytes, the metadata says \(part.size)")
        }
        let blocks = try SavepointPart.decode(data, name: name, first: part.firstGroup, last: part.lastGroup)
        guard Checksum.crc32c(data) == part.crc32c else {
            throw StreamError.savepoint("\(name): checksum mismatch over the whole object (bytes 0..<\(data.count))")
        }
        let ids = Set(m.states.map(\.id))
        for b in blocks {
            if let e = b.entries.first(where: { !ids.contains($0.state) }) {
                throw StreamError.savepoint(
                    "\(name): key group \(b.group) holds an entry of state id \(e.state), which the metadata does not list"
                )
            }
        }
        return blocks
    }

    /// Writes subtask `subtask`'s part from its store as of `snapshot` (taken once the
    /// savepoint's cut was in it, and released here), leaving out entries of states with a time to live that have expired at
    /// `ttl.now`. Returns the part's description and its entries per state id.
    static func writePart(
        store: LSMStore, snapshot: Snapshot, subtask: Int, groups: Range<Int>, storage: any CheckpointStorage,
        ttl: (configs: [StateTtlConfig?], now: Int64)?
    ) throws -> (part: SavepointMetadata.Part, perState: [UInt8: UInt64]) {
        defer { snapshot.release() }
        let it = try store.scan(snapshot: snapshot)
        var out = SavepointBytes()
        out.out = SavepointPart.magic
        var group = -1
        var entries: [(state: UInt8, key: ArraySlice<UInt8>, value: ArraySlice<UInt8>)] = []
        var blocks: UInt32 = 0
        var count: UInt64 = 0
        var perState: [UInt8: UInt64] = [:]
        func endBlock() {
            guard !entries.isEmpty else { return }
            SavepointPart.appendBlock(group: UInt16(group), entries: entries, to: &out)
            blocks += 1
            entries.removeAll(keepingCapacity: true)
        }
        while let (k, v) = try it.next() {
            guard k.count >= 3 else {
                throw StreamError.savepoint(
                    "subtask \(subtask)'s store holds a key of \(k.count) bytes, not keyed state")
            }
            if let ttl, TtlStates.isExpired(key: k, value: v, now: ttl.now, configs: ttl.configs) { continue }
            let g = Int(k[0]) << 8 | Int(k[1])
            guard groups.contains(g) else {
                throw StreamError.savepoint("subtask \(subtask)'s store holds key group \(g), outside its \(groups)")
            }
            if g != group {
                endBlock()
                group = g
            }
            entries.append((k[2], k[3...], v[...]))
            perState[k[2], default: 0] += 1
            count += 1
        }
        endBlock()
        let name = partName(subtask)
        try storage.putAtomically(name, out.out)
        let part = SavepointMetadata.Part(
            name: name, firstGroup: UInt16(groups.lowerBound), lastGroup: UInt16(groups.upperBound - 1),
            blocks: blocks, entries: count, size: UInt64(out.out.count), crc32c: Checksum.crc32c(out.out))
        return (part, perState)
    }

    /// Loads the entries of key groups `groups` from every part that holds some into `store`
    /// (empty), in key order, as tables.
    static func load(
        _ m: SavepointMetadata, storage: any CheckpointStorage, location: String, into store: LSMStore,
        groups: Range<Int>
    ) throws {
        for part in m.parts.sorted(by: { $0.firstGroup < $1.firstGroup })
        where Int(part.firstGroup) < groups.upperBound && Int(part.lastGroup) >= groups.lowerBound {
            let blocks = try readPart(part, metadata: m, storage: storage, location: location)
            var batch = WriteBatch()
            var key: [UInt8] = []
            for b in blocks where groups.contains(Int(b.group)) {
                for e in b.entries {
                    key.removeAll(keepingCapacity: true)
                    key.append(UInt8(b.group >> 8))
                    key.append(UInt8(b.group & 0xff))
                    key.append(e.state)
                    key.append(contentsOf: e.key)
                    batch.put(key, Array(e.value))
                }
            }
            if !batch.isEmpty { try store.ingest(batch) }
        }
    }
}
