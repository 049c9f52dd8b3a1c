import Foundation
import Testing
@testable import LSMStore

@Suite struct MemtableTests {
    /// Sorted runs take the memtable's resume-from-last-insert path, random keys the full
    /// search; mixing them (runs that start below earlier keys, equal user keys with newer
    /// sequences, single random inserts) must keep the skip list ordered and every entry
    /// findable. Replay a failure with LSM_SEED.
    @Test func ascendingRunsAndRandomInsertsKeepOrder() throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let table = Memtable()
        var model: [[UInt8]: (seq: UInt64, value: [UInt8])] = [:]
        var seq: UInt64 = 0
        func key(_ n: Int) -> [UInt8] { Array(String(format: "key%06d", n).utf8) }
        for _ in 0..<300 {
            let start = Int.random(in: 0..<20_000, using: &rng)
            let run = Int.random(in: 1...60, using: &rng)
            let step = Int.random(in: 1...5, using: &rng)
            for i in 0..<run {
                seq += 1
                let k = key(start + i * step)
                let v = Array("v\(seq)".utf8)
                table.add(sequence: seq, kind: .value, key: k, value: v)
                model[k] = (seq, v)
            }
        }
        // Every key's newest value is found.
        for (k, e) in model {
            guard case .found(let v) = table.get(k, sequence: seq) else {
                Issue.record("seed \(seed): \(String(decoding: k, as: UTF8.self)) not found")
                return
            }
            #expect(v == e.value, "seed \(seed)")
        }
        // The iterator yields internal-key order: user keys ascending, newest first.
        let it = table.makeIterator()
        try it.seekToFirst()
        var previous: [UInt8]? = nil
        var count = 0
        while it.isValid {
            let k = it.key
            if let p = previous { #expect(compareInternal(p, k) < 0, "seed \(seed): out of order at entry \(count)") }
            previous = k
            count += 1
            try it.next()
        }
        #expect(count == Int(seq), "seed \(seed)")
    }
}

extension MemtableTests {
    /// A frozen memtable is read without its lock: gets and full iterations from several
    /// threads at once see every entry (`make tsan` runs this file's suite too).
    @Test func frozenMemtableServesConcurrentReaders() throws {
        let table = Memtable()
        let n = 5000
        @Sendable func key(_ i: Int) -> [UInt8] { Array(String(format: "k%06d", i).utf8) }
        for i in 0..<n {
            table.add(
                sequence: UInt64(i + 1), kind: i % 10 == 0 ? .deletion : .value, key: key(i), value: Array("v\(i)".utf8)
            )
        }
        table.freeze()
        let problems = ProblemList()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in stride(from: t, to: n, by: 4) {
                switch table.get(key(i), sequence: .max >> 8) {
                case .found(let v): if i % 10 == 0 || v != Array("v\(i)".utf8) { problems.add("key \(i): \(v)") }
                case .deleted: if i % 10 != 0 { problems.add("key \(i) reads as deleted") }
                case .absent: problems.add("key \(i) absent")
                }
            }
            let it = table.makeIterator()
            var seen = 0
            do {
                try it.seekToFirst()
                while it.isValid {
                    seen += 1
                    try it.next()
                }
            } catch { problems.add("\(error)") }
            if seen != n { problems.add("iteration saw \(seen) of \(n)") }
        }
        #expect(problems.all.isEmpty, "\(problems.all.prefix(5))")
        #expect(table.count == n)
    }
}
