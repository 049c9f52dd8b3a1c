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

    init(levels: [[FileMetaData]]) { self.levels = levels }

    static let empty = Version(levels: Array(repeating: [], count: numLevels))

    func levelBytes(_ level: Int) -> UInt64 { levels[level].reduce(0) { $0 + $1.size } }

    var allFiles: [FileMetaData] { levels.flatMap { $0 } }

    static func maxBytes(forLevel level: Int, options: Options) -> Double {
        var r = Double(options.baseLevelSize)
        var l = level
        while l > 1 { r *= Double(options.levelSizeMultiplier); l -= 1 }
        return r
    }

    func computeCompactionScore(options: Options) {
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

    /// Files in `level` whose user key range overlaps [lo, hi] (nil = unbounded).
    func overlappingFiles(level: Int, lo: [UInt8]?, hi: [UInt8]?) -> [FileMetaData] {
        levels[level].filter { $0.overlaps(lo: lo, hi: hi) }
    }

    /// For level >= 1: index of the first file whose largest key is >= `ikey`.
    func findFile(level: Int, _ ikey: [UInt8]) -> Int {
        let files = levels[level]
        var lo = 0, hi = files.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if compareInternal(files[mid].largest, ikey) < 0 { lo = mid + 1 } else { hi = mid }
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
        levels[0].sort { $0.number < $1.number }
        for l in 1..<Version.numLevels {
            levels[l].sort { compareInternal($0.smallest, $1.smallest) < 0 }
        }
        return Version(levels: levels)
    }

    /// Describes the first overlap between files of a level >= 1, if any.
    func overlapError() -> String? {
        for l in 1..<Version.numLevels {
            let files = levels[l]
            for i in files.indices.dropFirst() where compareBytes(files[i - 1].largestUserKey, files[i].smallestUserKey) >= 0 {
                return "level \(l) files \(files[i - 1].number) and \(files[i].number) overlap"
            }
        }
        return nil
    }
}
