// Microbenchmarks of LSMStore through its PUBLIC API only (this is a separate package).
//
// Several internals are not public (the memtable, the WAL writer, the SST builder and
// reader, LZ4 block compression), so they are measured through the store:
//   - "memtable insert"  = puts into a fresh store with the WAL off and a memtable large
//                          enough never to flush during the measurement;
//   - "WAL append"       = the same puts with the WAL on (no fsync, and fsync per write);
//   - "SST build"        = flush() of a filled memtable (data blocks, bloom filter, index,
//                          manifest update);
//   - "LZ4"              = the SST build with compression .none vs .lz4, on compressible and
//                          on incompressible values (LZ4 is tried and rejected there);
//   - "point read"       = get() on a flushed and compacted store, keys present / absent;
//   - "scan"             = iterating the whole store;
//   - "compaction"       = compact() of four overlapping L0 tables;
//   - "checkpoint"       = Checkpointer.checkpoint(mode:) of a fixed store.
// CRC32C is public (`Checksum.crc32c`) and is measured directly.
//
// Setup (creating stores, loading data) is kept out of the measured region, either in the
// per-benchmark `setup:` closure or between stopMeasurement()/startMeasurement().
// Every store lives in a fresh directory under NSTemporaryDirectory() that is removed.

import Benchmark
import Foundation
import LSMStore

// MARK: - Data helpers

/// A 16-byte key "k" + 15 decimal digits: byte order equals numeric order.
func makeKey(_ i: Int) -> [UInt8] {
    var out = [UInt8](repeating: UInt8(ascii: "0"), count: 16)
    out[0] = UInt8(ascii: "k")
    var n = i
    var pos = 15
    while n > 0 && pos > 0 {
        out[pos] = UInt8(ascii: "0") + UInt8(n % 10)
        n /= 10
        pos -= 1
    }
    return out
}

let valueSize = 100

/// A 100-byte value that LZ4 shrinks well (text-like, repetitive, varies with `i`).
func compressibleValue(_ i: Int) -> [UInt8] {
    let text = Array("value-\(i)-the-quick-brown-fox-jumps-over-the-lazy-dog-".utf8)
    return (0..<valueSize).map { text[$0 % text.count] }
}

/// A 100-byte random value: LZ4 cannot shrink it, so blocks are stored raw.
func incompressibleValue(_ rng: inout SplitMix64) -> [UInt8] {
    (0..<valueSize).map { _ in UInt8.random(in: 0...255, using: &rng) }
}

/// `count` key indices 0..<count in a fixed random order.
func shuffledIndices(_ count: Int, seed: UInt64) -> [Int] {
    var rng = SplitMix64(seed: seed)
    return Array(0..<count).shuffled(using: &rng)
}

func makeTempDir(_ tag: String) -> String {
    NSTemporaryDirectory() + "lsmstore-bench-\(tag)-\(UUID().uuidString)"
}

