import Glibc
import LSMStore

/// Wraps a file system and makes chosen operations fail, for tests: an error (`EIO`,
/// `ENOSPC`...) on the Nth operation overall or the Nth of a kind, a short (torn) write, a
/// failed fsync, or a crash (that operation and every later one fail, as if the machine
/// stopped; with a `MemoryFileSystem` underneath, `crashImage()` then gives what a restart
/// would find). `onOperation` also lets a test slow down or hold chosen operations (a slow
/// disk, an fsync held open). Composable: it wraps any `FileSystem`, including another one
/// of these.
public final class FaultInjectingFileSystem: FileSystem, @unchecked Sendable {
    /// The kinds of operations counted.
    public enum Operation: String, CaseIterable, Sendable {
        case create, open, write, sync, writeback, read, rename, remove, link, list, mkdir, rmdir, syncDirectory, stat,
            lock
    }

    /// What an injected fault does.
    public enum Fault: Sendable, Equatable {
        /// The operation fails with this errno and has no effect.
        case error(Int32)
        /// A write stores only the first half of its bytes, then fails with `EIO`.
        case shortWrite
        /// This operation and every later one fail with `EIO`.
        case crash
    }

    private struct Rule {
        let fault: Fault
        let kind: Operation?
        let index: Int
    }

    private let base: any FileSystem
    private let lock = TestingLock()
    private var total = 0
    private var perKind: [Operation: Int] = [:]
    private var rules: [Rule] = []
    private var _crashed = false
    private var hook: (@Sendable (Operation, String) -> Void)?

    /// Wraps `base`.
    public init(_ base: any FileSystem) { self.base = base }

    /// Operations seen so far (0-based indexes are handed out in this order).
    public var operationCount: Int { lock.withLock { total } }
    /// Whether a crash fault has fired.
    public var crashed: Bool { lock.withLock { _crashed } }

    /// Injects `fault` at the operation with 0-based index `index` overall, or, with `kind`,
    /// at the `index`-th operation of that kind.
    public func inject(_ fault: Fault, at index: Int, of kind: Operation? = nil) {
        lock.withLock { rules.append(Rule(fault: fault, kind: kind, index: index)) }
    }

    /// Injects `fault` at the next operation (of `kind`, when given).
    public func injectNext(_ fault: Fault, of kind: Operation? = nil) {
        lock.withLock {
            let index = kind.map { perKind[$0, default: 0] } ?? total
            rules.append(Rule(fault: fault, kind: kind, index: index))
        }
    }

    /// Calls `body` with each operation's kind and path before it runs (and before any fault
    /// is applied), on the thread doing it: to delay or block chosen operations.
    public func onOperation(_ body: @escaping @Sendable (Operation, String) -> Void) {
        lock.withLock { hook = body }
    }

    /// Removes every fault and the crash: the "disk" works again.
    public func heal() {
        lock.withLock {
            rules.removeAll()
            _crashed = false
        }
    }

    /// Counts an operation and returns the fault to apply, if any.
    private func check(_ kind: Operation) -> Fault? {
        lock.withLock {
            let i = total
            let k = perKind[kind, default: 0]
            total += 1
            perKind[kind] = k + 1
            if _crashed { return .crash }
            for r in rules where (r.kind == nil && r.index == i) || (r.kind == kind && r.index == k) {
                if r.fault == .crash { _crashed = true }
                return r.fault
            }
            return nil
        }
    }

    func apply(_ kind: Operation, _ path: String) throws {
        lock.withLock { hook }?(kind, path)
        if let f = check(kind) { try fail(f, kind, path) }
    }

    /// For writes: nil to write everything, or how many bytes to write before failing.
    func applyWrite(_ path: String, count: Int) throws -> Int? {
        lock.withLock { hook }?(.write, path)
        guard let f = check(.write) else { return nil }
        if f == .shortWrite { return count / 2 }
        try fail(f, .write, path)
        return nil
    }

    /// Throws what `fault` means for an operation of `kind` (a short write is an EIO for
    /// anything but a write, which `applyWrite` handles).
    private func fail(_ fault: Fault, _ kind: Operation, _ path: String) throws {
        switch fault {
        case .error(let code): throw LSMError.io(path: path, operation: "\(kind.rawValue) (injected)", errno: code)
        case .crash: throw LSMError.io(path: path, operation: "\(kind.rawValue) (crashed)", errno: EIO)
        case .shortWrite: throw LSMError.io(path: path, operation: "\(kind.rawValue) (injected)", errno: EIO)
        }
    }

