import Glibc

/// A read-only POSIX file read with `pread(2)` at explicit offsets. Closes itself on deinit.
final class CSVFile {
    let path: String
    private let fd: Int32

    /// Opens `path` for reading; a missing file is `CSVError.fileNotFound`.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw CSVError.fileNotFound(path: path) }
            throw CSVError.io(path: path, operation: "open", errno: code)
        }
        self.fd = fd
    }

    deinit { _ = close(fd) }

    /// The file's current size in bytes.
    func size() throws -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw CSVError.io(path: path, operation: "fstat", errno: errno) }
        return UInt64(max(0, st.st_size))
    }

    /// Reads up to `count` bytes at `offset` into `into`; returns fewer only at end of file.
    func read(into: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, into + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CSVError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}