func removeDir(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Options that keep everything in one memtable (no flush while measuring) and keep
/// background compaction from starting by itself.
func quietOptions(wal: Bool, compression: Compression = .lz4) -> Options {
    var o = Options()
    o.walEnabled = wal
    o.syncWrites = false
    o.memtableSize = 256 << 20
    o.compression = compression
    o.l0CompactionTrigger = 1000
    o.l0SlowdownTrigger = 1000
    o.l0StopTrigger = 1000
    return o
}

/// Writes `keys`/`values` in WriteBatches of 1000 entries.
func load(_ store: LSMStore, keys: [[UInt8]], values: [[UInt8]]) throws {
    var batch = WriteBatch()
    for (k, v) in zip(keys, values) {
        batch.put(k, v)
        if batch.count == 1000 {
            try store.write(batch)
            batch = WriteBatch()
        }
    }
    if !batch.isEmpty { try store.write(batch) }
}

/// A store and its directory, shared by the iterations of one benchmark.
final class Fixture: @unchecked Sendable {
    let dir: String
    let store: LSMStore
    var extra: [String] = []  // more directories to remove (checkpoint storage)

    init(tag: String, options: Options) throws {
        dir = makeTempDir(tag)
        store = try LSMStore.open(at: dir, options: options)
    }

    func destroy() {
        try? store.close()
        removeDir(dir)
        extra.forEach(removeDir)
    }
}

/// Holder for state made in `setup:` and used by the benchmark and `teardown:`.
final class Box<T>: @unchecked Sendable {
    var value: T?
}

// MARK: - Fixed read store

/// Entries in the read/scan/checkpoint store: keys 0, 2, 4, ... (odd keys are absent, and
/// fall between present ones, so a miss is answered by the bloom filter, not the key range).
let readEntries = 50_000

func makeReadStore(tag: String) throws -> Fixture {
    var o = Options()
    o.walEnabled = false
    let f = try Fixture(tag: tag, options: o)
    let keys = (0..<readEntries).map { makeKey(2 * $0) }
    let values = (0..<readEntries).map { compressibleValue($0) }
    try load(f.store, keys: keys, values: values)
    try f.store.flush()
    try f.store.compact()
    return f
}

// MARK: - Benchmarks

let benchmarks: @Sendable () -> Void = {
    let metrics: [BenchmarkMetric] = [.wallClock, .throughput, .mallocCountTotal, .peakMemoryResident]

    Benchmark.defaultConfiguration = .init(
        metrics: metrics,
        warmupIterations: 1,
        maxDuration: .seconds(2),
        maxIterations: 1000
    )

    // MARK: Writes

    /// 1000 puts (random key order) into a fresh store; store open/close is not measured.
    func putBenchmark(_ name: String, wal: Bool) {
        let n = 1000
        let order = shuffledIndices(n, seed: 1)
        let keys = order.map(makeKey)
        let values = order.map(compressibleValue)
        Benchmark(name, configuration: .init(scalingFactor: .kilo)) { benchmark in
            let dir = makeTempDir("put")
            defer { removeDir(dir) }
            let store = try LSMStore.open(at: dir, options: quietOptions(wal: wal))
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                try store.put(keys[i], values[i])
            }
            benchmark.stopMeasurement()
            try store.close()
        }
    }
    putBenchmark("memtable insert: put 100B, WAL off", wal: false)
    putBenchmark("WAL append: put 100B, WAL on, no sync", wal: true)

    // One put with fsync per iteration, into a store shared by all iterations.
    let syncBox = Box<Fixture>()
    Benchmark(
        "WAL append: put 100B, WAL on, sync=true",
        configuration: .init(maxIterations: 300)
    ) { benchmark in
        let store = syncBox.value!.store
        let k = makeKey(benchmark.currentIteration)
        let v = compressibleValue(benchmark.currentIteration)
        benchmark.startMeasurement()
        try store.put(k, v, sync: true)
    } setup: {
        syncBox.value = try Fixture(tag: "sync", options: quietOptions(wal: true))
    } teardown: {
        syncBox.value?.destroy()
        syncBox.value = nil
    }

    // 1000 puts as one WriteBatch, WAL on (no sync): per-entry cost of batched writes.
    do {
        let order = shuffledIndices(1000, seed: 2)
        let keys = order.map(makeKey)
        let values = order.map(compressibleValue)
        Benchmark(
            "write(WriteBatch): 1000 x 100B, WAL on, no sync",
            configuration: .init(scalingFactor: .kilo)
        ) { benchmark in
            let dir = makeTempDir("batch")
            defer { removeDir(dir) }
            let store = try LSMStore.open(at: dir, options: quietOptions(wal: true))
            var batch = WriteBatch()
            for i in benchmark.scaledIterations { batch.put(keys[i], values[i]) }
            benchmark.startMeasurement()
            try store.write(batch)
            benchmark.stopMeasurement()
            try store.close()
        }
    }

    // MARK: SST build (flush) and LZ4

    /// flush() of a memtable holding 10k entries of 16B keys and 100B values.
    func flushBenchmark(_ name: String, compression: Compression, compressible: Bool) {
        let n = 10_000
        let order = shuffledIndices(n, seed: 3)
        let keys = order.map(makeKey)
        var rng = SplitMix64(seed: 4)
        let values = order.map { compressible ? compressibleValue($0) : incompressibleValue(&rng) }
        Benchmark(name, configuration: .init(maxIterations: 50)) { benchmark in
            let dir = makeTempDir("flush")
            defer { removeDir(dir) }
            let store = try LSMStore.open(at: dir, options: quietOptions(wal: false, compression: compression))
            try load(store, keys: keys, values: values)
            benchmark.startMeasurement()
            try store.flush()
            benchmark.stopMeasurement()
            try store.close()
        }
    }
    flushBenchmark("SST build: flush 10k x 100B, compression none", compression: .none, compressible: true)
    flushBenchmark("SST build: flush 10k x 100B, lz4, compressible", compression: .lz4, compressible: true)
    flushBenchmark("SST build: flush 10k x 100B, lz4, incompressible", compression: .lz4, compressible: false)

    // MARK: Point reads and scan (fixed store: 50k entries, flushed and compacted)

    let lookups = 16_384
    var lookupRng = SplitMix64(seed: 5)
    let presentKeys = (0..<lookups).map { _ in makeKey(2 * Int.random(in: 0..<readEntries, using: &lookupRng)) }
    let absentKeys = (0..<lookups).map { _ in makeKey(2 * Int.random(in: 0..<readEntries, using: &lookupRng) + 1) }

    let readBox = Box<Fixture>()
    func getBenchmark(_ name: String, keys: [[UInt8]], expectHit: Bool) {
        Benchmark(name, configuration: .init(scalingFactor: .kilo)) { benchmark in
            let store = readBox.value!.store
            let base = (benchmark.currentIteration * 1000) % lookups
            var found = 0
            for i in benchmark.scaledIterations {
                if let v = try store.get(keys[(base + i) % lookups]) {
                    found += 1
                    blackHole(v)
                }
            }
            benchmark.stopMeasurement()
            if found != (expectHit ? benchmark.scaledIterations.count : 0) {
                benchmark.error("\(name): \(found) of \(benchmark.scaledIterations.count) keys found")
            }
        } setup: {
            readBox.value = try makeReadStore(tag: "get")
        } teardown: {
            readBox.value?.destroy()
            readBox.value = nil
        }
    }
    getBenchmark("point read hit: get, 50k-entry compacted store", keys: presentKeys, expectHit: true)
    getBenchmark("point read miss: get, 50k-entry compacted store", keys: absentKeys, expectHit: false)

    Benchmark(
        "scan: iterate all 50k entries",
        configuration: .init(maxIterations: 100)
    ) { benchmark in
        let store = readBox.value!.store
        let it = try store.scan()
        var count = 0
        while let e = try it.next() {
            count += 1
            blackHole(e)
        }
        benchmark.stopMeasurement()
        if count != readEntries { benchmark.error("scan returned \(count) entries") }
    } setup: {
        readBox.value = try makeReadStore(tag: "scan")
    } teardown: {
        readBox.value?.destroy()
        readBox.value = nil
    }

    // MARK: Compaction

    // Four L0 tables of 10k entries each, overlapping by half (40k writes, 25k live keys),
    // made before measuring; compact() merges them into one sorted run.
    do {
        let rounds = 4, perRound = 10_000, step = 5_000
        let data: [(keys: [[UInt8]], values: [[UInt8]])] = (0..<rounds).map { r in
            let idx = shuffledIndices(perRound, seed: UInt64(10 + r)).map { $0 + r * step }
            return (idx.map(makeKey), idx.map { compressibleValue($0 &+ r) })
        }
        Benchmark(
            "compaction: compact() 4 overlapping L0 x 10k entries",
            // Each iteration first builds its four tables (~0.3 s, unmeasured): allow 5 s.
            configuration: .init(maxDuration: .seconds(5), maxIterations: 30)
        ) { benchmark in
            let dir = makeTempDir("compact")
            defer { removeDir(dir) }
            let store = try LSMStore.open(at: dir, options: quietOptions(wal: false))
            for d in data {
                try load(store, keys: d.keys, values: d.values)
                try store.flush()
            }
            benchmark.startMeasurement()
            try store.compact()
            benchmark.stopMeasurement()
            try store.close()
        }
    }

    // MARK: Checkpoints (fixed store: 50k entries, flushed and compacted)

    let checkpointBox = Box<(fixture: Fixture, checkpointer: Checkpointer)>()
    func checkpointBenchmark(_ name: String, mode: CheckpointMode, updatesPerIteration: Int = 0) {
        let updates = (0..<updatesPerIteration).map { makeKey(2 * ((($0 &* 7919) % readEntries))) }
        Benchmark(name, configuration: .init(maxIterations: 100)) { benchmark in
            let (fixture, checkpointer) = checkpointBox.value!
            // Unmeasured: the updates this checkpoint has to capture. (Measurement restarts
            // at startMeasurement(); stopping twice in one iteration would record two samples.)
            if !updates.isEmpty {
                var batch = WriteBatch()
                for k in updates { batch.put(k, compressibleValue(benchmark.currentIteration)) }
                try fixture.store.write(batch)
            }
            benchmark.startMeasurement()
            let report = try checkpointer.checkpoint(mode: mode)
            benchmark.stopMeasurement()
            blackHole(report)
        } setup: {
            let fixture = try makeReadStore(tag: "checkpoint")
            let root = makeTempDir("checkpoint-storage")
            fixture.extra.append(root)
            let storage = try LocalCheckpointStorage(root: root)
            // retained 1: each new checkpoint discards the previous one (steady state).
            let checkpointer = try Checkpointer(store: fixture.store, storage: storage, retained: 1)
            checkpointBox.value = (fixture, checkpointer)
        } teardown: {
            checkpointBox.value?.fixture.destroy()
            checkpointBox.value = nil
        }
    }
    checkpointBenchmark("checkpoint full: fixed 50k-entry store", mode: .full)
    checkpointBenchmark("checkpoint incremental: fixed 50k-entry store", mode: .incremental)
    checkpointBenchmark(
        "checkpoint incremental: 1k updates since the last one", mode: .incremental, updatesPerIteration: 1000)

    // MARK: CRC32C (public: Checksum.crc32c)

    func crcBenchmark(_ name: String, size: Int, scaling: BenchmarkScalingFactor) {
        var rng = SplitMix64(seed: 6)
        let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        Benchmark(name, configuration: .init(scalingFactor: scaling)) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(Checksum.crc32c(bytes))
            }
        }
    }
    crcBenchmark("CRC32C: 4 KiB buffer", size: 4096, scaling: .kilo)
    crcBenchmark("CRC32C: 1 MiB buffer", size: 1 << 20, scaling: .one)
}