    /// See `FileSystem`.
    public func create(_ path: String) throws -> any WritableFile {
        try apply(.create, path)
        return FaultyWritableFile(owner: self, base: try base.create(path), path: path)
    }
    /// See `FileSystem`: the base file system's uncached file, its writes subject to faults
    /// as any other.
    public func createUncached(_ path: String) throws -> any WritableFile {
        try apply(.create, path)
        return FaultyWritableFile(owner: self, base: try base.createUncached(path), path: path)
    }
    /// See `FileSystem`.
    public func openRandomAccess(_ path: String) throws -> any RandomAccessFile {
        try apply(.open, path)
        return FaultyRandomAccessFile(owner: self, base: try base.openRandomAccess(path))
    }
    /// See `FileSystem`: the base file system's mapped file, its reads subject to faults as
    /// any other.
    public func openMapped(_ path: String) throws -> any RandomAccessFile {
        try apply(.open, path)
        return FaultyRandomAccessFile(owner: self, base: try base.openMapped(path))
    }
    /// See `FileSystem`.
    public func rename(_ from: String, to: String) throws {
        try apply(.rename, from)
        try base.rename(from, to: to)
    }
    /// See `FileSystem`.
    public func remove(_ path: String) throws {
        try apply(.remove, path)
        try base.remove(path)
    }
    /// See `FileSystem`.
    public func link(_ from: String, to: String) throws {
        try apply(.link, from)
        try base.link(from, to: to)
    }
    /// See `FileSystem`.
    public func listDirectory(_ path: String) throws -> [String] {
        try apply(.list, path)
        return try base.listDirectory(path)
    }
    /// See `FileSystem`.
    public func createDirectory(_ path: String) throws {
        try apply(.mkdir, path)
        try base.createDirectory(path)
    }
    /// See `FileSystem`.
    public func removeDirectory(_ path: String) throws {
        try apply(.rmdir, path)
        try base.removeDirectory(path)
    }
    /// See `FileSystem`.
    public func syncDirectory(_ path: String) throws {
        try apply(.syncDirectory, path)
        try base.syncDirectory(path)
    }
    /// See `FileSystem`.
    public func syncFile(_ path: String) throws {
        try apply(.sync, path)
        try base.syncFile(path)
    }
    /// See `FileSystem`.
    public func syncFileSystem(containing path: String) throws {
        try apply(.sync, path)
        try base.syncFileSystem(containing: path)
    }
    /// See `FileSystem`.
    public func stat(_ path: String) throws -> FileStatus? {
        try apply(.stat, path)
        return try base.stat(path)
    }
    /// See `FileSystem`.
    public func lock(_ path: String) throws -> any FileLock {
        try apply(.lock, path)
        return try base.lock(path)
    }
}

final class FaultyWritableFile: WritableFile {
    let owner: FaultInjectingFileSystem
    let base: any WritableFile
    let path: String
    init(owner: FaultInjectingFileSystem, base: any WritableFile, path: String) {
        self.owner = owner
        self.base = base
        self.path = path
    }
    func append(_ data: UnsafeRawBufferPointer) throws {
        if let n = try owner.applyWrite(path, count: data.count) {
            try base.append(UnsafeRawBufferPointer(rebasing: data[0..<n]))
            throw LSMError.io(
                path: path, operation: "write (injected short write: \(n) of \(data.count) bytes)", errno: EIO)
        }
        try base.append(data)
    }
    func sync() throws {
        try owner.apply(.sync, path)
        try base.sync()
    }
    func startWriteback() throws {
        try owner.apply(.writeback, path)
        try base.startWriteback()
    }
    func close() throws { try base.close() }
    var size: UInt64 { base.size }
}

final class FaultyRandomAccessFile: RandomAccessFile, @unchecked Sendable {
    let owner: FaultInjectingFileSystem
    let base: any RandomAccessFile
    init(owner: FaultInjectingFileSystem, base: any RandomAccessFile) {
        self.owner = owner
        self.base = base
    }
    var path: String { base.path }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try owner.apply(.read, base.path)
        return try base.read(at: offset, into: buffer)
    }
    func size() throws -> UInt64 { try base.size() }
}
