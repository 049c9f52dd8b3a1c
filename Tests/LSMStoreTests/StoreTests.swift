import Foundation
import Testing
@testable import LSMStore

@Suite struct StoreTests {
    @Test func putGetDeleteInMemtable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path)
        try store.put("a", "1")
        try store.put("b", "2")
        #expect(try store.get("a") == "1")
        #expect(try store.get("b") == "2")
        #expect(try store.get("c") == nil)
        try store.put("a", "3")
        #expect(try store.get("a") == "3")
        try store.delete("a")
        #expect(try store.get("a") == nil)
        try store.close()
    }

    /// The compaction thread runs with its nice value raised by `compactionPriorityReduction`
    /// (read back from /proc); a value outside 0...19 is refused.
    @Test func theCompactionThreadsPriorityIsLowered() throws {
        func nices() throws -> [Int] {
            try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").compactMap { tid in
                let comm = (try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8)) ?? ""
                guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == "lsm-compact",
                    let stat = try? String(contentsOfFile: "/proc/self/task/\(tid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return nil }
                // Fields after the command: state is field 3, nice field 19.
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                return fields.count > 16 ? Int(fields[16]) : nil
            }
        }
        let base = Int(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0))
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Options()
        o.compactionPriorityReduction = 7
        let store = try LSMStore.open(at: dir.path, options: o)
        var found = false
        for _ in 0..<100 where !found {
            found = try nices().contains(min(19, base + 7))
            if !found { Thread.sleep(forTimeInterval: 0.01) }
        }
        let seen = try nices()
        #expect(found, "no compaction thread at nice \(base + 7): \(seen)")
        try store.close()
        o.compactionPriorityReduction = 20
        #expect(throws: LSMError.self) { try LSMStore.open(at: dir.sub("other"), options: o) }
    }
}

extension StoreTests {
    @Test func getAfterFlush() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path)
        for i in 0..<100 { try store.put("k\(i)", "v\(i)") }
        try store.flush()
        for i in 0..<100 { #expect(try store.get("k\(i)") == "v\(i)", "k\(i)") }
        try store.close()
    }
}

extension StoreTests {
    /// A closed and released store frees its engine (and with it every open file).
    @Test func closedStoreIsFreed() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        weak var weakCore: StoreCore?
        do {
            let store = try LSMStore.open(at: dir.path, options: smallOptions())
            for i in 0..<2000 { try store.put(bytes("k\(i)"), bytes(String(repeating: "v", count: 100))) }
            try store.flush()
            _ = try store.get(bytes("k5"))
            _ = try store.scan().collect()
            weakCore = store.core
            try store.close()
        }
        #expect(weakCore == nil)
    }
}

extension StoreTests {
    /// Reopening many times leaves no file descriptors behind.
    @Test func reopeningDoesNotLeakFiles() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        func openFiles() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
        var store = try LSMStore.open(at: dir.path, options: smallOptions())
        for i in 0..<3000 { try store.put(bytes("k\(i % 500)"), bytes(String(repeating: "v", count: 200))) }
        try store.flush()
        try store.close()
        store = try LSMStore.open(at: dir.path, options: smallOptions())
        _ = try store.scan().collect()
        try store.close()
        let baseline = openFiles()
        for _ in 0..<10 {
            store = try LSMStore.open(at: dir.path, options: smallOptions())
            _ = try store.scan().collect()
            try store.close()
        }
        // Other tests run in parallel and open files too; a leak here would be >= 10 per round.
        #expect(openFiles() < baseline + 50)
    }
}

