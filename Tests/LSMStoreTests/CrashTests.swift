import Foundation
import Testing
@testable import LSMStore

/// Crash safety on the crashable in-memory file system: a scenario of synced and unsynced
/// writes, deletes, flushes and compactions is crashed at every I/O operation index in turn.
/// After each crash the store must reopen, hold every write acknowledged as synced, and hold
/// exactly the state after some prefix of the writes (no holes, no resurrected deletes).
@Suite struct CrashTests {
    enum Op {
        case put(String, String, sync: Bool)
        case delete(String, sync: Bool)
        case flush
        case compact
        case checkpoint(CheckpointMode)
        /// A sorted batch written straight into tables (atomic, durable on return): one write.
        case ingest([(String, String?)])
    }

    static func scenario(seed: UInt64) -> [Op] {
        var rng = SeededRandom(seed: seed)
        var ops: [Op] = []
        for i in 0..<160 {
            let k = "k\(Int.random(in: 0..<25, using: &rng))"
            let sync = Int.random(in: 0..<4, using: &rng) == 0
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: ops.append(.flush)
            case 1: ops.append(.compact)
            case 5: ops.append(.checkpoint(Bool.random(using: &rng) ? .full : .incremental))
            case 6:
                let keys = Set(
                    (0..<Int.random(in: 1...6, using: &rng)).map { _ in "k\(Int.random(in: 0..<25, using: &rng))" })
                ops.append(.ingest(keys.sorted().map { ($0, Bool.random(using: &rng) ? "i\(i)-\($0)" : nil) }))
            case 2..<5: ops.append(.delete(k, sync: sync))
            default:
                ops.append(
                    .put(k, "v\(i)-" + String(repeating: "x", count: Int.random(in: 0..<200, using: &rng)), sync: sync))
            }
        }
        return ops
    }

    static func options(_ fs: any FileSystem) -> Options {
        var o = smallOptions()
        o.fileSystem = fs
        o.walEnabled = true
        o.syncWrites = false
        return o
    }

    /// Runs the scenario until it ends or an operation fails; returns the number of write
    /// operations (puts and deletes) acknowledged, and the index of the last one acknowledged
    /// as synced (-1 if none), counted over writes only.
    static func run(
        _ ops: [Op], on fs: any FileSystem
    ) -> (acked: Int, lastSynced: Int, checkpoint: (id: UInt64, writes: Int)?) {
        var acked = 0, lastSynced = -1
        var completed: (id: UInt64, writes: Int)? = nil
        guard let store = try? LSMStore.open(at: "/db", options: options(fs)) else { return (0, -1, nil) }
        defer { try? store.close() }
        guard let storage = try? LocalCheckpointStorage(root: "/chk", fileSystem: fs),
            let cp = try? Checkpointer(store: store, storage: storage, retained: 2)
        else { return (0, -1, nil) }
        for op in ops {
            do {
                switch op {
                case let .put(k, v, sync):
                    try store.put(Array(k.utf8), Array(v.utf8), sync: sync)
                    if sync { lastSynced = acked }
                    acked += 1
                case let .delete(k, sync):
                    try store.delete(Array(k.utf8), sync: sync)
                    if sync { lastSynced = acked }
                    acked += 1
                case .ingest(let entries):
                    var batch = WriteBatch()
                    for (k, v) in entries {
                        if let v { batch.put(Array(k.utf8), Array(v.utf8)) } else { batch.delete(Array(k.utf8)) }
                    }
                    try store.ingest(batch)
                    lastSynced = acked
                    acked += 1
                case .flush: try store.flush()
                case .compact: try store.compact()
                case .checkpoint(let mode):
                    let r = try cp.checkpoint(mode: mode)
                    completed = (r.id, acked)
                }
            } catch {
                return (acked, lastSynced, completed)
            }
        }
        return (acked, lastSynced, completed)
    }

    /// The model's state after each prefix of the writes: states[p] is after p writes.
    static func prefixStates(_ ops: [Op]) -> [[String: String]] {
        var states: [[String: String]] = [[:]]
        var m: [String: String] = [:]
        for op in ops {
            switch op {
            case let .put(k, v, _): m[k] = v
            case let .delete(k, _): m[k] = nil
            case let .ingest(entries): for (k, v) in entries { m[k] = v }
            default: continue
            }
            states.append(m)
        }
        return states
    }

    @Test func crashAtEveryOperationKeepsSyncedWritesAndAPrefix() throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        let ops = Self.scenario(seed: seed)
        let states = Self.prefixStates(ops)
        // A run without faults counts the operations (background threads make the count
        // vary a little between runs; every index tried is a valid crash point anyway).
        let probe = FaultInjectingFileSystem(MemoryFileSystem())
        let full = Self.run(ops, on: probe)
        #expect(full.acked == states.count - 1, "seed \(seed): the fault-free run failed")
        let total = probe.operationCount
        #expect(total > 100)
        var checked = 0
        for k in 0..<total {
            let memory = MemoryFileSystem()
            let fs = FaultInjectingFileSystem(memory)
            fs.inject(.crash, at: k)
            let r = Self.run(ops, on: fs)
            // Restart: only what was durable survives.
            let image = memory.crashImage()
            let store: LSMStore
            do {
                store = try LSMStore.open(at: "/db", options: Self.options(image))
            } catch {
                Issue.record("seed \(seed), crash at operation \(k): reopen failed: \(error)")
                continue
            }
            var got: [String: String] = [:]
            let it = try store.scan()
            while let (key, value) = try it.next() {
                got[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
            }
            try store.close()
            // A checkpoint that completed before the crash is still there, verifies, and
            // restores to exactly the state it was taken at.
            if let c = r.checkpoint {
                let storage = try LocalCheckpointStorage(root: "/chk", fileSystem: image)
                let ids = try Checkpointer.list(storage).map(\.id)
                #expect(
                    ids.contains(c.id),
                    "seed \(seed), crash at operation \(k): completed checkpoint \(c.id) lost (left \(ids))")
                let problems = try Checkpointer.verify(storage: storage).problems
                #expect(problems.isEmpty, "seed \(seed), crash at operation \(k): \(problems)")
                var o = Self.options(image)
                o.walEnabled = true
                let restored = try LSMStore.restore(from: storage, checkpoint: c.id, to: "/restored", options: o)
                var state: [String: String] = [:]
                let rit = try restored.scan()
                while let (key, value) = try rit.next() {
                    state[String(decoding: key, as: UTF8.self)] = String(decoding: value, as: UTF8.self)
                }
                try restored.close()
                #expect(
                    state == states[c.writes],
                    "seed \(seed), crash at operation \(k): checkpoint \(c.id) does not hold the state after \(c.writes) writes"
                )
            }
            // The state is the model after some prefix p of the writes, with every write
            // acknowledged as synced included (p > lastSynced), and nothing never attempted.
            let candidates = (r.lastSynced + 1)...min(r.acked + 1, states.count - 1)
            let match = candidates.contains { states[$0] == got }
            #expect(
                match,
                "seed \(seed), crash at operation \(k) of \(total): state is no prefix in \(candidates) (acked \(r.acked), last synced \(r.lastSynced)); got \(got.keys.sorted()), files \(((try? image.listDirectory("/db")) ?? []).map { "\($0):\((try? image.stat("/db/" + $0))??.size ?? 0)" }), live \(((try? memory.listDirectory("/db")) ?? []).map { "\($0):\((try? memory.stat("/db/" + $0))??.size ?? 0)" })"
            )
            if !match { break }
            checked += 1
        }
        #expect(checked == total, "seed \(seed)")
    }

    @Test func injectedErrorsAreTypedAndTheStoreRecoversOnReopen() throws {
        for kind in [FaultInjectingFileSystem.Operation.write, .sync, .create, .read] {
            for code in [EIO, ENOSPC] {
                let memory = MemoryFileSystem()
                let fs = FaultInjectingFileSystem(memory)
                let store = try LSMStore.open(at: "/db", options: Self.options(fs))
                for i in 0..<50 { try store.put(Array("a\(i)".utf8), Array("v".utf8), sync: true) }
                fs.injectNext(.error(code), of: kind)
                var failure: Error? = nil
                do {
                    for i in 0..<400 {
                        try store.put(Array("b\(i)".utf8), Array(String(repeating: "y", count: 100).utf8), sync: true)
                    }
                    try store.flush()
                    try store.compact()
                } catch {
                    failure = error
                }
                #expect(failure != nil, "\(kind) \(code): the injected fault never fired")
                if let failure {
                    guard case LSMError.io(_, _, let errno)? = failure as? LSMError else {
                        Issue.record("\(kind) \(code): untyped error \(failure)")
                        continue
                    }
                    #expect(errno == code, "\(kind): \(failure)")
                }
                try? store.close()
                // Space returns: the store reopens with every synced write.
                fs.heal()
                let again = try LSMStore.open(at: "/db", options: Self.options(fs))
                for i in 0..<50 { #expect(try again.get(Array("a\(i)".utf8)) == Array("v".utf8), "\(kind) \(code)") }
                try again.put(Array("after".utf8), Array("ok".utf8))
                try again.close()
            }
        }
    }

    /// ENOSPC or EIO while a checkpoint uploads: the checkpoint fails with the typed error, the
    /// previous one stays restorable, nothing acknowledged is lost, and once space returns
    /// the next checkpoint completes and restores to the store's state.
    @Test(arguments: [ENOSPC, EIO])
    func checkpointFailsCleanlyWhenTheStorageFails(code: Int32) throws {
        let memory = MemoryFileSystem()
        let store = try LSMStore.open(at: "/db", options: Self.options(memory))
        let storageFS = FaultInjectingFileSystem(memory)
        let storage = try LocalCheckpointStorage(root: "/chk", fileSystem: storageFS, allowLinks: false)
        let cp = try Checkpointer(store: store, storage: storage, retained: 2)
        for i in 0..<300 { try store.put(Array("k\(i)".utf8), Array("first".utf8)) }
        let first = try cp.checkpoint(mode: .incremental)
        for i in 0..<300 { try store.put(Array("k\(i)".utf8), Array("second".utf8)) }
        storageFS.injectNext(.error(code), of: .write)
        #expect {
            _ = try cp.checkpoint(mode: .incremental)
        } throws: { error in
            if case LSMError.io(_, _, let e) = error { return e == code }
            return false
        }
        #expect(try Checkpointer.list(storage).map(\.id) == [first.id])
        #expect(try store.get(Array("k7".utf8)) == Array("second".utf8))
        storageFS.heal()
        try cp.cleanup()
        let third = try cp.checkpoint(mode: .incremental)
        #expect(try Checkpointer.verify(storage: storage).problems.isEmpty)
        let restored = try LSMStore.restore(
            from: storage, checkpoint: third.id, to: "/restored", options: Self.options(memory))
        #expect(try restored.get(Array("k7".utf8)) == Array("second".utf8))
        try restored.close()
        let older = try LSMStore.restore(
            from: storage, checkpoint: first.id, to: "/restored-first", options: Self.options(memory))
        #expect(try older.get(Array("k7".utf8)) == Array("first".utf8))
        try older.close()
        try store.close()
    }

    @Test func memoryFileSystemLosesWhatWasNotSynced() throws {
        let fs = MemoryFileSystem()
        try fs.createDirectory("/d")
        try fs.syncDirectory("/")
        let f = try fs.create("/d/a")
        try f.append(Array("durable".utf8))
        try f.sync()
        try f.append(Array(" lost".utf8))
        let g = try fs.create("/d/b")  // its name is never synced
        try g.append(Array("x".utf8))
        try g.sync()
        try fs.syncDirectory("/d")
        _ = try fs.create("/d/c")
        try fs.rename("/d/a", to: "/d/a2")  // not synced: the old name survives
        let image = fs.crashImage()
        #expect(try image.listDirectory("/d") == ["a", "b"])
        #expect(try image.readFile("/d/a") == Array("durable".utf8))
        #expect(try image.readFile("/d/b") == Array("x".utf8))
    }
}
