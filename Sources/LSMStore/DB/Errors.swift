import Glibc

/// Every error the store reports. Corruption and I/O errors name the file involved, so an
/// operator knows what to inspect or restore.
public enum LSMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stored data failed a checksum or could not be decoded. `offset` is the byte offset in
    /// `file` where the bad data starts.
    case corruption(file: String, offset: UInt64, reason: String)
    /// A system call failed. `errno` is the raw error number (for example ENOSPC = 28).
    case io(path: String, operation: String, errno: Int32)
    /// The caller passed an argument the store cannot accept.
    case invalidArgument(String)
    /// The store was closed (or is closing). After a background failure, writes fail with
    /// that failure's error instead.
    case closed
    /// Another process holds the store's LOCK file.
    case locked(path: String)
    /// Another writer, or another store with the same identity, makes the operation unsafe
    /// (for example two stores with one id checkpointing into one storage); nothing was changed.
    case conflict(String)

    /// A one-line description for messages and logs.
    public var description: String {
        switch self {
        case let .corruption(file, offset, reason):
            return "corruption in \(file) at offset \(offset): \(reason)"
        case let .io(path, op, code):
            return "I/O error: \(op) \(path): \(errnoDescription(code)) (errno \(code))"
        case let .invalidArgument(msg):
            return "invalid argument: \(msg)"
        case .closed:
            return "store is closed"
        case let .locked(path):
            return "store is locked by another process: \(path)"
        case let .conflict(msg):
            return "conflict: \(msg)"
        }
    }

    /// True for `.corruption`.
    public var isCorruption: Bool {
        if case .corruption = self { return true }
        return false
    }
}
func errnoDescription(_ code: Int32) -> String {
    guard let s = strerror(code) else { return "unknown error" }
    return String(cString: s)
}
