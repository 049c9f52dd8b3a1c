import Foundation
import LSMStore

// Opens a store, writes, reads, scans, snapshots, reopens, and checks every answer.
let dir = NSTemporaryDirectory() + "embed-lsmstore-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: dir) }

func check(_ ok: Bool, _ what: String) {
    if !ok {
        FileHandle.standardError.write(Data("FAILED: \(what)\n".utf8))
        exit(1)
    }
}

do {
    var options = Options()
    options.memtableSize = 64 << 10
    let store = try LSMStore.open(at: dir, options: options)
    for i in 0..<10_000 { try store.put("key\(i)", "value\(i)") }
    let snapshot = try store.snapshot()
    var batch = WriteBatch()
    batch.delete(Array("key1".utf8))
    batch.put(Array("key2".utf8), Array("changed".utf8))
    try store.write(batch)
    try store.compact()
    check(try store.get("key1") == nil, "deleted key is gone")
    check(try store.get("key2") == "changed", "batch put applied")
    check(try store.get("key1", snapshot: snapshot) == "value1", "snapshot sees the old value")
    let range = try store.scan(from: Array("key10".utf8), to: Array("key11".utf8)).collect()
    check(range.count == 111, "scan [key10, key11) has 111 keys (got \(range.count))")
    try store.close()

    let reopened = try LSMStore.open(at: dir, options: options)
    check(try reopened.get("key9999") == "value9999", "data survives reopening")
    print("embedded LSMStore OK: \(reopened.stats.levels.map(\.files)) files per level")
    try reopened.close()
} catch {
    FileHandle.standardError.write(Data("FAILED: \(error)\n".utf8))
    exit(1)
}
