import Glibc
import LSMStore

/// One subtask's keyed state: its own LSMStore, with a write-back cache in front of it.
///
/// Store keys are `key group (2 bytes, big-endian) · state id (1) · key`, plus
/// `· map key` for map state with the key length-prefixed, so key-group ranges are
/// contiguous in the store. The cache holds recently used entries; updates stay in it until
/// `flush()` writes them in one batch — always before a checkpoint's synchronous phase, so
/// a checkpoint sees every update made before its barrier.
final class KeyedStateBackend {
    let store: LSMStore
    let maxParallelism: Int
    private var cache: [StateKey: CacheEntry] = [:]
    private var dirty = 0
    let cacheCapacity: Int
    /// Encoded current key and its 2-byte group prefix, set before each element.
    private(set) var currentKey: [UInt8] = []
    private(set) var currentGroup = 0

    struct CacheEntry {
        var value: [UInt8]?
        var dirty: Bool
    }

    init(store: LSMStore, maxParallelism: Int, cacheCapacity: Int = 100_000) {
        self.store = store
        self.maxParallelism = maxParallelism
        self.cacheCapacity = cacheCapacity
    }

    func setCurrentKey(_ key: [UInt8]) {
        currentKey = key
        currentGroup = KeyGroups.group(of: key, maxParallelism: maxParallelism)
    }

    func storeKey(state: UInt8, mapKey: [UInt8]? = nil) -> [UInt8] {
        var k = KeyGroups.prefix(currentGroup)
        k.reserveCapacity(3 + currentKey.count + (mapKey?.count ?? 0) + 4)
        k.append(state)
        if let mapKey {
            var n = currentKey.count
            while n >= 0x80 { k.append(UInt8(n & 0x7f) | 0x80); n >>= 7 }
            k.append(UInt8(n))
            k.append(contentsOf: currentKey)
            k.append(contentsOf: mapKey)
        } else {
            k.append(contentsOf: currentKey)
        }
        return k
    }

    func get(_ key: [UInt8]) throws -> [UInt8]? {
        if let e = cache[StateKey(key)] { return e.value }
        let v = try store.get(key)
        try admit(key, CacheEntry(value: v, dirty: false))
        return v
    }

    func put(_ key: [UInt8], _ value: [UInt8]?) throws {
        let k = StateKey(key)
        if let old = cache[k], old.dirty {
            cache[k] = CacheEntry(value: value, dirty: true)
        } else {
            try admit(key, CacheEntry(value: value, dirty: true))
        }
    }

    private func admit(_ key: [UInt8], _ e: CacheEntry) throws {
        if cache.count >= cacheCapacity {
            try flush()
            cache.removeAll(keepingCapacity: true)
        }
        cache[StateKey(key)] = e
        if e.dirty { dirty += 1 }
    }

    /// Record the entries each flush writes (for a checkpoint's lower bound).
    var trackChanges = false
    private var changes: [StateKey: [UInt8]?] = [:]

    /// The distinct entries written since the last call (deletions left out), sorted by key.
    func takeChanges() -> [(key: [UInt8], value: [UInt8])] {
        defer { changes.removeAll(keepingCapacity: true) }
        return changes.compactMap { k, v in v.map { (k.bytes, $0) } }.sorted { a, b in
            a.key.withUnsafeBytes { x in
                b.key.withUnsafeBytes { y in
                    let n = min(x.count, y.count)
                    let c = n == 0 ? 0 : memcmp(x.baseAddress!, y.baseAddress!, n)
                    return c != 0 ? c < 0 : x.count < y.count
                }
            }
        }
    }

    /// Writes every dirty entry to the store in one batch.
    func flush() throws {
        guard dirty > 0 else { return }
        var batch = WriteBatch()
        for (k, e) in cache where e.dirty {
            if let v = e.value { batch.put(k.bytes, v) } else { batch.delete(k.bytes) }
            if trackChanges { changes[k] = e.value }
        }
        try store.write(batch)
        for (k, e) in cache where e.dirty { cache[k] = CacheEntry(value: e.value, dirty: false) }
        dirty = 0
    }

    /// Entries of map state `state` for the current key, merged from the store and the cache.
    func mapEntries(state: UInt8) throws -> [(key: [UInt8], value: [UInt8])] {
        try flush()
        let prefix = storeKey(state: state, mapKey: [])
        var upper = prefix
        // The smallest key after every key with this prefix.
        while let last = upper.last, last == 0xff { upper.removeLast() }
        if !upper.isEmpty { upper[upper.count - 1] += 1 }
        return try store.scan(from: prefix, to: upper.isEmpty ? nil : upper).collect().map {
            (Array($0.key[prefix.count...]), $0.value)
        }
    }
}

/// A store key with a fast hash (eight bytes at a time), for the state cache: hashing an
/// `[UInt8]` feeds the hasher one byte at a time.
struct StateKey: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { raw in
            var h: UInt64 = UInt64(raw.count) &* 0x9E37_79B9_7F4A_7C15
            var i = 0
            while raw.count - i >= 8 {
                h = (h ^ raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xff51_afd7_ed55_8ccd
                h ^= h >> 29
                i += 8
            }
            while i < raw.count {
                h = (h ^ UInt64(raw[i])) &* 0x100_0000_01b3
                i += 1
            }
            hasher.combine(h)
        }
    }
}
