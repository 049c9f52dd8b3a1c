import Glibc

/// The manifest and the current version: file numbers, sequence numbers, the live files per
/// level and the log of edits that produced them. Callers hold the store's state lock.
final class VersionSet: @unchecked Sendable {
    let dir: String
    let fs: any FileSystem
    let options: Options

    private(set) var current: Version = .empty
    /// Called (with the store's state lock held) each time a version is installed, after
    /// `current` and `lastSequence` both hold their new values.
    var onInstall: (() -> Void)? = nil
    var nextFileNumber: UInt64 = 2
    var lastSequence: UInt64 = 0
    private(set) var logNumber: UInt64 = 0
    private(set) var manifestNumber: UInt64 = 0
    private(set) var storeID: [UInt8] = []
    private var manifest: LogWriter?
    /// Serializes `logAndApply` calls that release the state lock during manifest I/O.
    private let applyLock = Monitor()
    /// Where the next compaction of each level starts (round robin over the key space).
    var compactPointers: [[UInt8]] = Array(repeating: [], count: Version.numLevels)
    /// Every version handed out that may still be in use: its liveness and its files'
    /// numbers (no reference to the version itself, which must not get a weak one).
    private var versions: [(liveness: VersionLiveness, files: [UInt64])] = []
    /// Edits read by the last `recover()`.
    private(set) var lastRecoveredEditCount = 0

    init(dir: String, fs: any FileSystem, options: Options) {
        self.dir = dir
        self.fs = fs
        self.options = options
    }

    func newFileNumber() -> UInt64 {
        defer { nextFileNumber += 1 }
        return nextFileNumber
    }

    /// Initializes a brand-new store's state (no manifest on disk yet).
    func create() {
        var id = [UInt8](repeating: 0, count: 16)
        var g = SystemRandomNumberGenerator()
        for i in id.indices { id[i] = UInt8.random(in: 0...255, using: &g) }
        storeID = id
        nextFileNumber = 2
        lastSequence = 0
        logNumber = 0
        install(.empty)
    }

    /// Rebuilds the state from CURRENT and the manifest it names; returns the manifest's number.
    @discardableResult
    func recover() throws -> UInt64 {
        lastRecoveredEditCount = 0
        let currentPath = FileNames.current(dir)
        let number = try FileNames.decodeCurrent(try fs.readFile(currentPath), path: currentPath)
        let path = FileNames.manifest(dir, number)
        let data = try fs.readFile(path)
        var reader = LogReader(data: data, fileName: path)
        var version = Version.empty
        var haveNext = false, haveLast = false, haveLog = false
        while let (record, offset) = try reader.next() {
            guard let edit = VersionEdit.decode(record) else {
                throw LSMError.corruption(file: path, offset: UInt64(offset), reason: "malformed version edit")
            }
            if let v = edit.logNumber {
                logNumber = v
                haveLog = true
            }
            if let v = edit.nextFileNumber {
                nextFileNumber = v
                haveNext = true
            }
            if let v = edit.lastSequence {
                lastSequence = v
                haveLast = true
            }
            if let v = edit.storeID { storeID = v }
            for (l, k) in edit.compactPointers { compactPointers[l] = k }
            version = version.applying(edit)
            lastRecoveredEditCount += 1
        }
        guard haveNext, haveLast, haveLog, !storeID.isEmpty else {
            throw LSMError.corruption(
                file: path, offset: 0, reason: "manifest lacks next file number, last sequence, log number or store id")
        }
        if let why = version.overlapError() {
            throw LSMError.corruption(file: path, offset: 0, reason: why)
        }
        for f in version.allFiles where f.number >= nextFileNumber {
            throw LSMError.corruption(
                file: path, offset: 0, reason: "file \(f.number) is not below next file number \(nextFileNumber)")
        }
        install(version)
        return number
    }

    private func install(_ v: Version) {
        v.computeCompactionScore(options: options)
        current = v
        versions.removeAll { !$0.liveness.isAlive }
        versions.append((v.liveness, v.allFiles.map(\.number)))
        onInstall?()
    }

