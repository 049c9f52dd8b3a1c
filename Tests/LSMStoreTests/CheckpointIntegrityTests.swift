import Foundation
import Testing
@testable import LSMStore

/// Checkpoint storage when something has gone wrong: damaged bytes at random positions,
/// several stores and writers in one storage, a copied store directory, a damaged newest
/// `_metadata`. Each case ends in correct data or a typed error naming the damage.
@Suite struct CheckpointIntegrityTests {
    static func fill(_ store: LSMStore, prefix: String, count: Int, value: String) throws {
        for i in 0..<count { try store.put(bytes("\(prefix)\(i)"), bytes(value)) }
    }

    static func flip(_ path: String, rng: inout SeededRandom) throws -> Int {
        var data = try PosixFileSystem().readFile(path)
        let pos = Int.random(in: 0..<data.count, using: &rng)
        data[pos] ^= UInt8.random(in: 1...255, using: &rng)
        // In place (not a new inode): a hard-linked copy sees the damage too, as it would.
        let f = try #require(FileHandle(forWritingAtPath: path))
        try f.seek(toOffset: UInt64(pos))
        try f.write(contentsOf: Data([data[pos]]))
        try f.close()
        return pos
    }

    static func names(_ error: Error, _ file: String) -> Bool {
        guard case let .corruption(f, _, _)? = error as? LSMError else { return false }
        return f == file || f.hasSuffix("/" + file)
    }

