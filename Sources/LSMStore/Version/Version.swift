/// An immutable snapshot of the live files per level. Readers and iterators hold a Version
/// so the files it names are not deleted under them.
///
/// Invariants: level 0 files are sorted by file number (newer files have higher numbers and
/// newer data, and may overlap); files of every other level are sorted by key and their user
/// key ranges do not overlap.
final class Version: @unchecked Sendable {
    static let numLevels = 7

    let levels: [[FileMetaData]]
    /// The level most in need of compaction and its score (>= 1 means compaction is due).
    private(set) var compactionLevel = -1
    private(set) var compactionScore = 0.0

    /// Marked dead when this version goes away (the version set's live files).
    let liveness = VersionLiveness()

    init(levels: [[FileMetaData]]) { self.levels = levels }

    deinit { liveness.markDead() }

    /// A new empty version (a fresh object each time: install computes scores into it).
    static var empty: Version { Version(levels: Array(repeating: [], count: numLevels)) }

    func levelBytes(_ level: Int) -> UInt64 { levels[level].reduce(0) { $0 + $1.size } }

    var allFiles: [FileMetaData] { levels.flatMap { $0 } }

    static func maxBytes(forLevel level: Int, options: Options) -> Double {
        var r = Double(options.baseLevelSize)
        var l = level
        while l > 1 {
            r *= Double(options.levelSizeMultiplier)
            l -= 1
        }
        return r
    }

    /// Partitioned style: the L1 index of the partition most in need of compaction (-1 when
    /// L1 is empty and L0 is not: everything is one partition).
    private(set) var partitionToCompact: Int? = nil
    /// Most L0 files that overlap one key (read work of the worst key; stall trigger).
    private(set) var level0Depth = 0
    /// L0 files sorted by smallest key (unmanaged: `levels[0]` holds them), and the running
    /// maximum of their largest user keys: a point lookup walks back from its key only while
    /// that maximum reaches it.
    private var level0BySmallest: [Unmanaged<FileMetaData>] = []
    private var level0MaxLargest: [[UInt8]] = []

    /// First user key of each L1 file after the first: where flushes cut their pieces.
    var partitionBoundaries: [[UInt8]] { levels[1].dropFirst().map { $0.smallestUserKey } }

