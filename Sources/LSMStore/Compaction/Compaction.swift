/// One compaction: files of `level` (inputs[0]) merged with the overlapping files of
/// `level + 1` (inputs[1]) into new files of `outputLevel` (`level + 1`, or `level` itself
/// when a manual compaction rewrites the bottom level in place).
final class Compaction {
    let level: Int
    let outputLevel: Int
    let inputs: [[FileMetaData]]
    /// Overlapping files of `level + 2`: an output file stops early when it would overlap
    /// too many of them, bounding the cost of its own later compaction.
    let grandparents: [FileMetaData]
    let maxGrandparentOverlap: UInt64
    let maxOutputFileSize: UInt64
    /// The files of every level when the compaction was picked (for `isBaseLevelForKey`).
    private let levels: [[FileMetaData]]
    /// The version the inputs were picked from, held until the result is installed so its
    /// files stay live; released by `releaseInputVersion()` before obsolete files are
    /// removed, or the replaced inputs would still count as live (LevelDB releases it too).
    private(set) var inputVersion: Version?
    let isManual: Bool
    var edit = VersionEdit()

    private var grandparentIndex = 0
    private var seenKey = false
    private var overlappedBytes: UInt64 = 0
    private var levelPointers: [Int]

    init(
        level: Int, inputs: [[FileMetaData]], version: Version, options: Options, isManual: Bool, inPlace: Bool = false
    ) {
        self.level = level
        self.outputLevel = inPlace ? level : level + 1
        self.inputs = inputs
        self.levels = version.levels
        self.inputVersion = version
        self.isManual = isManual
        self.maxOutputFileSize = UInt64(options.targetFileSize)
        self.maxGrandparentOverlap = 10 * UInt64(options.targetFileSize)
        let all = inputs[0] + inputs[1]
        if outputLevel + 1 < Version.numLevels, let range = Compaction.userKeyRange(all) {
            grandparents = version.overlappingFiles(level: outputLevel + 1, lo: range.lo, hi: range.hi)
        } else {
            grandparents = []
        }
        levelPointers = Array(repeating: 0, count: Version.numLevels)
    }

    static func userKeyRange(_ files: [FileMetaData]) -> (lo: [UInt8], hi: [UInt8])? {
        guard var lo = files.first?.smallestUserKey, var hi = files.first?.largestUserKey else { return nil }
        for f in files.dropFirst() {
            let s = f.smallestUserKey, l = f.largestUserKey
            if compareBytes(s, lo) < 0 { lo = s }
            if compareBytes(l, hi) > 0 { hi = l }
        }
        return (lo, hi)
    }

    /// Drops the hold on the input version (after the result is installed or abandoned).
    func releaseInputVersion() { inputVersion = nil }

    var inputBytes: UInt64 { (inputs[0] + inputs[1]).reduce(0) { $0 + $1.size } }

    /// A single input file with nothing to merge in the next level and little grandparent
    /// overlap can simply be moved down.
    var isTrivialMove: Bool {
        !isManual && outputLevel == level + 1 && inputs[0].count == 1 && inputs[1].isEmpty
            && grandparents.reduce(0, { $0 + $1.size }) <= maxGrandparentOverlap
    }

    /// True when no level below the output level can hold `userKey`, so a deletion marker
    /// for it has nothing left to hide. Keys must be asked in increasing order.
    func isBaseLevelForKey(_ userKey: [UInt8]) -> Bool {
        var l = outputLevel + 1
        while l < Version.numLevels {
            let files = levels[l]
            while levelPointers[l] < files.count {
                let f = files[levelPointers[l]]
                if compareUserKey(ofInternal: f.largest, userKey) >= 0 {
                    if compareUserKey(ofInternal: f.smallest, userKey) <= 0 { return false }
                    break
                }
                levelPointers[l] += 1
            }
            l += 1
        }
        return true
    }

    /// Whether the current output should end before `ikey` (grandparent overlap).
    func shouldStopBefore(_ ikey: UnsafeRawBufferPointer) -> Bool {
        while grandparentIndex < grandparents.count
            && grandparents[grandparentIndex].largest.withUnsafeBytes({ compareInternal(ikey, $0) }) > 0
        {
            if seenKey { overlappedBytes += grandparents[grandparentIndex].size }
            grandparentIndex += 1
        }
        seenKey = true
        if overlappedBytes > maxGrandparentOverlap {
            overlappedBytes = 0
            return true
        }
        return false
    }

