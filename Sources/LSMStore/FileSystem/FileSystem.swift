/// All file I/O of the store and its checkpoints goes through this protocol, in the manner of
/// Pebble's `vfs.FS`: the POSIX implementation serves production, and tests substitute
/// in-memory, crash-simulating or error-injecting ones.
///
/// Paths are plain strings; implementations report failures as `LSMError.io` carrying the
/// path, the operation and the errno.
public protocol FileSystem: Sendable {
    /// Creates `path` as a new, empty file and opens it for appending. An existing file of
    /// that name is unlinked first, never truncated (it may be a hard link shared with a
    /// checkpoint). POSIX: `unlink`, then `open(O_CREAT|O_EXCL|O_WRONLY)`.
    func create(_ path: String) throws -> any WritableFile
    /// Creates `path` as `create` does, for bulk writes of bytes that will not be read back
    /// soon (a checkpoint's copies of tables): where the platform allows, they bypass the page
    /// cache, which spares the kernel copying them into cached pages and writing those back
    /// later. Durability is as for `create`: only `sync` (or a sync of the file system) makes
    /// the bytes durable. Linux: `open(O_DIRECT)`, falling back to `create`'s file where the
    /// file system refuses it. The default implementation is `create`.
    func createUncached(_ path: String) throws -> any WritableFile
    /// Opens an existing file for positioned reads. POSIX: `open(O_RDONLY)`.
    func openRandomAccess(_ path: String) throws -> any RandomAccessFile
    /// Opens an existing file that does not change while open (a table) for positioned
    /// reads that may be served from a memory mapping, which spares each read a system call.
    /// POSIX: `open(O_RDONLY)` and `mmap`, within a budget of mapped files, with a read of a
    /// page that cannot be read reported as an error, not a crash. The default implementation
    /// is `openRandomAccess`.
    func openMapped(_ path: String) throws -> any RandomAccessFile
    /// Atomically renames `from` to `to`, replacing `to`. POSIX: `rename(2)`.
    func rename(_ from: String, to: String) throws
    /// Removes a file. POSIX: `unlink(2)`.
    func remove(_ path: String) throws
    /// Creates a hard link `to` naming the same file as `from`. POSIX: `link(2)`. Throws
    /// `LSMError.io` with EXDEV, EPERM or ENOTSUP when links are not possible.
    func link(_ from: String, to: String) throws
    /// Names of the entries in a directory, without "." and "..". POSIX: `opendir`/`readdir`.
    func listDirectory(_ path: String) throws -> [String]
    /// Creates a directory and any missing parents. POSIX: `mkdir(2)`.
    func createDirectory(_ path: String) throws
    /// Removes an empty directory. POSIX: `rmdir(2)`.
    func removeDirectory(_ path: String) throws
    /// Makes a directory's entries (creations, renames, removals) durable. POSIX: `fsync` on the directory.
    func syncDirectory(_ path: String) throws
    /// Makes a file's data durable by path (after writes through a handle since closed).
    /// POSIX: `open(O_RDONLY)`, `fdatasync`.
    func syncFile(_ path: String) throws
    /// Makes every file of the file system holding `path` durable in one call (cheaper than
    /// one fsync per file when many were written). POSIX: `syncfs(2)`.
    func syncFileSystem(containing path: String) throws
    /// Size, identity and type of a path. POSIX: `stat(2)`. Nil when it does not exist.
    func stat(_ path: String) throws -> FileStatus?
    /// Takes an exclusive advisory lock on `path`, creating it if needed; fails with
    /// `LSMError.locked` when another holder has it. POSIX: `flock(LOCK_EX|LOCK_NB)`.
    func lock(_ path: String) throws -> any FileLock
}

/// What `FileSystem.stat` reports.
public struct FileStatus: Sendable, Equatable {
    /// Size in bytes.
    public var size: UInt64
    /// Device and inode: equal for two names of one file (hard links).
    public var device: UInt64
    /// See `device`.
    public var inode: UInt64
    /// Number of names the file has.
    public var linkCount: UInt64
    /// True for a directory.
    public var isDirectory: Bool

