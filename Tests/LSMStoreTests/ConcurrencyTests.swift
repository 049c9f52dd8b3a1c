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
                            batch.put(
                                Array("w\(w)-k\(k)".utf8), Array("w\(w)-round\(String(format: "%04d", round))".utf8))
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
                            guard v.hasPrefix("w\(w)-round") else {
                                fail("reader \(r): \(key) = \(v)")
                                return
                            }
                            if let old = seen[key], old > v {
                                fail("reader \(r): \(key) went back from \(old) to \(v)")
                                return
                            }
                            seen[key] = v
                        }
                        if Int.random(in: 0..<200) == 0 {
                            // A snapshot scan is sorted and consistent per writer batch.
                            let snap = try store.snapshot()
                            let it = try store.scan(snapshot: snap)
                            var last: [UInt8]? = nil
                            while let (k, _) = try it.next() {
                                if let l = last, !l.lexicographicallyPrecedes(k) {
                                    fail("reader \(r): scan out of order")
                                    return
                                }
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
    private let lock = Monitor()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Problems found on any thread.
final class ProblemList: @unchecked Sendable {
    private let lock = Monitor()
    private var items: [String] = []
    var all: [String] { lock.withLock { items } }
    func add(_ s: String) { lock.withLock { items.append(s) } }
}

extension ConcurrencyTests {
    /// A manifest fsync must not hold up reads and writes (it runs with the state lock
    /// released, as in LevelDB): with the fsync of a background flush's manifest record held
    /// open, a get and a put on another thread still complete.
    @Test func manifestSyncDoesNotBlockReadsOrWrites() throws {
        let gate = SyncGate()
        let fs = FaultInjectingFileSystem(MemoryFileSystem())
        fs.onOperation { kind, path in
            if kind == .sync && path.split(separator: "/").last?.hasPrefix("MANIFEST") == true { gate.syncing() }
        }
        var o = Options()
        o.fileSystem = fs
        o.walEnabled = false
        // Large enough that filling a second memtable (which would wait for the held flush)
        // takes hundreds of puts, each giving the flush a millisecond to reach the fsync.
        o.memtableSize = 256 << 10
        let store = try LSMStore.open(at: "/db", options: o)
        try store.put(bytes("old"), bytes("1"))
        try store.flush()  // the manifest exists; the next flush appends a record to it
        gate.arm()
        // Fill the memtable past its size: the switch hands it to the background flush.
        var i = 0
        while gate.entered.wait(timeout: .now() + .milliseconds(1)) == .timedOut {
            try store.put(bytes("k\(i)"), [UInt8](repeating: 7, count: 1000))
            i += 1
            if i > 100_000 { break }
        }
        #expect(i <= 100_000, "no manifest sync happened")
        let finished = DispatchSemaphore(value: 0)
        let results = ProblemList()
        Thread {
            do {
                if try store.get(bytes("old")) != bytes("1") { results.add("wrong value") }
                try store.put(bytes("during"), bytes("2"))
                if gate.released { results.add("a get and a put waited for the manifest fsync") }
            } catch { results.add("\(error)") }
            finished.signal()
        }.start()
        finished.wait()
        gate.open()
        #expect(results.all.isEmpty, "\(results.all)")
        #expect(try store.get(bytes("during")) == bytes("2"))
        try store.close()
    }
}

/// Holds the next manifest fsync, once armed, until opened or for 10 s at most (so a
/// regression fails the test instead of hanging it).
final class SyncGate: @unchecked Sendable {
    private let lock = NSLock()
    private var armed = false
    private var _released = false
    let entered = DispatchSemaphore(value: 0)
    private let release = DispatchSemaphore(value: 0)

    func arm() { lock.withLock { armed = true } }
    func open() { release.signal() }
    /// Whether the held fsync has gone on.
    var released: Bool { lock.withLock { _released } }

    func syncing() {
        let hold = lock.withLock { () -> Bool in
            defer { armed = false }
            return armed
        }
        guard hold else { return }
        entered.signal()
        _ = release.wait(timeout: .now() + .seconds(10))
        lock.withLock { _released = true }
    }
}

extension ConcurrencyTests {
    /// Reads take the published read view, not the state lock: while one thread ingests
    /// sorted batches (each raising every key's counter) and writes, and flushes and
    /// compactions install versions, readers never see a key's counter go back, a snapshot's
    /// reads never change, and the ingesting thread reads each batch back as soon as its
    /// ingest returns.
    @Test func readsFollowIngestsFlushesAndCompactions() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = smallOptions()
        o.walEnabled = false
        let store = try LSMStore.open(at: dir.sub("db"), options: o)
        let keys = (0..<200).map { bytes(String(format: "k%04d", $0)) }
        @Sendable func value(_ round: Int) -> [UInt8] { withUnsafeBytes(of: UInt64(round).bigEndian) { Array($0) } }
        @Sendable func counter(_ v: [UInt8]) -> Int { v.reduce(0) { $0 << 8 | Int($1) } }
        let done = ManagedAtomicFlag()
        let problems = ProblemList()
        let readers = DispatchGroup()
        for r in 0..<2 {
            readers.enter()
            Thread {
                defer { readers.leave() }
                var seen = [Int](repeating: 0, count: keys.count)
                var i = r
                while !done.isSet {
                    i = (i + 7) % keys.count
                    do {
                        if let v = try store.get(keys[i]) {
                            if counter(v) < seen[i] { problems.add("key \(i): \(counter(v)) after \(seen[i])") }
                            seen[i] = counter(v)
                        }
                        if i % 50 == 0 {
                            let snap = try store.snapshot()
                            let first = try store.get(keys[i], snapshot: snap)
                            for _ in 0..<20 where try store.get(keys[i], snapshot: snap) != first {
                                problems.add("snapshot read of key \(i) changed")
                            }
                        }
                    } catch { problems.add("read: \(error)") }
                }
            }.start()
        }
        for round in 1...60 {
            if round % 3 == 0 {
                for k in keys { try store.put(k, value(round)) }
            } else {
                try store.ingestSorted { add in
                    for k in keys {
                        try k.withUnsafeBytes { kb in try value(round).withUnsafeBytes { try add(kb, $0) } }
                    }
                }
            }
            for (i, k) in keys.enumerated() where i % 13 == 0 {
                let v = try store.get(k)
                #expect(v == value(round), "round \(round): key \(i) reads \(v.map(counter) ?? -1)")
            }
            if round % 10 == 0 { try store.flush() }
        }
        done.set()
        readers.wait()
        #expect(problems.all.isEmpty, "\(problems.all.prefix(5))")
        try store.close()
        #expect(throws: LSMError.self) { _ = try store.get(keys[0]) }
    }
}
