import Glibc

/// Uncompressed block bytes, tail-allocated in the object itself (one heap allocation per
/// block read, shared by the block cache and iterators). The header is the byte count.
final class BlockContents: ManagedBuffer<Int, UInt8>, @unchecked Sendable {
    /// Uninitialized contents of `count` bytes.
    static func make(count: Int) -> BlockContents {
        unsafeDowncast(BlockContents.create(minimumCapacity: max(count, 1)) { _ in count }, to: BlockContents.self)
    }

    /// A copy of `bytes`.
    static func make(_ bytes: UnsafeRawBufferPointer) -> BlockContents {
        let c = make(count: bytes.count)
        if let src = bytes.baseAddress, bytes.count > 0 { c.base.copyMemory(from: src, byteCount: bytes.count) }
        return c
    }

    /// The number of bytes.
    var count: Int { header }

    /// The first byte; valid only while this object is alive.
    var base: UnsafeMutableRawPointer { withUnsafeMutablePointerToElements { UnsafeMutableRawPointer($0) } }

    /// The bytes; valid only while this object is alive (use `withExtendedLifetime` or `bytes`).
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// A copy of the bytes.
    var bytes: [UInt8] { withExtendedLifetime(self) { [UInt8](buffer) } }
}

/// What is wrong with a block's bytes; the caller names the file and offset
/// (`LSMError.corruption`).
struct BlockDamage: Error {
    let reason: String
}

/// The bytes of one uncompressed block, borrowed (see `BlockBuilder` for the format): its
/// restart array located and checked, and the point lookup over it. It owns nothing, so a
/// lookup in a block decoded into a temporary buffer allocates nothing; `Block` is the
/// owning form the block cache and iterators share.
struct BlockView {
    let base: UnsafeRawPointer
    let restartsOffset: Int
    let numRestarts: Int

    /// Locates the restart array of the `count` bytes at `base`.
    init(_ base: UnsafeRawPointer, count: Int) throws(BlockDamage) {
        self.base = base
        guard count >= 4 else { throw BlockDamage(reason: "block too short (\(count) bytes)") }
        let n = Int(loadFixed32(base, count - 4))
        guard n >= 1, n <= (count - 4) / 4 else { throw BlockDamage(reason: "bad restart count \(n)") }
        numRestarts = n
        restartsOffset = count - 4 - 4 * n
    }

    @inline(__always)
    func restartPoint(_ i: Int) -> Int { Int(loadFixed32(base, restartsOffset + 4 * i)) }

    /// Point lookup: the first entry whose internal key is >= `target`, if it has the same
    /// user key. Returns the entry's kind byte and the range of its value from `base`.
    /// Allocates nothing: restart entries share no prefix, so the binary search compares
    /// their keys where they lie; the scan after it rebuilds keys in a stack buffer.
    /// Decoding is bounds-checked as the iterator's.
    func find(_ target: UnsafeRawBufferPointer) throws(BlockDamage) -> (kind: UInt8, value: Range<Int>)? {
        let base = self.base
        let limit = restartsOffset
        guard limit > 0 else { return nil }
        func corrupt(_ at: Int) -> BlockDamage { BlockDamage(reason: "block entry at \(at): entry overruns the block") }
        @inline(__always)
        func compare(_ k: UnsafeRawBufferPointer) -> Int {
            k.count >= 8 && target.count >= 8 ? compareInternal(k, target) : compareBytes(k, target)
        }
        // Binary search for the last restart point whose key is < target.
        var left = 0, right = numRestarts - 1
        while left < right {
            let mid = (left + right + 1) / 2
            var p = restartPoint(mid)
            let at = p
            guard p < limit, let shared = decodeVarint64(base, &p, limit), shared == 0,
                let nonShared = decodeVarint64(base, &p, limit), decodeVarint64(base, &p, limit) != nil,
                nonShared <= UInt64(limit - p)
            else { throw corrupt(at) }
            if compare(UnsafeRawBufferPointer(start: base + p, count: Int(nonShared))) < 0 {
                left = mid
            } else {
                right = mid - 1
            }
        }
        var p = restartPoint(left)
        guard p < limit else { throw corrupt(p) }
        // The scan's key buffer: on the stack, moved to the heap only for a key over 256 bytes.
        let result: Result<(kind: UInt8, value: Range<Int>)?, BlockDamage> = withUnsafeTemporaryAllocation(
            byteCount: 256, alignment: 8
        ) { stack in
            var buffer = stack.baseAddress!
            var capacity = stack.count
            var heap: UnsafeMutableRawPointer? = nil
            defer { heap?.deallocate() }
            var keyLength = 0
            while p < limit {
                let at = p
                guard let shared = decodeVarint64(base, &p, limit), let nonShared = decodeVarint64(base, &p, limit),
                    let vlen = decodeVarint64(base, &p, limit),
                    shared <= UInt64(keyLength), nonShared <= UInt64(limit - p), vlen <= UInt64(limit - p) - nonShared
                else { return .failure(corrupt(at)) }
                let length = Int(shared) + Int(nonShared)
                if length > capacity {
                    var c = capacity * 2
                    while c < length { c *= 2 }
                    let grown = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
                    grown.copyMemory(from: buffer, byteCount: Int(shared))
                    heap?.deallocate()
                    heap = grown
                    buffer = grown
                    capacity = c
                }
                if nonShared > 0 { (buffer + Int(shared)).copyMemory(from: base + p, byteCount: Int(nonShared)) }
                keyLength = length
                p += Int(nonShared)
                let key = UnsafeRawBufferPointer(start: buffer, count: keyLength)
                if compare(key) >= 0 {
                    guard keyLength == target.count, keyLength >= 8,
                        keyLength == 8 || memcmp(buffer, target.baseAddress!, keyLength - 8) == 0
                    else { return .success(nil) }
                    return .success((key[keyLength - 8], p..<(p + Int(vlen))))
                }
                p += Int(vlen)
            }
            return .success(nil)
        }
        return try result.get()
    }
}

