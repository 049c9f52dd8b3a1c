/// Writes a sorted stream of internal entries into new tables, for flushes (and ingests) and
/// compactions alike: it notices where a user key starts, applies the rule that drops
/// versions no reader can see, opens a table (reserving its file number) at the first entry
/// kept after `endTable()`, and ends tables where the caller decides (only between user
/// keys, so the tables of a level never share a user key).
///
/// The rule: the newest version of a key is always kept; an older one only when some
/// snapshot sees it and not the version above it (its snapshot stripe differs, RocksDB's
/// rule). What else a caller drops (a compaction's deletion markers with nothing below
/// them) it decides itself.
final class TableOutput {
    private let core: StoreCore
    private let snapshots: [UInt64]
    private let syncEach: Bool
    /// Tables finished so far.
    private(set) var files: [FileMetaData] = []
    /// Every file number reserved, finished or not (the caller releases them).
    private(set) var reserved: [UInt64] = []
    /// Stored bytes of the finished tables' data blocks (trailers included).
    private(set) var dataBytes: UInt64 = 0
    @exclusivity(unchecked) private var writer = HeldObject<SSTableWriter>()
    private var number: UInt64 = 0
    private let userKey = KeyBuffer()
    private var haveUserKey = false
    private var lastStripe = -1

    /// An output for `core`'s directory. `syncEach`: sync each table as it is finished
    /// (otherwise the caller makes them durable together).
    init(core: StoreCore, snapshots: [UInt64], syncEach: Bool = true) {
        self.core = core
        self.snapshots = snapshots
        self.syncEach = syncEach
    }

    /// Whether `ikey` starts a new user key (it becomes the current one).
    @inline(__always)
    func startsUserKey(_ ikey: UnsafeRawBufferPointer) -> Bool {
        let key = UnsafeRawBufferPointer(rebasing: ikey[0..<(ikey.count - 8)])
        guard !haveUserKey || compareBytes(key, userKey.view) != 0 else { return false }
        userKey.set(key)
        haveUserKey = true
        return true
    }

    /// Whether a version with `sequence` is visible to some reader, given whether it is the
    /// newest of its user key (as `startsUserKey` said). Call once per entry, in order.
    @inline(__always)
    func isVisible(sequence: UInt64, newUserKey: Bool) -> Bool {
        let stripe = snapshotStripe(sequence, snapshots)
        defer { lastStripe = stripe }
        return newUserKey || stripe != lastStripe
    }

    /// True while a table is open.
    var hasOpenTable: Bool { writer.isSet }

    /// The open table's size so far (0 when none is open).
    var openTableSize: UInt64 { writer.with { $0.estimatedFileSize } ?? 0 }

    /// Appends an entry to the open table, opening one if needed.
    @inline(__always)
    func append(_ ikey: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws {
        if !writer.isSet {
            number = core.reserveOutput()
            reserved.append(number)
            writer.set(
                SSTableWriter(file: try core.fs.create(FileNames.table(core.dir, number)), options: core.tableOptions))
        }
        try writer.with { try $0.add(ikey, value) }
    }

    /// Finishes the open table, if any; the next kept entry opens a new one.
    func endTable() throws {
        guard let w = writer.with({ $0 }) else { return }
        writer.set(nil)
        files.append(try w.finish(number: number, sync: syncEach))
        dataBytes += w.properties.dataBytes
    }

    /// Abandons the open table after a failure (its file is the caller's to remove, with the
    /// other reserved ones).
    func abandon() {
        writer.with { $0.abandon() }
        writer.set(nil)
    }
}
