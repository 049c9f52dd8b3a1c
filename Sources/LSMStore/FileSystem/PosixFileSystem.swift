import CPlatform
import Glibc
import Synchronization

/// The production file system: direct POSIX calls.
public struct PosixFileSystem: FileSystem {
    /// Creates the POSIX file system.
    public init() {}

    /// See `FileSystem`.
    public func create(_ path: String) throws -> any WritableFile {
        // Replace, never truncate: an existing name may be a hard link shared with a
        // checkpoint, whose bytes must not change.
        if unlink(path) != 0 && errno != ENOENT {
            throw LSMError.io(path: path, operation: "unlink before create", errno: errno)
        }
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
        if fd < 0 { throw LSMError.io(path: path, operation: "create", errno: errno) }
        return PosixWritableFile(fd: fd, path: path)
    }

    /// See `FileSystem`. Opens the file with `O_DIRECT` (`UncachedWritableFile`); where the
    /// file system refuses that (EINVAL), as `create` does.
    public func createUncached(_ path: String) throws -> any WritableFile {
        if unlink(path) != 0 && errno != ENOENT {
            throw LSMError.io(path: path, operation: "unlink before create", errno: errno)
        }
        let fd = lsm_create_direct(path)
        if fd >= 0 { return UncachedWritableFile(fd: fd, path: path) }
        if errno != EINVAL { throw LSMError.io(path: path, operation: "create (O_DIRECT)", errno: errno) }
        return try create(path)
    }

    /// See `FileSystem`.
    public func openRandomAccess(_ path: String) throws -> any RandomAccessFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LSMError.io(path: path, operation: "open", errno: errno) }
        return PosixRandomAccessFile(fd: fd, path: path)
    }

    /// See `FileSystem`. Maps the file while fewer than `MappedFileBudget.limit` files are
    /// mapped in the process and the file is not empty; otherwise opens it as
    /// `openRandomAccess` does.
    public func openMapped(_ path: String) throws -> any RandomAccessFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LSMError.io(path: path, operation: "open", errno: errno) }
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 {
            let e = errno
            _ = Glibc.close(fd)
            throw LSMError.io(path: path, operation: "fstat", errno: e)
        }
        let size = Int(st.st_size)
        if size > 0, MappedFileBudget.shared.take() {
            if let base = lsm_map_file(fd, size) {
                return PosixMappedFile(fd: fd, path: path, base: UnsafeRawPointer(base), count: size)
            }
            MappedFileBudget.shared.give()
        }
        return PosixRandomAccessFile(fd: fd, path: path)
    }

    /// See `FileSystem`.
    public func rename(_ from: String, to: String) throws {
        let r = Glibc.rename(from, to)
        if r != 0 { throw LSMError.io(path: from, operation: "rename to \(to)", errno: errno) }
    }

    /// See `FileSystem`.
    public func remove(_ path: String) throws {
        if unlink(path) != 0 { throw LSMError.io(path: path, operation: "unlink", errno: errno) }
    }

    /// See `FileSystem`.
    public func link(_ from: String, to: String) throws {
        let r = Glibc.link(from, to)
        if r != 0 { throw LSMError.io(path: from, operation: "link to \(to)", errno: errno) }
    }

    /// See `FileSystem`.
    public func listDirectory(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else {
            throw LSMError.io(path: path, operation: "opendir", errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { ptr in
                ptr.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// See `FileSystem`.
    public func createDirectory(_ path: String) throws {
        if let st = try stat(path) {
            if st.isDirectory { return }
            throw LSMError.io(path: path, operation: "mkdir", errno: EEXIST)
        }
        let parent = parentDirectory(of: path)
        if parent != path && parent != "." && parent != "/" { try createDirectory(parent) }
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw LSMError.io(path: path, operation: "mkdir", errno: errno)
        }
    }

    /// See `FileSystem`.
    public func removeDirectory(_ path: String) throws {
        if rmdir(path) != 0 { throw LSMError.io(path: path, operation: "rmdir", errno: errno) }
    }

    /// See `FileSystem`.
    public func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LSMError.io(path: path, operation: "open directory", errno: errno) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw LSMError.io(path: path, operation: "fsync directory", errno: errno) }
    }

    /// See `FileSystem`.
    public func syncFile(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LSMError.io(path: path, operation: "open for fsync", errno: errno) }
        defer { _ = Glibc.close(fd) }
        if fdatasync(fd) != 0 { throw LSMError.io(path: path, operation: "fdatasync", errno: errno) }
    }

    /// See `FileSystem`.
    public func syncFileSystem(containing path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw LSMError.io(path: path, operation: "open for syncfs", errno: errno) }
        defer { _ = Glibc.close(fd) }
        if lsm_syncfs(fd) != 0 { throw LSMError.io(path: path, operation: "syncfs", errno: errno) }
    }

    /// See `FileSystem`.
    public func stat(_ path: String) throws -> FileStatus? {
        var st = Glibc.stat()
        if systemStat(path, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw LSMError.io(path: path, operation: "stat", errno: errno)
        }
        return FileStatus(
            size: UInt64(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino),
            linkCount: UInt64(st.st_nlink), isDirectory: (st.st_mode & S_IFMT) == S_IFDIR)
    }

    /// See `FileSystem`.
    public func lock(_ path: String) throws -> any FileLock {
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        if fd < 0 { throw LSMError.io(path: path, operation: "open lock file", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            _ = Glibc.close(fd)
            if e == EWOULDBLOCK { throw LSMError.locked(path: path) }
            throw LSMError.io(path: path, operation: "flock", errno: e)
        }
        return PosixFileLock(fd: fd)
    }
}

