import Foundation
import Testing
@testable import LSMStore

/// Options under which nothing compacts by itself, so the files a checkpoint sees are
/// exactly those the test flushed.
func quietOptions() -> Options {
    var o = smallOptions()
    o.l0CompactionTrigger = 1000
    o.l0SlowdownTrigger = 1000
    o.l0StopTrigger = 1000
    o.baseLevelSize = 1 << 30
    return o
}

func sharedNames(_ storage: LocalCheckpointStorage) throws -> Set<String> {
    Set(try storage.list("shared").map { "shared/" + $0 })
}

@Suite struct CheckpointTests {
    @Test func incrementalUploadsOnlyNewTablesAndFullCompactionMakesAllNew() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 10)
        for i in 0..<2000 { try store.put(bytes("key\(i)"), bytes(String(repeating: "v", count: 50))) }
        let first = try cp.checkpoint(mode: .incremental)
        #expect(first.filesReused == 0 && first.filesNew == first.fileCount && first.fileCount > 0)

        // A few more keys: the next checkpoint uploads only the table the flush made.
        let before = Set(try Inspector.manifest(at: dir.sub("db")).files.map(\.number))
        for i in 0..<5 { try store.put(bytes("new\(i)"), bytes("x")) }
        let second = try cp.checkpoint(mode: .incremental)
        let after = try Inspector.manifest(at: dir.sub("db")).files
        let newFiles = after.filter { !before.contains($0.number) }
        #expect(newFiles.count == 1)
        #expect(second.filesNew == 1 && second.filesReused == first.fileCount)
        #expect(second.bytesWritten == newFiles.reduce(0) { $0 + $1.size } + second.metadataBytes)
        #expect(second.fullSize == after.reduce(0) { $0 + $1.size } + second.metadataBytes)
        #expect(second.filesLinked == 1)  // same file system: a hard link

        // Nothing changed: nothing new to upload.
        let third = try cp.checkpoint(mode: .incremental)
        #expect(third.filesNew == 0 && third.bytesWritten == third.metadataBytes)

        // A full compaction rewrites every table, so everything is new.
        try store.compact()
        let fourth = try cp.checkpoint(mode: .incremental)
        #expect(fourth.filesReused == 0 && fourth.filesNew == fourth.fileCount)
        #expect(fourth.bytesWritten == fourth.fullSize)

        // Full mode copies everything, every time.
        let full = try cp.checkpoint(mode: .full)
        #expect(full.filesNew == full.fileCount && full.filesLinked == 0 && full.bytesWritten == full.fullSize)
        try store.close()
    }

    @Test func retentionKeepsExactlyWhatTheRetainedCheckpointsReference() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: smallOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 3)
        var rng = SeededRandom(seed: 17)
        for round in 0..<8 {
            for _ in 0..<300 {
                try store.put(bytes("k\(Int.random(in: 0..<800, using: &rng))"), rng.bytes(40))
            }
            if round == 4 { try store.compact() }
            _ = try cp.checkpoint(mode: .incremental)
            // Every shared file a retained checkpoint references is present.
            let retained = try Checkpointer.list(storage)
            #expect(retained.count == min(round + 1, 3))
            let referenced = Set(retained.flatMap { $0.files.map(\.name) }.filter { $0.hasPrefix("shared/") })
            #expect(try sharedNames(storage) == referenced, "round \(round)")
        }
        cp.retained = 1
        _ = try cp.checkpoint(mode: .incremental)
        let last = try Checkpointer.list(storage)
        #expect(last.count == 1)
        #expect(try sharedNames(storage) == Set(last[0].files.map(\.name)))
        #expect(try storage.list("").filter { $0.hasPrefix("chk-") } == ["chk-\(last[0].id)"])
        try store.close()
    }

    @Test func copyFallbackIsByteIdenticalToLinks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        for i in 0..<3000 { try store.put(bytes("key\(i)"), bytes("value \(i)")) }
        let linked = try LocalCheckpointStorage(root: dir.sub("linked"))
        let copied = try LocalCheckpointStorage(root: dir.sub("copied"), allowLinks: false)
        let a = try Checkpointer(store: store, storage: linked).checkpoint(mode: .incremental, id: 1)
        let b = try Checkpointer(store: store, storage: copied).checkpoint(mode: .incremental, id: 1)
        #expect(a.filesLinked == a.filesNew && b.filesLinked == 0)
        #expect(a.bytesWritten == b.bytesWritten)
        let ma = try Checkpointer.list(linked)[0], mb = try Checkpointer.list(copied)[0]
        #expect(ma.files == mb.files)
        for f in ma.files { #expect(try linked.get(f.name) == copied.get(f.name)) }
        // Copies occupy their own bytes; links share the store's.
        #expect(try copied.bytesOnDisk() >= ma.fullSize)
        #expect(
            try diskUsage(paths: [dir.sub("db"), dir.sub("linked")])
                < diskUsage(paths: [dir.sub("db"), dir.sub("copied")]))
        try store.close()
    }

    @Test func restoredStoreHoldsTheCheckpointStateAndNeverTouchesTheStorage() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: smallOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 2)
        for i in 0..<1000 { try store.put(bytes("k\(i)"), bytes("v\(i)")) }
        let report = try cp.checkpoint(mode: .incremental, userMetadata: bytes("source offset 1000"))
        for i in 0..<1000 { try store.put(bytes("k\(i)"), bytes("later")) }  // after the checkpoint
        let restored = try LSMStore.restore(from: storage, to: dir.sub("restored"), options: smallOptions())
        #expect(restored.stats.lastSequence == report.sequence)
        #expect(try restored.get(bytes("k7")) == bytes("v7"))
        #expect(try allEntries(restored).count == 1000)
        #expect(try Checkpointer.list(storage).last?.userMetadata == bytes("source offset 1000"))
        // The restored store is writable and compacts; the checkpoint stays intact.
        for i in 0..<3000 { try restored.put(bytes("k\(i % 1500)"), bytes("restored \(i)")) }
        try restored.compact()
        try restored.close()
        let verify = try Checkpointer.verify(storage: storage)
        #expect(verify.problems.isEmpty, "\(verify.problems)")
        #expect(verify.filesChecked == report.fileCount)
        // A second restore of the same checkpoint still gives the original state.
        let again = try LSMStore.restore(from: storage, to: dir.sub("restored2"))
        #expect(try again.get(bytes("k7")) == bytes("v7"))
        #expect(throws: LSMError.self) { try LSMStore.restore(from: storage, to: dir.sub("restored2")) }
        try again.close()
        try store.close()
    }

    /// `begin` only switches the memtable; the flush and the pin happen in `complete`. Writes
    /// made in between (enough to fill and flush several more memtables, and to compact)
    /// must not leak into the checkpoint, and every write before `begin` must be in it.
    @Test func aRestoredStoreReusesTheObjectsTheStorageHoldsAcrossReopensAndRestores() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"), allowLinks: false)
        let cp = try Checkpointer(store: store, storage: storage, retained: 10)
        for i in 0..<3000 { try store.put(bytes("key\(i)"), bytes(String(repeating: "v", count: 40))) }
        let first = try cp.checkpoint(mode: .incremental)
        try store.close()
        // Restored (under a new store id), reopened (the origins are in its manifest), then a
        // few writes: the next checkpoint uploads only the table those made.
        let restoredDir = dir.sub("restored")
        try LSMStore.restore(from: storage, to: restoredDir, options: quietOptions()).close()
        let restored = try LSMStore.open(at: restoredDir, options: quietOptions())
        let cp2 = try Checkpointer(store: restored, storage: storage, retained: 10)
        for i in 0..<5 { try restored.put(bytes("new\(i)"), bytes("x")) }
        let second = try cp2.checkpoint(mode: .incremental)
        #expect(second.filesReused == first.fileCount)
        #expect(second.filesNew == 1)
        // A restore of that checkpoint reuses the same objects again, and its state is whole.
        let names = Set(try Checkpointer.list(storage).last!.files.map(\.name))
        #expect(names.isSuperset(of: Set(try Checkpointer.list(storage).first!.files.map(\.name))))
        try restored.close()
        let again = try LSMStore.restore(
            from: storage, checkpoint: second.id, to: dir.sub("again"), options: quietOptions())
        let cp3 = try Checkpointer(store: again, storage: storage, retained: 10)
        let third = try cp3.checkpoint(mode: .incremental)
        #expect(third.filesNew == 0 && third.filesReused == second.fileCount)
        for i in 0..<3000 { #expect(try again.get(bytes("key\(i)")) == bytes(String(repeating: "v", count: 40))) }
        for i in 0..<5 { #expect(try again.get(bytes("new\(i)")) == bytes("x")) }
        // Into another storage, which holds none of them, every table is uploaded, under the
        // store's own id.
        let other = try LocalCheckpointStorage(root: dir.sub("other"))
        let elsewhere = try Checkpointer(store: again, storage: other, retained: 1).checkpoint(mode: .incremental)
        #expect(elsewhere.filesNew == elsewhere.fileCount && elsewhere.filesReused == 0)
        try again.close()
    }

    @Test func checkpointHoldsExactlyTheWritesBeforeBeginWhileWritesGoOn() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: smallOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 3)
        var model: [String: String] = [:]
        for i in 0..<1500 {
            try store.put(bytes("k\(i % 700)"), bytes("before \(i)"))
            model["k\(i % 700)"] = "before \(i)"
        }
        try store.delete(bytes("k3"))
        model["k3"] = nil
        let pending = try cp.begin(mode: .incremental)
        for i in 0..<6000 { try store.put(bytes("k\(i % 900)"), bytes("after \(i)")) }
        try store.delete(bytes("k5"))
        let report = try pending.complete()
        #expect(report.sequence == pending.sequence)
        // A second checkpoint right after, with nothing new in the memtable but a flush maybe
        // in progress, is also exact.
        let second = try cp.checkpoint(mode: .full)
        let restored = try LSMStore.restore(
            from: storage, checkpoint: report.id, to: dir.sub("r1"), options: smallOptions())
        var got: [String: String] = [:]
        for (k, v) in try allEntries(restored) {
            got[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
        }
        #expect(got == model)
        #expect(restored.stats.lastSequence == report.sequence)
        try restored.close()
        let latest = try LSMStore.restore(
            from: storage, checkpoint: second.id, to: dir.sub("r2"), options: smallOptions())
        #expect(try latest.get(bytes("k5")) == nil)
        #expect(try latest.get(bytes("k899")) == bytes("after 5399"))
        try latest.close()
        // An aborted pending checkpoint releases its claim; the store goes on.
        let aborted = try cp.begin(mode: .incremental)
        try store.put(bytes("x"), bytes("y"))
        aborted.abort()
        try store.flush()
        try store.close()
    }

    @Test func failureBeforeMetadataLeavesPreviousCheckpointRestorableAndPartialFilesRemovable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let good = try LocalCheckpointStorage(root: dir.sub("chk"))
        for i in 0..<1000 { try store.put(bytes("a\(i)"), bytes("1")) }
        _ = try Checkpointer(store: store, storage: good).checkpoint(mode: .incremental)
        for i in 0..<1000 { try store.put(bytes("b\(i)"), bytes("2")) }
        for mode in CheckpointMode.allCases {
            // The metadata write fails after the files were uploaded (as a crash would).
            let failing = FaultInjectingCheckpointStorage(good) { name in
                if name.hasSuffix("_metadata") {
                    throw LSMError.io(path: name, operation: "write (injected)", errno: 28)
                }
            }
            let cp = try Checkpointer(store: store, storage: failing, retained: 1)
            let pending = try cp.begin(mode: mode)
            #expect(throws: LSMError.self) { _ = try pending.complete() }
            // Simulate a crash: nobody aborts. Soon after, a tool spares the claimed folder (it
            // may be in progress elsewhere) and its store's shared uploads.
            #expect(try Checkpointer.cleanup(storage: good, dryRun: true).isEmpty)
            // Once the claim is older than the grace period, they are leftovers.
            let leftovers = try Checkpointer.cleanup(storage: good, dryRun: true, sparingClaimsYoungerThan: .zero)
            #expect(leftovers.contains("chk-\(pending.id)") && leftovers.contains("chk-\(pending.id)/_claim"))
            if mode == .full {
                // The copies went into its folder.
                #expect(leftovers.contains { $0.hasPrefix("chk-\(pending.id)/") && $0.hasSuffix(".sst") })
            } else {
                #expect(leftovers.contains { $0.hasPrefix("shared/") })  // new shared uploads
                #expect(leftovers.allSatisfy { $0.hasPrefix("shared/") || $0.hasPrefix("chk-\(pending.id)") })
            }
            #expect(try Checkpointer.list(good).count == 1)
            let restored = try LSMStore.restore(from: good, to: dir.sub("r-\(mode)"))
            #expect(try restored.get(bytes("a5")) == bytes("1"))
            #expect(try restored.get(bytes("b5")) == nil)
            try restored.close()
            let removed = try Checkpointer.cleanup(storage: good, dryRun: false, sparingClaimsYoungerThan: .zero)
            #expect(Set(removed) == Set(leftovers))
            #expect(try Checkpointer.cleanup(storage: good, dryRun: true, sparingClaimsYoungerThan: .zero).isEmpty)
            pending.abort()  // harmless afterwards
        }
        // The previous checkpoint still verifies.
        #expect(try Checkpointer.verify(storage: good).problems.isEmpty)
        try store.close()
    }

    @Test func abortRemovesPartialFilesButKeepsSharedOnesInUse() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage)
        for i in 0..<500 { try store.put(bytes("a\(i)"), bytes("1")) }
        _ = try cp.checkpoint(mode: .incremental)
        let kept = try sharedNames(storage)
        for i in 0..<500 { try store.put(bytes("b\(i)"), bytes("2")) }
        let pending = try cp.begin(mode: .incremental)
        pending.abort()
        #expect(try sharedNames(storage) == kept)
        #expect(try storage.list("").filter { $0.hasPrefix("chk-") }.count == 1)
        try store.close()
    }

    @Test func metadataRoundTripAndCorruptionIsDetected() throws {
        let m = CheckpointMetadata(
            id: 9, mode: .incremental, sequence: 1234, storeID: "abcd", createdAtMillis: 55, nextFileNumber: 77,
            files: [
                CheckpointFile(
                    level: 2, fileNumber: 12, name: "shared/abcd-000012.sst", size: 4096, checksum: 0xABCD,
                    smallestKey: InternalKey.make(bytes("a"), 1, .value),
                    largestKey: InternalKey.make(bytes("z"), 3, .value),
                    uploadedHere: true)
            ],
            userMetadata: [1, 2, 3])
        let enc = m.encode()
        #expect(try CheckpointMetadata.decode(enc, name: "_metadata") == m)
        for i in stride(from: 0, to: enc.count, by: 3) {
            var bad = enc
            bad[i] ^= 0x40
            #expect(throws: LSMError.self) { _ = try CheckpointMetadata.decode(bad, name: "_metadata") }
        }
        for cut in [0, 10, enc.count - 1] {
            #expect(throws: LSMError.self) { _ = try CheckpointMetadata.decode(Array(enc[0..<cut]), name: "_metadata") }
        }
    }

    @Test func verifyFindsDamagedBlocks() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.sub("db"), options: quietOptions())
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"), allowLinks: false)
        for i in 0..<3000 { try store.put(bytes("key\(i)"), bytes("value \(i)")) }
        _ = try Checkpointer(store: store, storage: storage).checkpoint(mode: .full)
        try store.close()
        let m = try Checkpointer.list(storage)[0]
        let victim = m.files[0]
        var data = try storage.get(victim.name)
        data[data.count / 3] ^= 0xFF
        try storage.putAtomically(victim.name, data)
        let report = try Checkpointer.verify(storage: storage)
        #expect(
            report.problems.contains {
                if case .corruption(let f, _, _) = $0 { return f == victim.name } else { return false }
            })
        #expect(
            report.problems.contains {
                if case .corruption(_, let off, let why) = $0 {
                    return off > 0 && why.contains("block")
                } else {
                    return false
                }
            })
    }
}
