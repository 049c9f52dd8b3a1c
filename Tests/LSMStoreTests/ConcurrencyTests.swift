import Foundation
import Testing
@testable import LSMStore

/// Readers, writers, scans, snapshots, background compaction and checkpoints of both modes on
/// several threads at once. Every key's value encodes its writer and a counter that only
/// grows, so a reader can tell a value it must never see (an older counter than one it
/// already saw for that key, or bytes no writer wrote). `make tsan` runs this suite under
/// ThreadSanitizer.
@Suite struct ConcurrencyTests {
    @Test func readersWritersCompactionAndCheckpointsTogether() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions()
        o.walEnabled = true
        let store = try LSMStore.open(at: dir.sub("db"), options: o)
        let storage = try LocalCheckpointStorage(root: dir.sub("chk"))
        let cp = try Checkpointer(store: store, storage: storage, retained: 2)
        let writers = 2, keysPerWriter = 200, rounds = 60
        let problems = ProblemList()
        @Sendable func fail(_ s: String) { problems.add(s) }
        let group = DispatchGroup()
        let done = ManagedAtomicFlag()
        for w in 0..<writers {
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    for round in 1...rounds {
                        var batch = WriteBatch()
                        for k in 0..<keysPerWriter {
                            batch.put(Array("w\(w)-k\(k)".utf8), Array("w\(w)-round\(String(format: "%04d", round))".utf8))
                        }
                        try store.write(batch)
                        if round % 5 == 0 { try store.delete(Array("w\(w)-k0".utf8)) }
                    }
                } catch { fail("writer \(w): \(error)") }
            }.start()
        }
        for r in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                var seen: [String: String] = [:]
                do {
                    while !done.isSet {
                        let w = Int.random(in: 0..<writers), k = Int.random(in: 1..<keysPerWriter)
                        let key = "w\(w)-k\(k)"
                        if let v = try store.get(Array(key.utf8)).map({ String(decoding: $0, as: UTF8.self) }) {
                            guard v.hasPrefix("w\(w)-round") else { fail("reader \(r): \(key) = \(v)"); return }
                            if let old = seen[key], old > v { fail("reader \(r): \(key) went back from \(old) to \(v)"); return }
                            seen[key] = v
                        }
                        if Int.random(in: 0..<200) == 0 {
                            // A snapshot scan is sorted and consistent per writer batch.
                            let snap = try store.snapshot()
                            let it = try store.scan(snapshot: snap)
                            var last: [UInt8]? = nil
                            while let (k, _) = try it.next() {
                                if let l = last, !l.lexicographicallyPrecedes(k) { fail("reader \(r): scan out of order"); return }
                                last = k
                            }
                        }
                    }
                } catch { fail("reader \(r): \(error)") }
            }.start()
        }
        group.enter()
        Thread {
            defer { group.leave() }
            do {
                var i = 0
                while !done.isSet {
                    _ = try cp.checkpoint(mode: i % 2 == 0 ? .incremental : .full)
                    if i % 3 == 0 { try store.compact() }
                    i += 1
                }
            } catch { fail("checkpointer: \(error)") }
        }.start()
        // Writers finish, then the others stop.
        while problems.all.isEmpty {
            usleep(20_000)
            if store.stats.lastSequence >= UInt64(writers * rounds * keysPerWriter) { break }
        }
        usleep(50_000)
        done.set()
        group.wait()
        #expect(problems.all.isEmpty, "\(problems.all)")
        let final = try cp.checkpoint(mode: .incremental)
        let restored = try LSMStore.restore(from: storage, checkpoint: final.id, to: dir.sub("restored"), options: o)
        let a = try allEntries(restored), b = try allEntries(store)
        #expect(a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value))
        try restored.close()
        try store.close()
    }
}

/// A flag set once, read from several threads.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = Mutex()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Problems found on any thread.
final class ProblemList: @unchecked Sendable {
    private let lock = Mutex()
    private var items: [String] = []
    var all: [String] { lock.withLock { items } }
    func add(_ s: String) { lock.withLock { items.append(s) } }
}
