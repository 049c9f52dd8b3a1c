/// An embeddable, durable key-value store organised as a log-structured merge tree.
///
/// Keys and values are byte strings of any length, including empty. Writes go to a
/// write-ahead log and an in-memory table; full memtables are flushed to immutable sorted
/// tables (SSTs) that background compaction merges level by level. Reads see a consistent
/// state; `snapshot()` pins one.
///
/// ```swift
/// let store = try LSMStore.open(at: "/tmp/db")
/// try store.put(Array("k".utf8), Array("v".utf8))
/// let v = try store.get(Array("k".utf8))
/// try store.close()
/// ```
///
/// All methods are thread-safe. Call `close()` when done; a store that is deallocated
/// without it is closed then.
public final class LSMStore: @unchecked Sendable {
    let core: StoreCore

    /// The directory the store lives in.
    public var path: String { core.dir }

    /// The options the store was opened with.
    public var options: Options { core.options }

    private init(core: StoreCore) { self.core = core }

    deinit { try? core.close() }

    /// Opens the store in directory `path`, creating it when `options.createIfMissing` is set,
    /// or recovering it: the manifest is replayed, unflushed write-ahead logs are written to
    /// L0 tables (a torn last record is dropped), and files no version references are deleted.
    ///
    /// - Throws: `LSMError.locked` if another process has the store open,
    ///   `LSMError.corruption` naming the file and offset of damaged metadata,
    ///   `LSMError.io` for system errors, `LSMError.invalidArgument` for bad options.
    public static func open(at path: String, options: Options = Options()) throws -> LSMStore {
        LSMStore(core: try StoreCore.open(at: path, options: options))
    }

    /// Stops background work and releases the store. With the WAL disabled, the memtable is
    /// flushed first so no acknowledged write is lost (if that flush fails, the error is
    /// thrown). Closing twice is harmless; other calls after closing throw `LSMError.closed`.
    public func close() throws { try core.close() }

    /// Stores `value` under `key`. With `sync` (default: `options.syncWrites`), returns only
    /// after the write-ahead log is fsynced.
    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool? = nil) throws {
        // Sized for the entry (kind, two varint lengths of up to 5 bytes, key, value): one
        // allocation, no growth.
        var b = WriteBatch(reservingCapacity: 11 + key.count + value.count)
        b.put(key, value)
        try write(b, sync: sync)
    }

    /// Removes `key` (a no-op if absent).
    public func delete(_ key: [UInt8], sync: Bool? = nil) throws {
        var b = WriteBatch(reservingCapacity: 6 + key.count)
        b.delete(key)
        try write(b, sync: sync)
    }

    /// Applies every operation of `batch` atomically: readers and recovery after a crash see
    /// all of them or none.
    public func write(_ batch: WriteBatch, sync: Bool? = nil) throws {
        try core.write(batch, sync: sync ?? core.options.syncWrites)
    }

    /// The value stored under `key`, or nil. Reads as of `snapshot` when given.
    public func get(_ key: [UInt8], snapshot: Snapshot? = nil) throws -> [UInt8]? {
        try core.get(key, snapshot: snapshot)
    }

    /// Writes a batch whose keys strictly ascend straight into new tables, bypassing the
    /// memtable (and the write-ahead log): for large sorted batches, such as a state cache's
    /// checkpoint cut, it saves inserting every entry into the memtable and flushing the same
    /// bytes later. Atomic and durable on return (tables and manifest are synced). Writers
    /// wait while it runs; a non-empty memtable is flushed first.
    ///
    /// - Returns: what was written (nothing for an empty batch).
    /// - Throws: `LSMError.invalidArgument` when the keys do not strictly ascend (nothing is
    ///   written), `LSMError.io` for system errors.
    @discardableResult
    public func ingest(_ batch: WriteBatch) throws -> IngestSummary {
        try core.ingest(batch)
    }

    /// Writes the entries that `produce` passes to `add`, in strictly ascending key order,
    /// straight into new tables as `ingest(_:)` does, without building a batch first: a
    /// caller holding its entries sorted (or a sorted order of them) saves a copy of every
    /// key and value. A nil value writes a deletion. Atomic and durable on return; the views
    /// passed to `add` need only live during that call.
    ///
    /// - Returns: what was written: the entries, the tables and the stored size of their data
    ///   blocks (the entries' compressed size, without the tables' index, filter and footer).
    /// - Throws: `LSMError.invalidArgument` when a key does not strictly ascend, whatever
    ///   `produce` throws, and `LSMError.io` for system errors; in each case nothing is
    ///   written.
    @discardableResult
    public func ingestSorted(
        _ produce: (
            _ add: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer?) throws -> Void
        ) throws -> Void
    ) throws -> IngestSummary {
        try core.ingestSorted(produce)
    }

    /// Reads the value stored under `key` into `buffer`, replacing its contents and reusing
    /// its storage, so a caller that keeps one buffer reads without allocating. Returns
    /// false (and leaves `buffer` empty) when the key has no value.
    public func get(_ key: [UInt8], into buffer: inout [UInt8], snapshot: Snapshot? = nil) throws -> Bool {
        buffer.removeAll(keepingCapacity: true)
        return try core.withValue(key, snapshot: snapshot) { buffer.append(contentsOf: $0) } != nil
    }

    /// Calls `body` with a borrowed view of the value stored under `key` and returns its
    /// result, or nil without calling it when the key has no value. The view is valid only
    /// during the call; nothing is copied.
    public func withValue<R>(
        forKey key: [UInt8], snapshot: Snapshot? = nil, _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try core.withValue(key, snapshot: snapshot, body)
    }

    /// An iterator over the keys in [`from`, `to`) in ascending byte order (nil bounds are
    /// open), as of `snapshot` or of now.
    public func scan(from: [UInt8]? = nil, to: [UInt8]? = nil, snapshot: Snapshot? = nil) throws -> StoreIterator {
        try core.scan(from: from, to: to, snapshot: snapshot)
    }

    /// A consistent read view of the current state. Release it (or let it go) when done, so
    /// compaction can drop the old versions it keeps.
    public func snapshot() throws -> Snapshot { try core.snapshot() }

    /// Writes the memtable to an L0 table and waits until it is recorded in the manifest.
    public func flush() throws { try core.flush() }

    /// Flushes, compacts every level into the last non-empty one, then rewrites that level,
    /// waiting until done: afterwards each key has one version (deleted keys none), except
    /// what live snapshots still need.
    public func compact() throws { try core.compactAll() }

    /// Files and bytes per level, memtable sizes and counters of flush and compaction work.
    public var stats: StoreStats { core.stats() }
}

extension LSMStore {
    /// Convenience: `put` with UTF-8 strings.
    public func put(_ key: String, _ value: String, sync: Bool? = nil) throws {
        try put(Array(key.utf8), Array(value.utf8), sync: sync)
    }

    /// Convenience: `get` with a UTF-8 key, decoding the value as UTF-8 (invalid bytes are
    /// replaced).
    public func get(_ key: String, snapshot: Snapshot? = nil) throws -> String? {
        try get(Array(key.utf8), snapshot: snapshot).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Convenience: `delete` with a UTF-8 key.
    public func delete(_ key: String, sync: Bool? = nil) throws {
        try delete(Array(key.utf8), sync: sync)
    }
}