/// A parsed block (see `BlockBuilder` for the format) that owns its bytes. Construction
/// validates the restart array; entry decoding is bounds-checked and reports corruption
/// with the block's file and offset.
final class Block: @unchecked Sendable {
    let contents: BlockContents
    /// The bytes as a `BlockView` (they live as long as `contents`, that is this block).
    let view: BlockView
    let fileName: String
    let fileOffset: UInt64

    init(_ contents: BlockContents, fileName: String, fileOffset: UInt64) throws {
        self.contents = contents
        self.fileName = fileName
        self.fileOffset = fileOffset
        do {
            view = try BlockView(contents.base, count: contents.count)
        } catch {
            throw LSMError.corruption(file: fileName, offset: fileOffset, reason: error.reason)
        }
    }

    var restartsOffset: Int { view.restartsOffset }
    var numRestarts: Int { view.numRestarts }

    func restartPoint(_ i: Int) -> Int { view.restartPoint(i) }

    func makeIterator() -> BlockIterator { BlockIterator(self) }

    /// `BlockView.find` over this block's bytes; the value range is in `contents` (valid
    /// while this block is alive).
    func find(_ target: UnsafeRawBufferPointer) throws -> (kind: UInt8, value: Range<Int>)? {
        do {
            return try view.find(target)
        } catch {
            throw LSMError.corruption(file: fileName, offset: fileOffset, reason: error.reason)
        }
    }

    /// Every entry, decoded (used for the index block and by tools).
    func allEntries() throws -> [(key: [UInt8], value: [UInt8])] {
        let it = makeIterator()
        var out: [(key: [UInt8], value: [UInt8])] = []
        try it.seekToFirst()
        while it.isValid {
            out.append((it.key, it.value))
            try it.next()
        }
        return out
    }
}

/// Iterates a block's entries (keys compared as internal keys).
final class BlockIterator: InternalIterator {
    let block: Block
    private var current: Int  // offset of current entry; == restartsOffset when invalid
    private var nextOffset: Int
    private let keyBuf: KeyBuffer
    private var valueStart = 0
    private var valueLength = 0
    private let base: UnsafeRawPointer

    init(_ block: Block) {
        self.block = block
        self.current = block.restartsOffset
        self.nextOffset = block.restartsOffset
        self.base = UnsafeRawPointer(block.contents.base)
        self.keyBuf = KeyBuffer()
    }