extension StoreTests {
    @Test func emptyKeysAndValuesAndBinaryKeys() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        try store.put([], bytes("empty key"))
        try store.put(bytes("k"), [])
        try store.put([0, 0, 255], [1])
        #expect(try store.get([]) == bytes("empty key"))
        #expect(try store.get(bytes("k")) == [])
        try store.flush()
        #expect(try store.get([]) == bytes("empty key"))
        #expect(try store.get(bytes("k")) == [])
        #expect(try store.get([0, 0, 255]) == [1])
        #expect(try allEntries(store).map(\.key) == [[], [0, 0, 255], bytes("k")])
        try store.close()
    }

    @Test func recoveryReplaysTheWriteAheadLog() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        do {
            let store = try LSMStore.open(at: dir.path)
            var batch = WriteBatch()
            for i in 0..<100 { batch.put(bytes("b\(i)"), bytes("\(i)")) }
            try store.write(batch)
            try store.put("x", "1")
            try store.delete("b5")
            // No flush: everything is only in the WAL when the store goes away.
            try store.close()
        }
        let store = try LSMStore.open(at: dir.path)
        #expect(try store.get("x") == "1")
        #expect(try store.get("b5") == nil)
        #expect(try store.get("b99") == "99")
        #expect(store.stats.lastSequence == 102)
        #expect(store.stats.levels[0].files == 1)  // the replayed log became an L0 table
        try store.close()
    }

    @Test func walOffCloseFlushesTheMemtable() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Options()
        o.walEnabled = false
        do {
            let store = try LSMStore.open(at: dir.path, options: o)
            for i in 0..<50 { try store.put(bytes("k\(i)"), bytes("v\(i)")) }
            try store.close()
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(!names.contains { $0.hasSuffix(".log") })
        let store = try LSMStore.open(at: dir.path, options: o)
        #expect(try store.get(bytes("k49")) == bytes("v49"))
        try store.close()
    }

    @Test func secondOpenIsRefusedWhileLocked() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path)
        #expect(throws: LSMError.locked(path: dir.path + "/LOCK")) { try LSMStore.open(at: dir.path) }
        try store.close()
        let again = try LSMStore.open(at: dir.path)
        try again.close()
    }

    @Test func createIfMissingAndErrorIfExists() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        var o = Options()
        o.createIfMissing = false
        #expect(throws: LSMError.self) { try LSMStore.open(at: dir.sub("absent"), options: o) }
        #expect(throws: LSMError.self) { try LSMStore.open(at: dir.path, options: o) }  // exists, but no store
        #expect(!FileManager.default.fileExists(atPath: dir.sub("CURRENT")))
        try LSMStore.open(at: dir.path).close()
        var e = Options()
        e.errorIfExists = true
        #expect(throws: LSMError.self) { try LSMStore.open(at: dir.path, options: e) }
        var bad = Options()
        bad.blockSize = 1
        #expect(throws: LSMError.self) { try LSMStore.open(at: dir.sub("x"), options: bad) }
    }

    @Test func closedStoreRefusesWork() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path)
        try store.close()
        try store.close()  // harmless
        #expect(throws: LSMError.closed) { try store.put("a", "b") }
        #expect(throws: LSMError.closed) { _ = try store.get("a") }
        #expect(throws: LSMError.closed) { _ = try store.scan() }
        #expect(throws: LSMError.closed) { _ = try store.snapshot() }
    }

    @Test func snapshotSurvivesOverwritesFlushesAndCompaction() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        for i in 0..<500 { try store.put(bytes("k\(i)"), bytes("old\(i)")) }
        let snap = try store.snapshot()
        for i in 0..<500 { try store.put(bytes("k\(i)"), bytes("new\(i)")) }
        for i in stride(from: 0, to: 500, by: 2) { try store.delete(bytes("k\(i)")) }
        try store.compact()
        #expect(try store.get(bytes("k1"), snapshot: snap) == bytes("old1"))
        #expect(try store.get(bytes("k2"), snapshot: snap) == bytes("old2"))
        #expect(try store.get(bytes("k2")) == nil)
        #expect(try store.get(bytes("k3")) == bytes("new3"))
        let old = try allEntries(store, snapshot: snap)
        #expect(old.count == 500 && old.allSatisfy { String(decoding: $0.value, as: UTF8.self).hasPrefix("old") })
        #expect(try allEntries(store).count == 250)
        snap.release()
        try store.compact()
        // With the snapshot gone, compaction keeps one version per live key and no markers.
        let entries = store.stats.levels.reduce(0) { $0 + $1.files }
        #expect(entries > 0)
        var tableEntries: UInt64 = 0
        for f in try Inspector.manifest(at: dir.path).files {
            tableEntries += try Inspector.dumpTable(at: dir.sub(FileNames.tableName(f.number)), includeEntries: false)
                .properties.entryCount
        }
        #expect(tableEntries == 250)
        try store.close()
    }

    @Test func iteratorIsStableWhileTheStoreChanges() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        for i in 0..<300 { try store.put(bytes(String(format: "k%04d", i)), bytes("v\(i)")) }
        let it = try store.scan(from: bytes("k0100"), to: bytes("k0200"))
        for i in 0..<300 { try store.put(bytes(String(format: "k%04d", i)), bytes("changed")) }
        try store.compact()
        let got = try it.collect()
        #expect(got.count == 100)
        #expect(got.first?.key == bytes("k0100") && got.last?.key == bytes("k0199"))
        #expect(got.allSatisfy { $0.value != bytes("changed") })
        try store.close()
    }

    @Test func statsCountFlushesCompactionsAndWriteAmplification() throws {
        let dir = TempDir()
        defer { dir.cleanup() }
        let store = try LSMStore.open(at: dir.path, options: smallOptions())
        for i in 0..<5000 { try store.put(bytes("key\(i % 1000)"), bytes(String(repeating: "x", count: 100))) }
        try store.compact()
        let s = store.stats
        #expect(s.flushCount > 0)
        #expect(s.compactionCount > 0)
        #expect(s.userBytesWritten > 500_000)
        #expect(s.walBytesWritten > s.userBytesWritten)
        #expect(s.writeAmplification > 0)
        #expect(s.levels.count == 7)
        #expect(s.levels[0].files == 0)  // compact() leaves nothing in L0
        #expect(s.description.contains("write amplification"))
        try store.close()
    }
}
