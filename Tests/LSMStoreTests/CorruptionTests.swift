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
        let seed = ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let (image, history, latest) = try Self.build()
        let files = try image.listDirectory("/db").filter { $0 != "LOCK" }
        #expect(files.contains { $0.hasSuffix(".sst") } && files.contains { $0.hasSuffix(".log") })
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
                if name.hasSuffix(".sst") {
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
                            if let got { #expect(history[k]?.contains(got) == true, "\(what): \(k) = \(got), a value it never had") }
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
}
