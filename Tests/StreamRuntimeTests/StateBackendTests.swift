import Foundation
import LSMStore
import Testing
@testable import StreamRuntime

/// The keyed state backend's write-back cache against a model: a dictionary of store keys.
/// A tiny cache forces CLOCK eviction of clean and dirty slots; random flushes stand in for
/// checkpoints. Replay a failure with LSM_SEED.
@Suite struct StateBackendTests {
    /// (entries, bytes): tiny entry limits, a byte budget of about three entries, no limit.
    @Test(arguments: [(1, Int.max), (3, Int.max), (16, Int.max), (1000, 350), (1000, Int.max)])
    func cacheAgreesWithModelUnderEviction(capacity: Int, bytes: Int) throws {
        let seed =
            ProcessInfo.processInfo.environment["LSM_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 0...UInt64.max)
        var rng = SeededRandom(seed: seed)
        let dir = temp("backend")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = Options()
        options.walEnabled = false
        options.memtableSize = 64 << 10
        let store = try LSMStore.open(at: dir, options: options)
        defer { try? store.close() }
        let backend = KeyedStateBackend(
            store: store, maxParallelism: 128, cacheCapacity: capacity, cacheByteCapacity: bytes)
        backend.trackChanges = true
        let context = KeyedContext<Int64>(backend: backend, initialKey: 0, subtaskIndex: 0)
        let value = try context.state(ValueStateDescriptor(name: "v", codec: Int64Codec()))
        let map = try context.state(MapStateDescriptor(name: "m", keyCodec: StringCodec(), valueCodec: Int64Codec()))
        var model: [[UInt8]: [UInt8]] = [:]  // store key -> encoded value
        var changed: [[UInt8]: [UInt8]?] = [:]  // since the last takeChanges
        var pendingCut: DispatchSemaphore? = nil
        let cutMismatch = MessageBox()
        func write(_ key: [UInt8], _ v: [UInt8]?) {
            model[key] = v
            changed[key] = .some(v)
        }
        func checkReportedChanges(_ log: ChangeLog, model: [[UInt8]: [UInt8]], changed: [[UInt8]: [UInt8]?], step: Int)
        {
            let live = KeyedStateBackend.distinctSorted(log)
            // Keys whose only writes were absorbed before any flush are not reported.
            for (key, v) in live {
                #expect(changed[key] != nil, "seed \(seed) step \(step): reported a key never written")
                #expect(model[key] == v, "seed \(seed) step \(step): a reported change is not the last value written")
            }
            #expect(
                zip(live, live.dropFirst()).allSatisfy { KeyOrder.compare($0.0.key, $0.1.key) < 0 },
                "seed \(seed): not sorted")
            let reportedNow = Set(live.map(\.key))
            for (key, v) in changed where v != nil && model[key] != nil {
                #expect(reportedNow.contains(key), "seed \(seed) step \(step): a live change is missing")
            }
        }
        // The model and change set as of a cut's barrier, until the cut is complete.
        var barrier:
            (model: [[UInt8]: [UInt8]], changed: [[UInt8]: [UInt8]?], log: ChangeLog, delay: UInt32, step: Int)? = nil
        let gate = backend.gate
        backend.onCutComplete = { cut in
            guard let b = barrier else {
                Issue.record("seed \(seed): a cut completed without a barrier")
                return
            }
            barrier = nil
            var log = b.log
            var none: SortedRun? = nil
            let sorted = cut.sortedRun(reusing: &none)
            log.append(sorted)
            checkReportedChanges(log, model: b.model, changed: b.changed, step: b.step)
            let done = DispatchSemaphore(value: 0)
            let box = cutMismatch
            Thread {
                usleep(b.delay)
                do {
                    try sorted.ingest(into: store)
                    var stored: [[UInt8]: [UInt8]] = [:]
                    let it = try store.scan()
                    while let (sk, sv) = try it.next() { stored[sk] = sv }
                    if stored != b.model { box.value = "store differs from the model as of the barrier" }
                    gate.didApply()
                } catch {
                    gate.fail(error)
                }
                done.signal()
            }.start()
            pendingCut = done
        }
        for step in 0..<4000 {
            if backend.cutInProgress && rng.next() % 3 == 0 {
                backend.continueCut(budget: Int.random(in: 1...4, using: &rng))
            }
            let k = Int64.random(in: 0..<40, using: &rng)
            let kb = Int64Codec().encode(k)
            backend.setCurrentKey(kb)
            let vKey = backend.storeKey(state: KeyedContext<Int64>.stateID(forName: "v"))
            // Short map keys stay inline in the cache's keys, long ones (over 16 bytes) do not.
            let n = Int.random(in: 0..<6, using: &rng)
            let mk = n < 3 ? "m\(n)" : "a-rather-long-map-key-\(n)"
            let mKey = backend.storeKey(
                state: KeyedContext<Int64>.stateID(forName: "m"), mapKey: StringCodec().encode(mk))
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<30:
                let expected = model[vKey].flatMap { Int64Codec().decode($0[...]) }
                #expect(try value.value() == expected, "seed \(seed) step \(step)")
            case 30..<55:
                let n = Int64.random(in: 0...1_000_000, using: &rng)
                try value.update(n)
                write(vKey, Int64Codec().encode(n))
            case 55..<60:
                try value.clear()
                write(vKey, nil)
            case 60..<75:
                let n = Int64.random(in: 0...1_000_000, using: &rng)
                try map.put(mk, n)
                write(mKey, Int64Codec().encode(n))
            case 75..<85:
                let expected = model[mKey].flatMap { Int64Codec().decode($0[...]) }
                #expect(try map.get(mk) == expected, "seed \(seed) step \(step)")
            case 85..<90:
                try map.remove(mk)
                write(mKey, nil)
            case 90..<93:
                let prefix = backend.storeKey(state: KeyedContext<Int64>.stateID(forName: "m"), mapKey: [])
                let expected = model.filter { $0.key.starts(with: prefix) }.map {
                    (String(decoding: $0.key[prefix.count...], as: UTF8.self), $0.value)
                }
                .sorted { $0.0 < $1.0 }
                let got = try map.entries()
                #expect(got.map(\.key) == expected.map(\.0), "seed \(seed) step \(step)")
                #expect(
                    got.map(\.value) == expected.compactMap { Int64Codec().decode($0.1[...]) },
                    "seed \(seed) step \(step)")
            default:
                // A checkpoint: everything written so far reaches the store, and the changes
                // reported are the distinct keys written since the last one, deletions left out.
                // Half of them take a cut as the job does: it begins here, is captured a few
                // slots at a time in later steps (or at once when an eviction forces it), and
                // another thread writes it to the store a little later while the steps go on
                // (their misses find evicted values parked, writes of dirty slots wait for
                // it) and checks the store as of the barrier.
                if backend.cutInProgress { backend.finishCut() }
                pendingCut?.wait()
                pendingCut = nil
                #expect(cutMismatch.value == nil, "seed \(seed): \(cutMismatch.value ?? "")")
                if rng.next() % 2 == 0 {
                    barrier = (model, changed, backend.takeChanges(), UInt32.random(in: 0...2_000, using: &rng), step)
                    changed = [:]
                    try backend.beginCut()
                } else {
                    try backend.flush()
                    checkReportedChanges(backend.takeChanges(), model: model, changed: changed, step: step)
                    changed = [:]
                    var stored: [[UInt8]: [UInt8]] = [:]
                    let it = try store.scan()
                    while let (sk, sv) = try it.next() { stored[sk] = sv }
                    #expect(stored == model, "seed \(seed) step \(step): store differs from the model after a flush")
                }
                #expect(backend.cachedEntries <= capacity)
                // Values grown in place may pass the budget until the next admission.
                #expect(
                    bytes == Int.max || backend.cacheBytes <= bytes + 16, "seed \(seed): cache over its byte budget")
            }
        }
        if backend.cutInProgress { backend.finishCut() }
        pendingCut?.wait()
        #expect(cutMismatch.value == nil, "seed \(seed): \(cutMismatch.value ?? "")")
    }
}