    /// Writes a new manifest holding the whole current state, then points CURRENT at it.
    func writeNewManifest() throws {
        let number = newFileNumber()
        let path = FileNames.manifest(dir, number)
        let file = try fs.create(path)
        let writer = LogWriter(file: file)
        var snapshot = VersionEdit()
        snapshot.storeID = storeID
        snapshot.logNumber = logNumber
        snapshot.nextFileNumber = nextFileNumber
        snapshot.lastSequence = lastSequence
        for l in 0..<Version.numLevels {
            if !compactPointers[l].isEmpty { snapshot.compactPointers.append((l, compactPointers[l])) }
            for f in current.levels[l] { snapshot.addFile(l, f) }
        }
        let currentPath = FileNames.current(dir)
        let tmp = currentPath + ".tmp"
        do {
            try writer.addRecord(snapshot.encode())
            try writer.sync()
            try fs.syncDirectory(dir)  // the manifest's own directory entry
            let f = try fs.create(tmp)
            defer { try? f.close() }
            try f.append(FileNames.encodeCurrent(number))
            try f.sync()
        } catch {
            try? writer.close()
            try? fs.remove(path)
            try? fs.remove(tmp)
            throw error
        }
        // From the rename on, CURRENT may name the new manifest: never delete it after this.
        do {
            try fs.rename(tmp, to: currentPath)
        } catch {
            try? writer.close()
            try? fs.remove(path)
            try? fs.remove(tmp)
            throw error
        }
        try fs.syncDirectory(dir)
        try? manifest?.close()
        manifest = writer
        manifestNumber = number
    }

    /// Records `edit` durably in the manifest and makes the resulting version current.
    ///
    /// With `stateLock` (the store's state lock, held by the caller), the manifest append
    /// and its fsync run with that lock released, as LevelDB's `LogAndApply` does, so reads
    /// and writes do not wait for the disk; it is held again on return. Calls are serialized
    /// (by `applyLock`, always taken before the state lock), so each edit applies to the
    /// version the previous one installed.
    func logAndApply(_ edit: inout VersionEdit, releasing stateLock: Monitor? = nil) throws {
        if let stateLock {
            stateLock.unlock()
            applyLock.lock()
            stateLock.lock()
        }
        defer { if stateLock != nil { applyLock.unlock() } }
        if edit.logNumber == nil { edit.logNumber = logNumber }
        edit.nextFileNumber = nextFileNumber
        // An ingest's edit carries the sequence its tables reach; it becomes the last
        // sequence only as the version holding them is installed (readers never see the
        // sequence before the data, so a snapshot cannot change under them).
        let newLastSequence = max(edit.lastSequence ?? 0, lastSequence)
        edit.lastSequence = newLastSequence
        for (l, k) in edit.compactPointers { compactPointers[l] = k }
        let next = current.applying(edit)
        if manifest == nil || manifest!.size > 8 << 20 {
            // Start a fresh manifest (first write, or the log grew large): it snapshots the
            // new version, so the edit itself need not be appended. Rare: stays under the lock.
            let old = current, oldSequence = lastSequence
            current = next
            logNumber = edit.logNumber!
            lastSequence = newLastSequence
            do { try writeNewManifest() } catch {
                current = old
                lastSequence = oldSequence
                throw error
            }
            install(next)
            return
        }
        let record = edit.encode()
        let writer = manifest!
        stateLock?.unlock()
        let written = Result { () throws -> Void in
            try writer.addRecord(record)
            try writer.sync()
        }
        stateLock?.lock()
        try written.get()
        logNumber = edit.logNumber!
        // Writers may have taken sequence numbers while the lock was released: never go back.
        lastSequence = max(lastSequence, newLastSequence)
        install(next)
    }

    /// File numbers referenced by any version still in use.
    func liveFileNumbers() -> Set<UInt64> {
        versions.removeAll { !$0.liveness.isAlive }
        var live = Set<UInt64>()
        for v in versions { live.formUnion(v.files) }
        return live
    }

    func close() {
        try? manifest?.close()
        manifest = nil
    }
}
