import Glibc
import LSMStore

/// A file system in memory that can "crash", as Pebble's crashable MemFS: it remembers what
/// was made durable (a file's bytes at its last `sync`, a directory's entries at its last
/// `syncDirectory`, everything at `syncFileSystem`) and `crashImage()` returns a new file
/// system holding only that, the state a machine would find after losing power. For tests
/// of crash safety; not for data.
///
/// Semantics are POSIX's strict reading: a new file's name survives a crash only once its
/// directory is synced, a file's bytes only once the file is synced, a rename only once the
/// directory is synced. Hard links share one node.
public final class MemoryFileSystem: FileSystem, @unchecked Sendable {
    final class Node {
        let id: UInt64
        let isDirectory: Bool
        var data: [UInt8] = []
        var syncedData: [UInt8] = []
        var entries: [String: Node] = [:]
        var syncedEntries: [String: Node] = [:]
        init(id: UInt64, isDirectory: Bool) {
            self.id = id
            self.isDirectory = isDirectory
        }
    }

    private let lock = TestingLock()
    private var root: Node
    private var nextID: UInt64 = 2
    private var locks = Set<String>()

    /// An empty file system (just `/`).
    public init() { root = Node(id: 1, isDirectory: true) }

    private init(root: Node, nextID: UInt64) {
        self.root = root
        self.nextID = nextID
    }

    private func components(_ path: String) -> [String] {
        path.split(separator: "/").map(String.init).filter { $0 != "." }
    }

    private func newNode(directory: Bool) -> Node {
        defer { nextID += 1 }
        return Node(id: nextID, isDirectory: directory)
    }

    /// The node at `path`, or nil. Caller holds the lock.
    private func node(_ path: String) -> Node? {
        var n = root
        for c in components(path) {
            guard n.isDirectory, let next = n.entries[c] else { return nil }
            n = next
        }
        return n
    }

    /// The parent directory node and the last component, or an ENOENT error.
    private func parent(_ path: String, _ op: String) throws -> (Node, String) {
        let parts = components(path)
        guard let name = parts.last else { throw LSMError.io(path: path, operation: op, errno: EINVAL) }
        var n = root
        for c in parts.dropLast() {
            guard n.isDirectory, let next = n.entries[c], next.isDirectory else {
                throw LSMError.io(path: path, operation: op, errno: ENOENT)
            }
            n = next
        }
        return (n, name)
    }

    /// See `FileSystem`.
    public func create(_ path: String) throws -> any WritableFile {
        try lock.withLock {
            let (dir, name) = try parent(path, "create")
            if let existing = dir.entries[name], existing.isDirectory {
                throw LSMError.io(path: path, operation: "create", errno: EISDIR)
            }
            let n = newNode(directory: false)
            dir.entries[name] = n  // replaces the name; a linked node keeps its other names
            return MemoryWritableFile(fs: self, node: n)
        }
    }

    /// See `FileSystem`.
    public func openRandomAccess(_ path: String) throws -> any RandomAccessFile {
        try lock.withLock {
            guard let n = node(path), !n.isDirectory else {
                throw LSMError.io(path: path, operation: "open", errno: ENOENT)
            }
            return MemoryRandomAccessFile(fs: self, node: n, path: path)
        }
    }

    /// See `FileSystem`.
    public func rename(_ from: String, to: String) throws {
        try lock.withLock {
            let (sd, sn) = try parent(from, "rename")
            guard let n = sd.entries[sn] else {
                throw LSMError.io(path: from, operation: "rename to \(to)", errno: ENOENT)
            }
            let (dd, dn) = try parent(to, "rename")
            sd.entries[sn] = nil
            dd.entries[dn] = n
        }
    }

    /// See `FileSystem`.
    public func remove(_ path: String) throws {
        try lock.withLock {
            let (d, name) = try parent(path, "unlink")
            guard let n = d.entries[name], !n.isDirectory else {
                throw LSMError.io(path: path, operation: "unlink", errno: ENOENT)
            }
            d.entries[name] = nil
        }
    }

    /// See `FileSystem`.
    public func link(_ from: String, to: String) throws {
        try lock.withLock {
            guard let n = node(from), !n.isDirectory else {
                throw LSMError.io(path: from, operation: "link to \(to)", errno: ENOENT)
            }
            let (d, name) = try parent(to, "link")
            if d.entries[name] != nil { throw LSMError.io(path: from, operation: "link to \(to)", errno: EEXIST) }
            d.entries[name] = n
        }
    }

    /// See `FileSystem`.
    public func listDirectory(_ path: String) throws -> [String] {
        try lock.withLock {
            guard let n = node(path), n.isDirectory else {
                throw LSMError.io(path: path, operation: "opendir", errno: ENOENT)
            }
            return n.entries.keys.sorted()
        }
    }

    /// See `FileSystem`.
    public func createDirectory(_ path: String) throws {
        try lock.withLock {
            var n = root
            for c in components(path) {
                if let next = n.entries[c] {
                    guard next.isDirectory else { throw LSMError.io(path: path, operation: "mkdir", errno: EEXIST) }
                    n = next
                } else {
                    let d = newNode(directory: true)
                    n.entries[c] = d
                    n = d
                }
            }
        }
    }

    /// See `FileSystem`.
    public func removeDirectory(_ path: String) throws {
        try lock.withLock {
            let (d, name) = try parent(path, "rmdir")
            guard let n = d.entries[name], n.isDirectory else {
                throw LSMError.io(path: path, operation: "rmdir", errno: ENOENT)
            }
            guard n.entries.isEmpty else { throw LSMError.io(path: path, operation: "rmdir", errno: ENOTEMPTY) }
            d.entries[name] = nil
        }
    }