extension StateBackendTests {
    /// Over an empty store the cache mirrors it (misses skip the store) until the first
    /// eviction; over a store that already holds state (a restore) it never does, and values
    /// already in the store are read.
    @Test func cacheMirrorsOnlyAnEmptyStoreUntilAnEviction() throws {
        let dir = temp("mirror")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = Options()
        options.walEnabled = false
        let store = try LSMStore.open(at: dir, options: options)
        defer { try? store.close() }
        let codec = Int64Codec()
        do {
            let backend = KeyedStateBackend(store: store, maxParallelism: 128, cacheCapacity: 4)
            #expect(backend.cacheMirrorsStore)
            let context = KeyedContext<Int64>(backend: backend, initialKey: 0, subtaskIndex: 0)
            let value = try context.state(ValueStateDescriptor(name: "v", codec: codec))
            for k: Int64 in 0..<4 {
                backend.setCurrentKey(codec.encode(k))
                #expect(try value.value() == nil)
                try value.update(k * 10)
            }
            #expect(backend.cacheMirrorsStore, "four keys fit in four slots")
            backend.setCurrentKey(codec.encode(4))
            try value.update(40)  // a fifth key evicts one (flushing the dirty ones first)
            #expect(!backend.cacheMirrorsStore)
            for k: Int64 in 0..<5 {
                backend.setCurrentKey(codec.encode(k))
                #expect(try value.value() == k * 10, "key \(k) after eviction")
            }
            try backend.flush()
        }
        let reopened = KeyedStateBackend(store: store, maxParallelism: 128, cacheCapacity: 100)
        #expect(!reopened.cacheMirrorsStore, "the store holds state")
        let context = KeyedContext<Int64>(backend: reopened, initialKey: 0, subtaskIndex: 0)
        let value = try context.state(ValueStateDescriptor(name: "v", codec: codec))
        for k: Int64 in 0..<5 {
            reopened.setCurrentKey(codec.encode(k))
            #expect(try value.value() == k * 10, "key \(k) read from the store")
        }
    }
}

