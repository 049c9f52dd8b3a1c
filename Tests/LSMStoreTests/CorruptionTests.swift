import Foundation
import Testing
@testable import LSMStore

/// Damaged files: random byte flips and truncations of every file of a store (tables, the
/// write-ahead log, MANIFEST, CURRENT). Each case must end in correct data (a torn WAL tail
/// is dropped: reads may then see an older value the key really had) or in a typed error;
/// never a trap, a hang or a value the key never had. `Inspector.verify` must report every
/// damaged table. Replay with LSM_SEED.
@Suite struct CorruptionTests {
    /// A store with tables (after a compaction and a later flush) and unflushed synced
    /// writes in its log, as a crash would leave it.
    static func build() throws -> (image: MemoryFileSystem, history: [String: Set<String>], latest: [String: String]) {
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.fileSystem = fs
        o.walEnabled = true
        let store = try LSMStore.open(at: "/db", options: o)
        var history: [String: Set<String>] = [:]
        var latest: [String: String] = [:]
        func put(_ k: String, _ v: String) throws {
            try store.put(Array(k.utf8), Array(v.utf8), sync: true)
            history[k, default: []].insert(v)
            latest[k] = v
        }
        for i in 0..<1500 { try put("key\(i % 700)", "a\(i)-" + String(repeating: "z", count: i % 90)) }
        try store.flush()
        try store.compact()
        for i in 0..<400 { try put("key\(i * 3 % 700)", "b\(i)") }
        try store.flush()
        for i in 0..<150 { try put("key\(i * 7 % 700)", "c\(i)") }  // only in the log
        let image = fs.crashImage()
        try store.close()
        return (image, history, latest)
    }

    @Test func flipsAndTruncationsEndInCorrectDataOrTypedErrors() throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let (image, history, latest) = try Self.build()
        let files = try image.listDirectory("/db").filter { $0 != "LOCK" }
        // Tables the version uses (others are leftovers a crash can leave; damage there is harmless).
        let live = Set(
            try Inspector.manifest(at: "/db", fileSystem: image).files.map { FileNames.tableName($0.number) })
        #expect(files.contains { $0.hasSuffix(".sst") } && files.contains { $0.hasSuffix(".log") })
        #expect(!live.isEmpty && live.isSubset(of: Set(files)))
        var cases = 0, opened = 0, detected = 0
        for name in files {
            for trial in 0..<8 {
                let fs = image.crashImage()  // a copy
                var bytes = try fs.readFile("/db/" + name)
                guard !bytes.isEmpty else { continue }
                let truncate = trial % 4 == 3
                if truncate {
                    bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
                } else {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
                let f = try fs.create("/db/" + name)
                try f.append(bytes)
                try f.sync()
                try fs.syncDirectory("/db")
                cases += 1
                let what = "seed \(seed): \(name) \(truncate ? "truncated to \(bytes.count)" : "flipped")"
                if live.contains(name) {
                    let report = try Inspector.verify(at: "/db", fileSystem: fs)
                    #expect(!report.problems.isEmpty, "\(what): verify found nothing")
                }
                var o = smallOptions()
                o.fileSystem = fs
                o.walEnabled = true
                let store: LSMStore
                do {
                    store = try LSMStore.open(at: "/db", options: o)
                } catch let e as LSMError {
                    detected += 1
                    if case .invalidArgument = e { Issue.record("\(what): untyped refusal \(e)") }
                    continue
                } catch {
                    Issue.record("\(what): not an LSMError: \(error)")
                    continue
                }
                opened += 1
                defer { try? store.close() }
                let walDamage = name.hasSuffix(".log")
                for (k, v) in latest {
                    do {
                        let got = try store.get(Array(k.utf8)).map { String(decoding: $0, as: UTF8.self) }
                        if walDamage {
                            // A dropped log tail leaves older values, never invented ones.
                            if let got {
                                #expect(
                                    history[k]?.contains(got) == true, "\(what): \(k) = \(got), a value it never had")
                            }
                        } else {
                            #expect(got == v, "\(what): \(k) = \(String(describing: got)), expected \(v)")
                        }
                    } catch is LSMError {
                        detected += 1
                        break
                    }
                }
            }
        }
        #expect(cases > 20)
        #expect(detected > 0, "seed \(seed): no damage detected at all")
        _ = opened
    }

    /// Flipped bytes and truncations in a checkpoint's `_metadata` and shared tables: verify
    /// reports the damage, and a restore either gives exactly the checkpointed state or fails
    /// with a typed error (it never hands back a store with wrong data).
    @Test func damagedCheckpointFilesAreDetected() throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let fs = MemoryFileSystem()
        var o = smallOptions()
        o.fileSystem = fs
        let store = try LSMStore.open(at: "/db", options: o)
        let storage = try LocalCheckpointStorage(root: "/chk", fileSystem: fs, allowLinks: false)
        let cp = try Checkpointer(store: store, storage: storage, retained: 1)
        var model: [String: String] = [:]
        for i in 0..<1200 {
            try store.put(Array("key\(i % 500)".utf8), Array("v\(i)".utf8))
            model["key\(i % 500)"] = "v\(i)"
        }
        let report = try cp.checkpoint(mode: .incremental)
        try store.close()
        let names = try storage.list("shared").map { "shared/" + $0 } + [Checkpointer.metadataName(report.id)]
        var detected = 0
        for name in names {
            for trial in 0..<4 {
                let copy = fs.crashImage()
                let path = "/chk/" + name
                var bytes = try copy.readFile(path)
                if trial == 3 {
                    bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
                } else {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                }
                let f = try copy.create(path)
                try f.append(bytes)
                try f.sync()
                let damaged = try LocalCheckpointStorage(root: "/chk", fileSystem: copy, allowLinks: false)
                let what = "seed \(seed): \(name) trial \(trial)"
                let problems = (try? Checkpointer.verify(storage: damaged).problems) ?? []
                var ro = smallOptions()
                ro.fileSystem = copy
                do {
                    let restored = try LSMStore.restore(from: damaged, checkpoint: report.id, to: "/r", options: ro)
                    var got: [String: String] = [:]
                    do {
                        let it = try restored.scan()
                        while let (k, v) = try it.next() {
                            got[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self)
                        }
                        #expect(got == model, "\(what): restored wrong data")
                    } catch is LSMError {
                        detected += 1
                    }
                    try? restored.close()
                    #expect(!problems.isEmpty || got == model, "\(what): verify missed damage")
                } catch let e as LSMError {
                    detected += 1
                    #expect(
                        !problems.isEmpty || name.hasSuffix("_metadata"),
                        "\(what): restore failed (\(e)) but verify found nothing")
                }
            }
        }
        #expect(detected > 0, "seed \(seed)")
    }
}