    /// See `FileSystem`.
    public func syncDirectory(_ path: String) throws {
        try lock.withLock {
            guard let n = node(path), n.isDirectory else {
                throw LSMError.io(path: path, operation: "fsync directory", errno: ENOENT)
            }
            n.syncedEntries = n.entries
        }
    }

    /// See `FileSystem`.
    public func syncFile(_ path: String) throws {
        try lock.withLock {
            guard let n = node(path), !n.isDirectory else {
                throw LSMError.io(path: path, operation: "fsync", errno: ENOENT)
            }
            n.syncedData = n.data
        }
    }

    /// See `FileSystem`.
    public func syncFileSystem(containing path: String) throws {
        lock.withLock {
            var stack = [root]
            var seen = Set<UInt64>()
            while let n = stack.popLast() {
                guard seen.insert(n.id).inserted else { continue }
                if n.isDirectory {
                    n.syncedEntries = n.entries
                    stack.append(contentsOf: n.entries.values)
                } else {
                    n.syncedData = n.data
                }
            }
        }
    }

    /// See `FileSystem`.
    public func stat(_ path: String) throws -> FileStatus? {
        lock.withLock {
            guard let n = node(path) else { return nil }
            return FileStatus(
                size: UInt64(n.data.count), device: 1, inode: n.id, linkCount: linkCount(n), isDirectory: n.isDirectory)
        }
    }

    private func linkCount(_ target: Node) -> UInt64 {
        var count: UInt64 = 0
        var stack = [root]
        while let n = stack.popLast() {
            for child in n.entries.values {
                if child === target { count += 1 }
                if child.isDirectory { stack.append(child) }
            }
        }
        return max(count, 1)
    }

    /// See `FileSystem`.
    public func lock(_ path: String) throws -> any FileLock {
        try lock.withLock {
            if node(path) == nil {
                let (d, name) = try parent(path, "lock")
                d.entries[name] = newNode(directory: false)
            }
            let key = components(path).joined(separator: "/")
            guard locks.insert(key).inserted else { throw LSMError.locked(path: path) }
            return MemoryFileLock(fs: self, key: key)
        }
    }

    func unlock(_ key: String) { lock.withLock { _ = locks.remove(key) } }

    /// What survives a crash now: a new file system with every directory's synced entries
    /// and every file's synced bytes (reached through synced entries only). This one is
    /// left as it was.
    public func crashImage() -> MemoryFileSystem {
        lock.withLock {
            var copies: [ObjectIdentifier: Node] = [:]
            func copy(_ n: Node) -> Node {
                if let c = copies[ObjectIdentifier(n)] { return c }
                let c = Node(id: n.id, isDirectory: n.isDirectory)
                copies[ObjectIdentifier(n)] = c
                if n.isDirectory {
                    for (name, child) in n.syncedEntries { c.entries[name] = copy(child) }
                    c.syncedEntries = c.entries
                } else {
                    c.data = n.syncedData
                    c.syncedData = n.syncedData
                }
                return c
            }
            return MemoryFileSystem(root: copy(root), nextID: nextID)
        }
    }

    // Used by the open files.
    func append(_ node: Node, _ data: UnsafeRawBufferPointer) { lock.withLock { node.data.append(contentsOf: data) } }
    func sync(_ node: Node) { lock.withLock { node.syncedData = node.data } }
    func read(_ node: Node, at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        lock.withLock {
            guard offset < UInt64(node.data.count) else { return 0 }
            let n = min(buffer.count, node.data.count - Int(offset))
            node.data.withUnsafeBytes { src in
                if n > 0, let b = buffer.baseAddress, let s = src.baseAddress {
                    b.copyMemory(from: s + Int(offset), byteCount: n)
                }
            }
            return n
        }
    }
    func size(_ node: Node) -> UInt64 { lock.withLock { UInt64(node.data.count) } }
}

final class MemoryWritableFile: WritableFile {
    let fs: MemoryFileSystem
    let node: MemoryFileSystem.Node
    private var closed = false
    init(fs: MemoryFileSystem, node: MemoryFileSystem.Node) {
        self.fs = fs
        self.node = node
    }
    func append(_ data: UnsafeRawBufferPointer) throws {
        guard !closed else { throw LSMError.io(path: "<memory file \(node.id)>", operation: "write", errno: EBADF) }
        fs.append(node, data)
    }
    func sync() throws { fs.sync(node) }
    func close() throws { closed = true }
    var size: UInt64 { fs.size(node) }
}

final class MemoryRandomAccessFile: RandomAccessFile, @unchecked Sendable {
    let fs: MemoryFileSystem
    let node: MemoryFileSystem.Node
    let path: String
    init(fs: MemoryFileSystem, node: MemoryFileSystem.Node, path: String) {
        self.fs = fs
        self.node = node
        self.path = path
    }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        fs.read(node, at: offset, into: buffer)
    }
    func size() throws -> UInt64 { fs.size(node) }
}

final class MemoryFileLock: FileLock {
    let fs: MemoryFileSystem
    let key: String
    private var held = true
    init(fs: MemoryFileSystem, key: String) {
        self.fs = fs
        self.key = key
    }
    func unlock() {
        if held { fs.unlock(key) }
        held = false
    }
    deinit { unlock() }
}