extension StateBackendTests {
    /// A cut that could not be written to the store breaks the backend: its next cut, and
    /// any store access, throws that error instead of going on without the cut's state.
    @Test func aCutThatCannotBeAppliedFailsWhatFollows() throws {
        let dir = temp("cutfail")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = Options()
        options.walEnabled = false
        let store = try LSMStore.open(at: dir, options: options)
        defer { try? store.close() }
        let backend = KeyedStateBackend(store: store, maxParallelism: 128, cacheCapacity: 2)
        let context = KeyedContext<Int64>(backend: backend, initialKey: 0, subtaskIndex: 0)
        let value = try context.state(ValueStateDescriptor(name: "v", codec: Int64Codec()))
        backend.setCurrentKey(Int64Codec().encode(1))
        try value.update(10)
        let cut = try backend.cut()
        #expect(cut.entries.count == 1)
        backend.gate.fail(LSMError.invalidArgument("injected"))
        #expect(throws: LSMError.self) { try backend.cut() }
        // Filling the two slots and a third key evicts a dirty slot: the write must not happen.
        for k: Int64 in 2...4 {
            backend.setCurrentKey(Int64Codec().encode(k))
            do { try value.update(k) } catch { return }
        }
        Issue.record("evicting past a failed cut did not throw")
    }
}

/// A message set by another thread, read after it signalled.
final class MessageBox: @unchecked Sendable {
    var value: String? = nil
}

/// The project's seeded generator (`SplitMix64`), under the name the tests use.
typealias SeededRandom = SplitMix64
