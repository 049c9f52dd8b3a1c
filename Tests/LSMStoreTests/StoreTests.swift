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
