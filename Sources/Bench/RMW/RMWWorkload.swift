import Foundation

/// The account read-modify-write workload (docs/EXPERIMENT.md, "The store-level workload"),
/// bit for bit: splitmix64 from state 42, a Zipf(S) account drawn by binary search in a
/// cumulative table and scattered over the key space, an amount below 1,000,000, and a
/// 200-byte value updated in place. The RocksDB harness in `tools/rocksdb-rmw` implements
/// the same definition in C; both check the reference values below.
struct RMWWorkload {
    let accounts: Int
    private var rng: BenchRandom
    private let cdf: [Double]
    private(set) var index = 0

    static let valueSize = 200
    static let baseTimestamp: UInt64 = 1_700_000_000_000

    init(accounts: Int, zipf s: Double) {
        self.accounts = accounts
        rng = BenchRandom(seed: 42)
        var sums = [Double](repeating: 0, count: accounts + 1)
        var total = 0.0
        for j in 1...accounts {
            total += 1.0 / pow(Double(j), s)
            sums[j] = total
        }
        cdf = sums.map { $0 / total }
    }

    /// The next operation: its account, amount and timestamp. Takes exactly two PRNG outputs.
    mutating func next() -> (account: Int, amount: UInt64, ts: UInt64) {
        let u = Double(rng.next() >> 11) * 0x1p-53
        // The smallest rank k in 1...A with cdf[k] > u (A when none is, from rounding).
        var lo = 1, hi = accounts
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] > u { hi = mid } else { lo = mid + 1 }
        }
        let account = Int((UInt64(lo - 1) &* 48_271) % UInt64(accounts))
        let amount = rng.next() % 1_000_000
        defer { index += 1 }
        return (account, amount, RMWWorkload.baseTimestamp + 10 * UInt64(index))
    }

    /// The key of an account: 8 bytes, big-endian.
    static func key(_ account: Int, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        withUnsafeBytes(of: UInt64(account).bigEndian) { out.append(contentsOf: $0) }
    }

    /// A new account's value: count, sum, max and last ts 0, min UInt64.max, every slot
    /// `000000000;`.
    static let newValue: [UInt8] = {
        var v = [UInt8](repeating: 0, count: valueSize)
        for i in 16..<24 { v[i] = 0xFF }
        for s in 0..<16 {
            for d in 0..<9 { v[40 + s * 10 + d] = UInt8(ascii: "0") }
            v[40 + s * 10 + 9] = UInt8(ascii: ";")
        }
        return v
    }()

    /// Applies one operation to a 200-byte value in place: count, sum, min, max, last ts
    /// (five little-endian UInt64), then the 16 slots shift left and the amount goes last.
    static func apply(amount: UInt64, ts: UInt64, to v: UnsafeMutableRawBufferPointer) {
        func load(_ o: Int) -> UInt64 { UInt64(littleEndian: v.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        func store(_ x: UInt64, _ o: Int) { v.storeBytes(of: x.littleEndian, toByteOffset: o, as: UInt64.self) }
        store(load(0) &+ 1, 0)
        store(load(8) &+ amount, 8)
        store(min(load(16), amount), 16)
        store(max(load(24), amount), 24)
        store(ts, 32)
        guard let base = v.baseAddress else { return }
        memmove(base + 40, base + 50, 150)
        var a = amount
        var i = 198
        while i >= 190 {
            v[i] = UInt8(ascii: "0") + UInt8(a % 10)
            a /= 10
            i -= 1
        }
        v[199] = UInt8(ascii: ";")
    }

    /// The count field of a value (bytes 0-7), or nil when the value is not 200 bytes.
    static func count(of v: [UInt8]) -> UInt64? {
        guard v.count == valueSize else { return nil }
        return v.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
    }
}

/// The values a correct implementation reproduces for A = 100,000 and S = 1.1.
enum RMWReference {
    static let accounts = 100_000
    static let zipf = 1.1
    static let firstFive: [(account: Int, amount: UInt64)] = [
        (92312, 892291), (93084, 255764), (0, 989062), (96542, 775908), (86168, 668974),
    ]
    /// Distinct accounts after each 100,000 operations.
    static let distinctPer100k = [17028, 27168, 34875, 41069, 46515, 51125, 55191, 58888, 62073, 64851]
    /// The final state after 1,000,000 operations as the sorted concatenation of key || value.
    static let finalOps = 1_000_000
    static let finalBytes = 13_489_008
    static let finalDigest: UInt64 = 0xa53a_f467_5986_d035

    static func applies(accounts: Int, zipf: Double) -> Bool { accounts == Self.accounts && zipf == Self.zipf }
}

/// FNV-1a, 64 bits.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        for b in bytes { value = (value ^ UInt64(b)) &* 0x100_0000_01b3 }
    }
    /// The value as 16 hex digits.
    var hex: String { FNV1a64.hex(value) }

    /// `v` as 16 hex digits.
    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