/// `stat(2)`, at file scope where the name is not shadowed by `FileSystem.stat`.
private func systemStat(_ path: String, _ st: inout Glibc.stat) -> Int32 { stat(path, &st) }

final class PosixFileLock: FileLock {
    private var fd: Int32
    init(fd: Int32) { self.fd = fd }
    func unlock() {
        guard fd >= 0 else { return }
        _ = flock(fd, LOCK_UN)
        _ = Glibc.close(fd)
        fd = -1
    }
    deinit { unlock() }
}

final class PosixWritableFile: WritableFile {
    private var fd: Int32
    let path: String
    private(set) var size: UInt64 = 0

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    func append(_ data: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw LSMError.io(path: path, operation: "write", errno: EBADF) }
        guard var p = data.baseAddress else { return }
        var left = data.count
        while left > 0 {
            let n = write(fd, p, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw LSMError.io(path: path, operation: "write", errno: errno)
            }
            p += n
            left -= n
            size += UInt64(n)
        }
    }

    func sync() throws {
        guard fd >= 0 else { throw LSMError.io(path: path, operation: "fsync", errno: EBADF) }
        if fdatasync(fd) != 0 { throw LSMError.io(path: path, operation: "fdatasync", errno: errno) }
    }

    func startWriteback() throws {
        guard fd >= 0 else { throw LSMError.io(path: path, operation: "sync_file_range", errno: EBADF) }
        if lsm_start_writeback(fd, 0, 0) != 0 {
            throw LSMError.io(path: path, operation: "sync_file_range", errno: errno)
        }
    }

    func close() throws {
        guard fd >= 0 else { return }
        let r = Glibc.close(fd)
        fd = -1
        if r != 0 { throw LSMError.io(path: path, operation: "close", errno: errno) }
    }
}

final class PosixRandomAccessFile: RandomAccessFile, @unchecked Sendable {
    let fd: Int32
    let path: String

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { _ = Glibc.close(fd) }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try preadFully(fd, path, offset, buffer)
    }

    func size() throws -> UInt64 {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw LSMError.io(path: path, operation: "fstat", errno: errno) }
        return UInt64(st.st_size)
    }
}

/// A file read through a read-only shared mapping of its bytes at open (`openMapped`); reads
/// past them (the file grew since) fall back to `pread`. A read copies from the mapping
/// through `lsm_mapped_copy`, which turns a SIGBUS (the file was truncated under the mapping,
/// or its page could not be read from the device) into an I/O error naming the file.
final class PosixMappedFile: RandomAccessFile, @unchecked Sendable {
    let fd: Int32
    let path: String
    private let base: UnsafeRawPointer
    private let count: Int

    init(fd: Int32, path: String, base: UnsafeRawPointer, count: Int) {
        self.fd = fd
        self.path = path
        self.base = base
        self.count = count
    }

    deinit {
        _ = lsm_unmap_file(UnsafeMutableRawPointer(mutating: base), count)
        MappedFileBudget.shared.give()
        _ = Glibc.close(fd)
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let dst = buffer.baseAddress else { return 0 }
        guard offset < UInt64(count) else { return try preadFully(fd, path, offset, buffer) }
        let o = Int(offset)
        let n = min(buffer.count, count - o)
        if lsm_mapped_copy(dst, base + o, n) != 0 {
            throw LSMError.io(path: path, operation: "read of mapped bytes at offset \(offset)", errno: EIO)
        }
        if n == buffer.count { return n }
        return try n + preadFully(fd, path, UInt64(count), UnsafeMutableRawBufferPointer(rebasing: buffer[n...]))
    }

    func size() throws -> UInt64 {
        var st = Glibc.stat()
        if fstat(fd, &st) != 0 { throw LSMError.io(path: path, operation: "fstat", errno: errno) }
        return UInt64(st.st_size)
    }
}

/// How many files `openMapped` may keep mapped in the process at once (as LevelDB's limit
/// of 1,000 mapped files on 64-bit systems): each mapping is one of the process's limited
/// memory map areas (`vm.max_map_count`), so beyond this files are read with `pread`.
public final class MappedFileBudget: Sendable {
    /// Files mapped at most.
    public static let limit = 1_000
    static let shared = MappedFileBudget()
    private let mapped = Atomic<Int>(0)

    /// Files mapped now, by every store of the process.
    public static var mappedFiles: Int { shared.mapped.load(ordering: .relaxed) }

    /// Takes a place for one mapping; false when none is left.
    func take() -> Bool {
        var current = mapped.load(ordering: .relaxed)
        while current < MappedFileBudget.limit {
            let (done, now) = mapped.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if done { return true }
            current = now
        }
        return false
    }

    /// Gives back a place taken by `take`.
    func give() { mapped.subtract(1, ordering: .relaxed) }
}

/// Reads up to `buffer.count` bytes of `fd` at `offset` with `pread`, retrying short reads
/// until end of file; returns the number read.
private func preadFully(
    _ fd: Int32, _ path: String, _ offset: UInt64, _ buffer: UnsafeMutableRawBufferPointer
) throws
    -> Int
{
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
        let n = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
        if n < 0 {
            if errno == EINTR { continue }
            throw LSMError.io(path: path, operation: "pread", errno: errno)
        }
        if n == 0 { break }
        done += n
    }
    return done
}
