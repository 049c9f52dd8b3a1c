/// Key groups, as Flink's: every key hashes to one of `maxParallelism` key groups, and each
/// parallel subtask owns a contiguous range of groups. State is stored under a 2-byte
/// big-endian key-group prefix, so a checkpoint taken at parallelism p can be split along
/// group ranges and restored at parallelism q.
public enum KeyGroups {
    /// The key group of an encoded key (a stable 64-bit hash; not Swift's per-process Hasher).
    public static func group(of key: [UInt8], maxParallelism: Int) -> Int {
        key.withUnsafeBytes { group(of: $0, maxParallelism: maxParallelism) }
    }

    /// The key group of an encoded key, from borrowed bytes.
    public static func group(of key: UnsafeRawBufferPointer, maxParallelism: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in key { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return Int(h % UInt64(maxParallelism))
    }

    /// The subtask that owns key group `group` (Flink's operatorIndex formula).
    public static func subtask(ofGroup group: Int, parallelism: Int, maxParallelism: Int) -> Int {
        group * parallelism / maxParallelism
    }

    /// The key groups subtask `index` owns: [lower, upper).
    public static func range(ofSubtask index: Int, parallelism: Int, maxParallelism: Int) -> Range<Int> {
        let lower = (index * maxParallelism + parallelism - 1) / parallelism
        let upper = ((index + 1) * maxParallelism + parallelism - 1) / parallelism
        return lower..<upper
    }

    /// The 2-byte prefix of a key group.
    static func prefix(_ group: Int) -> [UInt8] { [UInt8(group >> 8), UInt8(group & 0xff)] }
}
