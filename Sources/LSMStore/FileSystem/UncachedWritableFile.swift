import CPlatform
import Glibc

/// A file written with `O_DIRECT` (`PosixFileSystem.createUncached`): bytes go from the
/// caller's memory to the device without passing through the page cache.
///
/// Direct writes need buffers, offsets and lengths aligned to the device's block; this file
/// uses 4,096 bytes. An append whose bytes start at an aligned address while nothing is
/// staged is written straight from them, as many whole blocks as it holds (a checkpoint's
/// copy reads into an aligned buffer, so every chunk but a table's last goes that way);
/// anything else is staged in an aligned buffer of its own and written a megabyte at a
/// time. `sync` and `close` write the staged tail rounded up to a whole block, zero-padded,
/// then cut the file back to its true size with `ftruncate`; the tail stays staged, so a
/// later append rewrites that block with more bytes after it. A direct write the device
/// refuses for its alignment (EINVAL) turns `O_DIRECT` off for the file, and the writes go
/// through the page cache from then on.
final class UncachedWritableFile: WritableFile {
    static let alignment = 4096
    static let stagingSize = 1 << 20
    private var fd: Int32
    let path: String
    /// Bytes appended.
    private(set) var size: UInt64 = 0
    /// Staged bytes, which belong at file offset `stagedOffset` (a multiple of the alignment).
    private var staging: UnsafeMutableRawPointer? = nil
    private var staged = 0
    private var stagedOffset: UInt64 = 0
    /// The file on disk is longer than `size` (a padded tail not yet cut back).
    private var padded = false

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit {
        staging?.deallocate()
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    func append(_ data: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw LSMError.io(path: path, operation: "write", errno: EBADF) }
        guard let base = data.baseAddress, data.count > 0 else { return }
        var done = 0
        let a = UncachedWritableFile.alignment
        if staged == 0 && Int(bitPattern: base) % a == 0 {
            let whole = data.count / a * a
            if whole > 0 {
                try writeFully(UnsafeRawBufferPointer(start: base, count: whole), at: stagedOffset)
                stagedOffset += UInt64(whole)
                size += UInt64(whole)
                done = whole
            }
        }
        while done < data.count {
            let buffer = stagingBuffer()
            let n = min(data.count - done, UncachedWritableFile.stagingSize - staged)
            (buffer + staged).copyMemory(from: base + done, byteCount: n)
            staged += n
            done += n
            size += UInt64(n)
            if staged == UncachedWritableFile.stagingSize {
                try writeFully(UnsafeRawBufferPointer(start: buffer, count: staged), at: stagedOffset)
                stagedOffset += UInt64(staged)
                staged = 0
            }
        }
    }

    /// Writes the staged tail, padded to a whole block, and cuts the file back to `size`.
    private func writeTail() throws {
        if staged > 0, let buffer = staging {
            let a = UncachedWritableFile.alignment
            let rounded = (staged + a - 1) / a * a
            (buffer + staged).initializeMemory(as: UInt8.self, repeating: 0, count: rounded - staged)
            try writeFully(UnsafeRawBufferPointer(start: buffer, count: rounded), at: stagedOffset)
            padded = rounded != staged
        }
        if padded {
            if ftruncate(fd, off_t(size)) != 0 { throw LSMError.io(path: path, operation: "ftruncate", errno: errno) }
            padded = false
        }
    }

    func sync() throws {
        guard fd >= 0 else { throw LSMError.io(path: path, operation: "fsync", errno: EBADF) }
        try writeTail()
        if fdatasync(fd) != 0 { throw LSMError.io(path: path, operation: "fdatasync", errno: errno) }
    }

    func close() throws {
        guard fd >= 0 else { return }
        var failure: Error? = nil
        do { try writeTail() } catch { failure = error }
        let r = Glibc.close(fd)
        fd = -1
        if let failure { throw failure }
        if r != 0 { throw LSMError.io(path: path, operation: "close", errno: errno) }
    }

    private func stagingBuffer() -> UnsafeMutableRawPointer {
        if let staging { return staging }
        let b = UnsafeMutableRawPointer.allocate(
            byteCount: UncachedWritableFile.stagingSize, alignment: UncachedWritableFile.alignment)
        staging = b
        return b
    }

    /// `pwrite`s all of `bytes` at `offset`, retrying short writes; on EINVAL (an alignment
    /// the device refuses) turns `O_DIRECT` off once and retries through the page cache.
    private func writeFully(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        var direct = true
        while done < bytes.count {
            let n = pwrite(fd, base + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EINVAL && direct {
                    direct = false
                    if lsm_clear_direct(fd) == 0 { continue }
                }
                throw LSMError.io(path: path, operation: "write at offset \(offset + UInt64(done))", errno: e)
            }
            done += n
        }
    }
}
