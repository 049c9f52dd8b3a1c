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