    @Test(arguments: [CheckpointMode.incremental, .full], [true, false])
    func restoreChecksEveryByteLinkedOrCopied(mode: CheckpointMode, links: Bool) throws {
        for round in 0..<4 {
            let seed = UInt64(round) &+ (mode == .full ? 100 : 0) &+ (links ? 1000 : 0)
            var rng = SeededRandom(seed: seed)
            let dir = TempDir()
            defer { dir.cleanup() }
            let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
            let storage = try LocalCheckpointStorage(root: dir.sub("chk"), allowLinks: links)
            try Self.fill(store, prefix: "k", count: 3000, value: "value")
            let report = try Checkpointer(store: store, storage: storage).checkpoint(mode: mode)
            #expect(report.filesLinked == (links && mode == .incremental ? report.fileCount : 0))
            try store.close()
            let m = try #require(try Checkpointer.list(storage).last)
            let victim = m.files[Int.random(in: 0..<m.files.count, using: &rng)]
            let pos = try Self.flip(storage.path(victim.name), rng: &rng)
            do {
                let restored = try LSMStore.restore(from: storage, to: dir.sub("restored"))
                try restored.close()
                Issue.record("seed \(seed): a byte flipped at \(pos) of \(victim.name) restored without an error")
            } catch {
                #expect(Self.names(error, victim.name), "seed \(seed): \(error)")
            }
            // Nothing half-restored is left to be opened as a store.
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir.sub("restored"))) ?? []
            #expect(!left.contains { $0.hasSuffix(".sst") }, "seed \(seed): \(left)")
            #expect(!(try Checkpointer.verify(storage: storage).problems.isEmpty))
        }
    }

    @Test(arguments: 0..<4)
    func incrementalCheckpointRefusesADamagedLocalTable(round: Int) throws {
        var rng = SeededRandom(seed: UInt64(200 + round))
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 5)
        try Self.fill(store, prefix: "a", count: 1000, value: "1")
        _ = try cp.checkpoint(mode: .incremental)
        try Self.fill(store, prefix: "b", count: 1000, value: "2")
        try store.flush()
        // Damage a table the next checkpoint has to upload (one the first did not).
        let known = Set(try Checkpointer.list(storage).flatMap { $0.files.map(\.fileNumber) })
        let fresh = try Inspector.manifest(at: dir.sub("db")).files.filter { !known.contains($0.number) }
        let victim = fresh[Int.random(in: 0..<fresh.count, using: &rng)]
        let pos = try Self.flip(FileNames.table(dir.sub("db"), victim.number), rng: &rng)
        #expect(throws: LSMError.self, "round \(round): damage at \(pos) was uploaded") {
            _ = try cp.checkpoint(mode: .incremental)
        }
        #expect(try Checkpointer.list(storage).count == 1)
        #expect(try Checkpointer.verify(storage: storage).problems.isEmpty)
        // Nothing of the failed checkpoint stays behind.
        #expect(try Checkpointer.cleanup(storage: storage, dryRun: true, sparingClaimsYoungerThan: .zero).isEmpty)
        try store.close()
    }

    @Test func severalStoresInOneStorageKeepTheirOwnCheckpoints() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let a = try LSMStore.open(at: dir.sub("a"), options: quietOptions())
        let b = try LSMStore.open(at: dir.sub("b"), options: quietOptions())
        try Self.fill(a, prefix: "a", count: 500, value: "A")
        try Self.fill(b, prefix: "b", count: 500, value: "B")
        let ra = try Checkpointer(store: a, storage: storage, retained: 1).checkpoint(mode: .incremental)
        let cpb = try Checkpointer(store: b, storage: storage, retained: 1)
        let rb1 = try cpb.checkpoint(mode: .incremental)
        try Self.fill(b, prefix: "b", count: 10, value: "B2")
        let rb2 = try cpb.checkpoint(mode: .full)
        #expect(Set([ra.id, rb1.id, rb2.id]).count == 3)
        // B's retention discarded B's older checkpoint, never A's only one.
        #expect(rb2.discardedCheckpoints == [rb1.id])
        #expect(try Checkpointer.list(storage).map(\.id) == [ra.id, rb2.id])
        // "Latest" is per store: without a name, restore refuses to guess.
        #expect(throws: LSMError.self) { _ = try LSMStore.restore(from: storage, to: dir.sub("r0")) }
        let idA = Inspector.hexString(a.core.versions.storeID), idB = Inspector.hexString(b.core.versions.storeID)
        let restoredA = try LSMStore.restore(from: storage, storeID: idA, to: dir.sub("ra"))
        #expect(try restoredA.get(bytes("a7")) == bytes("A") && restoredA.get(bytes("b7")) == nil)
        let restoredB = try LSMStore.restore(from: storage, storeID: idB, to: dir.sub("rb"))
        #expect(try restoredB.get(bytes("b7")) == bytes("B2") && restoredB.get(bytes("a7")) == nil)
        for s in [a, b, restoredA, restoredB] { try s.close() }
    }

    @Test func concurrentWritersNeverShareAnID() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let root = dir.sub("chk")
        let writers = 4, rounds = 6
        let stores = try (0..<writers).map { try LSMStore.open(at: dir.sub("s\($0)"), options: quietOptions()) }
        let failures = Monitor()
        nonisolated(unsafe) var errors: [String] = []
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            do {
                // Each writer its own storage object (as separate processes would have).
                let cp = try Checkpointer(
                    store: stores[w], storage: try LocalCheckpointStorage(root: root), retained: 2)
                for r in 0..<rounds {
                    try Self.fill(stores[w], prefix: "w\(w)-\(r)-", count: 50, value: "\(w)")
                    _ = try cp.checkpoint(mode: r % 2 == 0 ? .incremental : .full)
                }
            } catch {
                failures.withLock { errors.append("writer \(w): \(error)") }
            }
        }
        #expect(errors.isEmpty, "\(errors)")
        let storage = try LocalCheckpointStorage(root: root)
        let catalog = try CheckpointCatalog.load(storage)
        #expect(catalog.damaged.isEmpty)
        // Each writer keeps its 2 newest, all verify, and each restores to its own data.
        #expect(catalog.completed.count == writers * 2)
        for m in catalog.completed {
            #expect(try Checkpointer.verify(storage: storage, checkpoint: m.id).problems.isEmpty)
        }
        for (w, store) in stores.enumerated() {
            let restored = try LSMStore.restore(
                from: storage, storeID: Inspector.hexString(store.core.versions.storeID), to: dir.sub("r\(w)"))
            #expect(try restored.get(bytes("w\(w)-\(rounds - 1)-7")) == bytes("\(w)"))
            #expect(try restored.get(bytes("w\((w + 1) % writers)-0-7")) == nil)
            try restored.close()
            try store.close()
        }
    }

    @Test func aCopiedStoreDirectoryIsDetected() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let original = try LSMStore.open(at: dir.sub("a"), options: quietOptions())
        try Self.fill(original, prefix: "k", count: 500, value: "base")
        try original.close()
        try FileManager.default.copyItem(atPath: dir.sub("a"), toPath: dir.sub("b"))  // cp -a
        let a = try LSMStore.open(at: dir.sub("a"), options: quietOptions())
        let b = try LSMStore.open(at: dir.sub("b"), options: quietOptions())
        try Self.fill(a, prefix: "k", count: 100, value: "from A")
        try Self.fill(b, prefix: "k", count: 100, value: "from B, longer")
        let ra = try Checkpointer(store: a, storage: storage, retained: 3).checkpoint(mode: .incremental)
        // B's tables carry the numbers A's carry, with other bytes: refused, never mixed in.
        #expect {
            _ = try Checkpointer(store: b, storage: storage, retained: 3).checkpoint(mode: .incremental)
        } throws: { error in
            guard case .conflict? = error as? LSMError else { return false }
            return true
        }
        let restored = try LSMStore.restore(from: storage, checkpoint: ra.id, to: dir.sub("r"))
        #expect(try restored.get(bytes("k5")) == bytes("from A"))
        #expect(try restored.get(bytes("k300")) == bytes("base"))
        // And once B is behind A's checkpoints in sequence, that alone gives it away.
        try Self.fill(a, prefix: "k", count: 400, value: "A again")
        _ = try Checkpointer(store: a, storage: storage, retained: 3).checkpoint(mode: .full)
        #expect(throws: LSMError.self) { _ = try Checkpointer(store: b, storage: storage).checkpoint(mode: .full) }
        for s in [a, b, restored] { try s.close() }
    }

    @Test(arguments: 0..<4)
    func aDamagedNewestMetadataIsNeverHidden(round: Int) throws {
        var rng = SeededRandom(seed: UInt64(300 + round))
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 3)
        var ids: [UInt64] = []
        for r in 0..<3 {
            try Self.fill(store, prefix: "r\(r)-", count: 300, value: "\(r)")
            ids.append(try cp.checkpoint(mode: .incremental).id)
        }
        let newest = try #require(ids.last)
        let metaPath = storage.path(Checkpointer.metadataName(newest))
        let intact = try PosixFileSystem().readFile(metaPath)
        let pos = try Self.flip(metaPath, rng: &rng)
        // verify without an id checks the damaged newest, not the one before it.
        let report = try Checkpointer.verify(storage: storage)
        #expect(report.id == newest && !report.problems.isEmpty, "round \(round): flip at \(pos)")
        // restore refuses; falls back only when asked, and says so.
        #expect(throws: LSMError.self) { _ = try LSMStore.restore(from: storage, to: dir.sub("r1")) }
        let (fallback, restoreReport) = try LSMStore.restoreReporting(
            from: storage, fallBackPastDamaged: true, to: dir.sub("r2"))
        #expect(restoreReport.checkpoint == ids[1] && restoreReport.passedOver.map(\.id) == [newest])
        #expect(try fallback.get(bytes("r1-5")) == bytes("1") && fallback.get(bytes("r2-5")) == nil)
        try fallback.close()
        #expect(try CheckpointCatalog.load(storage).damaged.map(\.id) == [newest])
        // Cleanup and retention delete nothing the damaged checkpoint may reference.
        let sharedBefore = try sharedNames(storage)
        _ = try Checkpointer.cleanup(storage: storage, dryRun: false, sparingClaimsYoungerThan: .zero)
        let cp2 = try Checkpointer(store: store, storage: storage, retained: 1)
        try store.compact()  // every table new: the old ones are referenced only by old checkpoints
        _ = try cp2.checkpoint(mode: .incremental)
        #expect(try sharedNames(storage).isSuperset(of: sharedBefore))
        // Repairing the metadata brings the checkpoint back whole.
        try overwriteFile(metaPath, intact)
        let repaired = try LSMStore.restore(from: storage, checkpoint: newest, to: dir.sub("r3"))
        #expect(try repaired.get(bytes("r2-5")) == bytes("2"))
        try repaired.close()
        try store.close()
    }
}
