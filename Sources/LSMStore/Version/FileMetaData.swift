/// One live SST as the manifest records it.
final class FileMetaData: @unchecked Sendable {
    let number: UInt64
    /// The table's open reader, once a point lookup has opened it (see `TableCache.reader(for:)`):
    /// a get finds it without the table cache's lock.
    let pinnedReader = PinnedReader()
    let size: UInt64
    /// Smallest and largest internal keys in the file.
    let smallest: [UInt8]
    let largest: [UInt8]
    /// CRC32C of the whole file, as written.
    let checksum: UInt32
    /// For a table restored from a checkpoint: the id of the store that wrote it, under the
    /// same number. Its shared checkpoint object is `<origin hex>-<number>.sst`, which an
    /// incremental checkpoint reuses when the storage holds it, instead of uploading the
    /// same bytes again under this store's id. Nil for a table this store wrote.
    let origin: [UInt8]?

    init(number: UInt64, size: UInt64, smallest: [UInt8], largest: [UInt8], checksum: UInt32, origin: [UInt8]? = nil) {
        self.number = number
        self.size = size
        self.smallest = smallest
        self.largest = largest
        self.checksum = checksum
        self.origin = origin
    }

    var smallestUserKey: [UInt8] { InternalKey.userKey(smallest) }
    var largestUserKey: [UInt8] { InternalKey.userKey(largest) }

    /// Whether the user key range [smallest, largest] of the file contains `userKey`.
    func contains(userKey: [UInt8]) -> Bool {
        compareUserKey(ofInternal: smallest, userKey) <= 0 && compareUserKey(ofInternal: largest, userKey) >= 0
    }

    /// Whether the file's user key range overlaps [lo, hi] (nil = unbounded).
    func overlaps(lo: [UInt8]?, hi: [UInt8]?) -> Bool {
        if let lo, compareUserKey(ofInternal: largest, lo) < 0 { return false }
        if let hi, compareUserKey(ofInternal: smallest, hi) > 0 { return false }
        return true
    }
}
