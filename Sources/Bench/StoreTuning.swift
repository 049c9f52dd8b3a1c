import ArgumentParser
import LSMStore

/// The store's tuning knobs, shared by the Bench commands that open stores: each is applied
/// only when given, so every command keeps its own defaults (see its help).
struct StoreTuning: ParsableArguments {
    @Option(help: "Block compression: lz4 or none.")
    var compression: String?

    @Option(help: "Uncompressed data block size in bytes.")
    var blockSize: Int?

    @Option(help: "Block cache in MiB (0 disables it).")
    var blockCacheMB: Int?

    @Option(name: .customLong("memtable-mb"), help: "Memtable (write buffer) size in MiB.")
    var memtableMB: Int?

    @Option(help: "Bloom filter bits per key (0: no filters).")
    var bloomBits: Int?

    @Option(help: "Target size of a compaction's output file, in MiB.")
    var targetFileMB: Int?

    @Option(help: "Compaction style: leveled or partitioned.")
    var compaction: String?

    @Option(help: "Partitioned style: compact a partition when its L0 pieces hold this many times its size.")
    var partitionRatio: Double?

    @Option(
        help:
            "Partitioned style: compact a partition when this many L0 pieces overlap it (bounds a read's table probes)."
    )
    var partitionMaxDepth: Int?

    @Option(help: "Lower the compaction thread's CPU priority by this much (nice, 0...19).")
    var compactionNice: Int?

    func validate() throws {
        if let compression, Compression(rawValue: compression) == nil {
            throw ValidationError("--compression must be lz4 or none")
        }
        if let blockSize, !(64...(64 << 20)).contains(blockSize) {
            throw ValidationError("--block-size must be between 64 and 67108864")
        }
        if let blockCacheMB, blockCacheMB < 0 { throw ValidationError("--block-cache-mb must not be negative") }
        if let memtableMB, !(1...4096).contains(memtableMB) { throw ValidationError("--memtable-mb must be 1...4096") }
        if let bloomBits, !(0...64).contains(bloomBits) { throw ValidationError("--bloom-bits must be 0...64") }
        if let targetFileMB, !(1...4096).contains(targetFileMB) {
            throw ValidationError("--target-file-mb must be 1...4096")
        }
        if let compaction, CompactionStyle(rawValue: compaction) == nil {
            throw ValidationError("--compaction must be leveled or partitioned")
        }
        if let partitionRatio, !(partitionRatio > 0 && partitionRatio <= 100) {
            throw ValidationError("--partition-ratio must be in (0, 100]")
        }
        if let partitionMaxDepth, partitionMaxDepth < 2 {
            throw ValidationError("--partition-max-depth must be at least 2")
        }
        if let compactionNice, !(0...19).contains(compactionNice) {
            throw ValidationError("--compaction-nice must be 0...19")
        }
    }

    /// Applies the options that were given.
    func apply(to o: inout Options) {
        if let c = compression.flatMap(Compression.init(rawValue:)) { o.compression = c }
        if let blockSize { o.blockSize = blockSize }
        if let blockCacheMB { o.blockCacheSize = blockCacheMB << 20 }
        if let memtableMB { o.memtableSize = memtableMB << 20 }
        if let bloomBits { o.bloomBitsPerKey = bloomBits }
        if let targetFileMB { o.targetFileSize = targetFileMB << 20 }
        if let s = compaction.flatMap(CompactionStyle.init(rawValue:)) { o.compactionStyle = s }
        if let partitionRatio { o.partitionCompactionRatio = partitionRatio }
        if let partitionMaxDepth { o.partitionMaxDepth = partitionMaxDepth }
        if let compactionNice { o.compactionPriorityReduction = compactionNice }
    }

    /// One line describing the store's settings.
    static func describe(_ o: Options) -> String {
        "\(o.compression.rawValue), \(o.blockSize)-byte blocks, \(o.blockCacheSize >> 20) MiB block cache, "
            + "\(o.memtableSize >> 20) MiB memtable, \(o.bloomBitsPerKey) bloom bits/key, "
            + "\(o.targetFileSize >> 20) MiB target files, \(o.compactionStyle.rawValue) compaction"
            + (o.compactionStyle == .partitioned
                ? " (ratio \(o.partitionCompactionRatio), max depth \(o.partitionMaxDepth))" : "")
    }
}