    /// Calls `body` with each L0 file that may hold `userKey`, newest first, until it
    /// returns true. Allocates nothing for the usual few candidates: their positions are
    /// gathered in a temporary buffer (on the stack when small) and ordered there.
    ///
    /// The files are handed over unmanaged and read without reference counting: this
    /// version holds every one of them, so the caller keeps the version alive for the call
    /// and uses them within it (`Unmanaged._withUnsafeGuaranteedRef`). Counting references
    /// for each candidate of each point read (a file, its reader, their arrays) was about a
    /// tenth of the subtask thread in the keyed job with a 32 MiB state cache.
    ///
    /// With more than one candidate, `prefetch` is called with each first, in the same
    /// order: a lookup starts loading what it will read of each (their cache misses then
    /// overlap instead of following one another).
    func forEachLevel0Candidate(
        _ userKey: [UInt8], prefetch: (Unmanaged<FileMetaData>) -> Void = { _ in },
        _ body: (Unmanaged<FileMetaData>) throws -> Bool
    ) rethrows {
        try level0BySmallest.withUnsafeBufferPointer { files in
            guard !files.isEmpty else { return }
            try userKey.withUnsafeBytes { key in
                var lo = 0, hi = files.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    let c = files[mid]._withUnsafeGuaranteedRef { f in
                        f.smallest.withUnsafeBytes { compareUserKey(ofInternal: $0, key) }
                    }
                    if c <= 0 { lo = mid + 1 } else { hi = mid }
                }
                try withUnsafeTemporaryAllocation(of: Int.self, capacity: files.count) { found in
                    var n = 0
                    var j = lo - 1
                    while j >= 0 && level0MaxLargest[j].withUnsafeBytes({ compareBytes($0, key) }) >= 0 {
                        let (reaches, number) = files[j]._withUnsafeGuaranteedRef { f in
                            (f.largest.withUnsafeBytes { compareUserKey(ofInternal: $0, key) } >= 0, f.number)
                        }
                        if reaches {
                            // Insertion in descending file number (newest first).
                            var k = n
                            while k > 0 && files[found[k - 1]]._withUnsafeGuaranteedRef({ $0.number }) < number {
                                found[k] = found[k - 1]
                                k -= 1
                            }
                            found[k] = j
                            n += 1
                        }
                        j -= 1
                    }
                    if n > 1 {
                        for k in 0..<n { prefetch(files[found[k]]) }
                    }
                    for k in 0..<n {
                        if try body(files[found[k]]) { return }
                    }
                }
            }
        }
    }

    /// L0 files that may hold `userKey`, newest first (`forEachLevel0Candidate` as an array).
    func level0Candidates(_ userKey: [UInt8]) -> [FileMetaData] {
        var out: [FileMetaData] = []
        forEachLevel0Candidate(userKey) {
            out.append($0.takeUnretainedValue())
            return false
        }
        return out
    }

    private func indexLevel0() {
        let sorted = levels[0].sorted { compareInternal($0.smallest, $1.smallest) < 0 }
        level0BySmallest = sorted.map { Unmanaged.passUnretained($0) }
        var running: [UInt8]? = nil
        level0MaxLargest = sorted.map { f in
            let l = f.largestUserKey
            if running == nil || compareBytes(l, running!) > 0 { running = l }
            return running!
        }
        // Depth: sweep the start and end points of the files' key ranges.
        var events: [(key: [UInt8], delta: Int)] = []
        for f in levels[0] {
            events.append((f.smallestUserKey, 1))
            events.append((f.largestUserKey, -1))
        }
        events.sort {
            let c = compareBytes($0.key, $1.key)
            return c < 0 || (c == 0 && $0.delta > $1.delta)
        }
        var depth = 0
        for e in events {
            depth += e.delta
            level0Depth = max(level0Depth, depth)
        }
    }

    func computeCompactionScore(options: Options) {
        indexLevel0()
        if options.compactionStyle == .partitioned {
            computePartitionScore(options: options)
            return
        }
        var bestLevel = -1
        var best = 0.0
        for level in 0..<(Version.numLevels - 1) {
            let score: Double
            if level == 0 {
                score = Double(levels[0].count) / Double(options.l0CompactionTrigger)
            } else {
                score = Double(levelBytes(level)) / Version.maxBytes(forLevel: level, options: options)
            }
            if score > best {
                best = score
                bestLevel = level
            }
        }
        compactionLevel = bestLevel
        compactionScore = best
    }

    /// Partitioned style: score each L1 file's key range by its L0 bytes relative to its own
    /// bytes, and by how many L0 pieces overlap it.
    private func computePartitionScore(options: Options) {
        compactionLevel = -1
        compactionScore = 0
        partitionToCompact = nil
        guard !levels[0].isEmpty else { return }
        let l1 = levels[1]
        if l1.isEmpty {
            compactionLevel = 0
            compactionScore = .infinity
            partitionToCompact = -1
            return
        }
        var bytes = [UInt64](repeating: 0, count: l1.count)
        var pieces = [Int](repeating: 0, count: l1.count)
        for f in levels[0] {
            // The partition holding f's smallest key: the last L1 file starting at or before it.
            var lo = 0, hi = l1.count
            let small = f.smallestUserKey, large = f.largestUserKey
            while lo < hi {
                let mid = (lo + hi) / 2
                if compareBytes(l1[mid].smallestUserKey, small) <= 0 { lo = mid + 1 } else { hi = mid }
            }
            var p = max(0, lo - 1)
            while p < l1.count && (p == max(0, lo - 1) || compareBytes(l1[p].smallestUserKey, large) <= 0) {
                bytes[p] += f.size
                pieces[p] += 1
                p += 1
            }
        }
        let floor = Double(options.targetFileSize) / 4
        for i in l1.indices where pieces[i] > 0 {
            let bySize = Double(bytes[i]) / (options.partitionCompactionRatio * max(Double(l1[i].size), floor))
            let byDepth = Double(pieces[i]) / Double(options.partitionMaxDepth)
            let score = max(bySize, byDepth)
            if score > compactionScore {
                compactionScore = score
                compactionLevel = 0
                partitionToCompact = i
            }
        }
    }

    /// Files in `level` whose user key range overlaps [lo, hi] (nil = unbounded).
    func overlappingFiles(level: Int, lo: [UInt8]?, hi: [UInt8]?) -> [FileMetaData] {
        levels[level].filter { $0.overlaps(lo: lo, hi: hi) }
    }

    /// For level >= 1: index of the first file whose largest key is >= `ikey`.
    func findFile(level: Int, _ ikey: [UInt8]) -> Int { ikey.withUnsafeBytes { findFile(level: level, $0) } }

    /// Index of the first file of `level` whose largest key is >= `ikey`.
    func findFile(level: Int, _ ikey: UnsafeRawBufferPointer) -> Int {
        let files = levels[level]
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if files[mid].largest.withUnsafeBytes({ compareInternal($0, ikey) }) < 0 { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Applies an edit, producing the next version.
    func applying(_ edit: VersionEdit) -> Version {
        var levels = self.levels
        for (level, number) in edit.deletedFiles {
            levels[level].removeAll { $0.number == number }
        }
        for (level, f) in edit.newFiles {
            levels[level].removeAll { $0.number == f.number }
            levels[level].append(f)
        }
        levels[0].sort { $0.number < $1.number }  // (point lookups use level0Candidates)
        for l in 1..<Version.numLevels {
            levels[l].sort { compareInternal($0.smallest, $1.smallest) < 0 }
        }
        return Version(levels: levels)
    }

    /// Describes the first overlap between files of a level >= 1, if any.
    func overlapError() -> String? {
        for l in 1..<Version.numLevels {
            let files = levels[l]
            for i in files.indices.dropFirst()
            where compareBytes(files[i - 1].largestUserKey, files[i].smallestUserKey) >= 0 {
                return "level \(l) files \(files[i - 1].number) and \(files[i].number) overlap"
            }
        }
        return nil
    }
}