    /// Creates a status value.
    public init(size: UInt64, device: UInt64, inode: UInt64, linkCount: UInt64, isDirectory: Bool) {
        self.size = size
        self.device = device
        self.inode = inode
        self.linkCount = linkCount
        self.isDirectory = isDirectory
    }
}

/// A file open for appending.
public protocol WritableFile: AnyObject {
    /// Appends all of `data` (a short write is retried; an error is thrown). POSIX: `write(2)`.
    func append(_ data: UnsafeRawBufferPointer) throws
    /// Makes everything appended so far durable. POSIX: `fdatasync(2)`.
    func sync() throws
    /// Starts writing back what was appended so far, without waiting and without making it
    /// durable: a hint that leaves a later `sync` (or a sync of the whole file system) less to
    /// write, as RocksDB's `bytes_per_sync`. Linux: `sync_file_range(SYNC_FILE_RANGE_WRITE)`.
    /// Implementations that keep nothing to write back do nothing.
    func startWriteback() throws
    /// Closes the file. Appended but unsynced data is not made durable by closing.
    func close() throws
    /// Bytes appended so far.
    var size: UInt64 { get }
}

extension WritableFile {
    /// Does nothing: the default for files with nothing to write back early.
    public func startWriteback() throws {}

    /// Appends a byte array.
    public func append(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try append($0) }
    }
}

/// A file open for positioned reads; safe to use from several threads at once.
public protocol RandomAccessFile: AnyObject, Sendable {
    /// The path the file was opened with (used in error messages).
    var path: String { get }
    /// Reads up to `buffer.count` bytes at `offset`; returns the number read, which is less
    /// only at end of file. POSIX: `pread(2)`.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
    /// The current size of the file. POSIX: `fstat(2)`.
    func size() throws -> UInt64
}

/// A held lock; released by `unlock()` or when the holder goes away.
public protocol FileLock: AnyObject {
    /// Releases the lock.
    func unlock()
}

extension RandomAccessFile {
    /// Reads exactly `count` bytes at `offset`, or throws a corruption error naming the file
    /// and offset when the file is shorter.
    func readExactly(at offset: UInt64, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = try out.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        if n != count {
            throw LSMError.corruption(
                file: path, offset: offset,
                reason: "truncated: wanted \(count) bytes, file has \(n) from there")
        }
        return out
    }
}

extension FileSystem {
    /// Creates the file with `create`: file systems with no cache to bypass.
    public func createUncached(_ path: String) throws -> any WritableFile { try create(path) }

    /// Opens the file with `openRandomAccess`: file systems that map nothing.
    public func openMapped(_ path: String) throws -> any RandomAccessFile { try openRandomAccess(path) }

    /// Reads a whole file.
    public func readFile(_ path: String) throws -> [UInt8] {
        let f = try openRandomAccess(path)
        let size = try f.size()
        var out = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < out.count {
            let n = try out.withUnsafeMutableBytes { buf in
                try f.read(at: UInt64(done), into: UnsafeMutableRawBufferPointer(rebasing: buf[done...]))
            }
            if n == 0 { break }
            done += n
        }
        if done < out.count { out.removeSubrange(done...) }
        return out
    }

    /// Creates `path` holding `bytes`, synced and closed; removes it again if any step fails.
    public func writeSyncedFile(_ path: String, _ bytes: [UInt8]) throws {
        let f = try create(path)
        do {
            try f.append(bytes)
            try f.sync()
            try f.close()
        } catch {
            try? f.close()
            try? remove(path)
            throw error
        }
    }

    /// Writes a whole file durably: temp file, fsync, rename, directory fsync.
    public func writeFileAtomically(_ path: String, _ bytes: [UInt8]) throws {
        let tmp = path + ".tmp"
        try writeSyncedFile(tmp, bytes)
        try rename(tmp, to: path)
        try syncDirectory(parentDirectory(of: path))
    }

    /// True when `path` exists.
    public func fileExists(_ path: String) -> Bool { ((try? stat(path)) ?? nil) != nil }
}

/// `a/b/c` → `a/b`; a bare name → `.`.
func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    if slash == path.startIndex { return "/" }
    return String(path[..<slash])
}

/// Joins path components with "/".
func joinPath(_ dir: String, _ name: String) -> String {
    dir.hasSuffix("/") ? dir + name : dir + "/" + name
}