    var isValid: Bool { current < block.restartsOffset }
    var keyView: UnsafeRawBufferPointer { keyBuf.view }
    var valueView: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + valueStart, count: valueLength) }

    private func corruption(_ at: Int, _ why: String) -> LSMError {
        .corruption(file: block.fileName, offset: block.fileOffset, reason: "block entry at \(at): \(why)")
    }

    /// Decodes the entry at `offset` on top of the current key.
    private func parse(at offset: Int) throws {
        let limit = block.restartsOffset
        var p = offset
        guard let shared = decodeVarint64(base, &p, limit),
            let nonShared = decodeVarint64(base, &p, limit),
            let vlen = decodeVarint64(base, &p, limit)
        else { throw corruption(offset, "bad entry header") }
        guard shared <= UInt64(keyBuf.count), nonShared <= UInt64(limit - p),
            vlen <= UInt64(limit - p) - nonShared
        else { throw corruption(offset, "entry overruns the block") }
        keyBuf.replace(from: Int(shared), with: UnsafeRawBufferPointer(start: base + p, count: Int(nonShared)))
        // Every key of a block (data or index) is an internal key: a shorter one, or an
        // unknown kind, would trap the comparisons above it, so it is corruption here.
        guard keyBuf.count >= 8, ValueKind(rawValue: keyBuf.view[keyBuf.count - 8]) != nil else {
            throw corruption(offset, "not an internal key (\(keyBuf.count) bytes)")
        }
        p += Int(nonShared)
        valueStart = p
        valueLength = Int(vlen)
        current = offset
        nextOffset = p + Int(vlen)
    }

    private func seekToRestart(_ i: Int) throws {
        keyBuf.count = 0
        let off = block.restartPoint(i)
        guard off < block.restartsOffset else { throw corruption(off, "restart point past entries") }
        try parse(at: off)
    }

    func seekToFirst() throws {
        keyBuf.count = 0
        if block.restartsOffset == 0 {
            current = block.restartsOffset
            return
        }
        try seekToRestart(0)
    }

    func next() throws {
        guard isValid else { return }
        if nextOffset >= block.restartsOffset {
            current = block.restartsOffset
            return
        }
        try parse(at: nextOffset)
    }

    func seek(_ target: [UInt8]) throws {
        if block.restartsOffset == 0 {
            current = block.restartsOffset
            return
        }
        // Binary search for the last restart point whose key is < target.
        var left = 0
        var right = block.numRestarts - 1
        while left < right {
            let mid = (left + right + 1) / 2
            try seekToRestart(mid)
            let c = target.withUnsafeBytes { t in compareKeys(keyBuf.view, t) }
            if c < 0 { left = mid } else { right = mid - 1 }
        }
        try seekToRestart(left)
        while isValid {
            let c = target.withUnsafeBytes { t in compareKeys(keyBuf.view, t) }
            if c >= 0 { return }
            try next()
        }
    }

    /// Internal keys compare as internal keys; shorter keys (never produced by this store)
    /// compare bytewise so a corrupt block cannot trap.
    @inline(__always)
    private func compareKeys(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        if a.count >= 8 && b.count >= 8 { return compareInternal(a, b) }
        return compareBytes(a, b)
    }
}

/// A growable byte buffer whose storage does not move while its size stays within capacity,
/// so views of it stay valid until the next change (unlike an Array, whose buffer may be
/// shared or reallocated).
final class KeyBuffer {
    private(set) var base: UnsafeMutableRawPointer
    private var capacity: Int
    var count = 0

    init(capacity: Int = 64) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit { base.deallocate() }

    var view: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Keeps the first `prefix` bytes and appends `tail`.
    @inline(__always)
    func replace(from prefix: Int, with tail: UnsafeRawBufferPointer) {
        let n = prefix + tail.count
        if n > capacity {
            var c = capacity * 2
            while c < n { c *= 2 }
            let nb = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 8)
            nb.copyMemory(from: base, byteCount: prefix)
            base.deallocate()
            base = nb
            capacity = c
        }
        if tail.count > 0 { (base + prefix).copyMemory(from: tail.baseAddress!, byteCount: tail.count) }
        count = n
    }

    func set(_ bytes: UnsafeRawBufferPointer) { replace(from: 0, with: bytes) }

    /// Sets the buffer to the internal key of `userKey` with `trailer` (sequence and kind).
    @inline(__always)
    func setInternal(_ userKey: UnsafeRawBufferPointer, trailer: UInt64) {
        replace(from: 0, with: userKey)
        withUnsafeBytes(of: trailer.littleEndian) { replace(from: userKey.count, with: $0) }
    }
}