    func addInputDeletions() {
        for (i, files) in inputs.enumerated() {
            for f in files { edit.deleteFile(level + i, f.number) }
        }
    }
}

extension VersionSet {
    /// The compaction the current version most needs, or nil. Caller holds the state lock.
    func pickCompaction() -> Compaction? {
        let v = current
        guard v.compactionScore >= 1, v.compactionLevel >= 0 else { return nil }
        if options.compactionStyle == .partitioned, let p = v.partitionToCompact {
            return pickPartition(p, version: v)
        }
        let level = v.compactionLevel
        let files = v.levels[level]
        guard !files.isEmpty else { return nil }
        // Round robin: the first file after where the last compaction of this level ended.
        var start = files[0]
        if !compactPointers[level].isEmpty {
            if let f = files.first(where: { compareInternal($0.largest, compactPointers[level]) > 0 }) { start = f }
        }
        var inputs0 = [start]
        if level == 0 {
            // L0 files overlap each other: take every one that overlaps the growing range.
            var changed = true
            while changed {
                changed = false
                guard let r = Compaction.userKeyRange(inputs0) else { break }
                for f in files where !inputs0.contains(where: { $0 === f }) && f.overlaps(lo: r.lo, hi: r.hi) {
                    inputs0.append(f)
                    changed = true
                }
            }
        }
        return makeCompaction(level: level, inputs0: inputs0, version: v, isManual: false)
    }

    /// Partitioned style: partition `p` (an L1 file's key range up to the next file; -1 for
    /// all keys) with every L0 file that overlaps it, grown until no L0 file straddles its
    /// edges, so that no older L0 data is left above newer data.
    func pickPartition(_ p: Int, version v: Version) -> Compaction? {
        let l1 = v.levels[1]
        var lo: [UInt8]? = p > 0 ? l1[p].smallestUserKey : nil
        var hi: [UInt8]? = p >= 0 && p + 1 < l1.count ? l1[p + 1].smallestUserKey : nil  // exclusive
        var inputs0: [FileMetaData] = []
        var inputs1: [FileMetaData] = p >= 0 ? [l1[p]] : []
        while true {
            inputs0 = v.levels[0].filter { f in
                (lo.map { compareBytes(f.largestUserKey, $0) >= 0 } ?? true)
                    && (hi.map { compareBytes(f.smallestUserKey, $0) < 0 } ?? true)
            }
            guard let r = Compaction.userKeyRange(inputs0 + inputs1) else { return nil }
            var grown = inputs1
            for f in l1 where f.overlaps(lo: r.lo, hi: r.hi) && !grown.contains(where: { $0 === f }) { grown.append(f) }
            grown.sort { compareInternal($0.smallest, $1.smallest) < 0 }
            // The new range: from the first input's partition start to the next partition's start.
            let newLo: [UInt8]? = lo.flatMap { l in compareBytes(r.lo, l) < 0 ? r.lo : l }
            var newHi = hi
            if let last = grown.last, let i = l1.firstIndex(where: { $0 === last }) {
                newHi = i + 1 < l1.count ? l1[i + 1].smallestUserKey : nil
            }
            if let h = newHi, compareBytes(r.hi, h) >= 0 { newHi = nil }  // an L0 file reaches past every boundary
            if grown.count == inputs1.count && newLo == lo && newHi == hi { break }
            inputs1 = grown
            lo = newLo
            hi = newHi
        }
        let c = Compaction(level: 0, inputs: [inputs0, inputs1], version: v, options: options, isManual: false)
        return c
    }

    func makeCompaction(
        level: Int, inputs0: [FileMetaData], version v: Version, isManual: Bool, inPlace: Bool = false
    ) -> Compaction? {
        guard let r = Compaction.userKeyRange(inputs0) else { return nil }
        let inputs1 = inPlace ? [] : v.overlappingFiles(level: level + 1, lo: r.lo, hi: r.hi)
        let c = Compaction(
            level: level, inputs: [inputs0, inputs1], version: v, options: options, isManual: isManual, inPlace: inPlace
        )
        if let largest = inputs0.max(by: { compareInternal($0.largest, $1.largest) < 0 })?.largest {
            c.edit.compactPointers.append((level, largest))
        }
        return c
    }
}
