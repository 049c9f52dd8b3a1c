import Foundation
import LSMStoreTesting

/// The standard workload (`LSMStoreTesting`), under the name the Bench uses.
typealias Workload = StandardWorkload

/// Per-account state of the keyed job: count, sum, min, max, last timestamp, and a ring of
/// the last 15 amounts, each as 9 characters and a `;` (150 bytes). Encoded in 190 bytes:
/// five little-endian Int64 then the ring.
struct AccountState {
    var count: Int64 = 0
    var sumCents: Int64 = 0
    var minCents: Int64 = .max
    var maxCents: Int64 = .min
    var lastTs: Int64 = 0
    var ring: [UInt8]

    static let emptySlot: [UInt8] = Array("000000.00;".utf8)
    static let encodedSize = 40 + 150
    /// The ring of a new account: 15 empty slots (shared until an account writes to it).
    static let emptyRing: [UInt8] = Array((0..<15).map { _ in emptySlot }.joined())

    init() { ring = AccountState.emptyRing }

    init?(decoding b: ArraySlice<UInt8>) {
        guard b.count == AccountState.encodedSize else { return nil }
        func i64(_ o: Int) -> Int64 {
            b.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: o, as: Int64.self)) }
        }
        count = i64(0)
        sumCents = i64(8)
        minCents = i64(16)
        maxCents = i64(24)
        lastTs = i64(32)
        ring = Array(b[(b.startIndex + 40)...])
    }

    init?(decoding b: [UInt8]) { self.init(decoding: b[...]) }

    func encode(into out: inout [UInt8]) {
        out.reserveCapacity(out.count + AccountState.encodedSize)
        withUnsafeBytes(of: count.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: sumCents.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: minCents.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: maxCents.littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: lastTs.littleEndian) { out.append(contentsOf: $0) }
        // Through a view: appending the array itself retained and released it per record.
        ring.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        encode(into: &out)
        return out
    }

    mutating func add(cents: Int64, ts: Int64) {
        let slot = Int(count % 15)
        count += 1
        sumCents += cents
        minCents = min(minCents, cents)
        maxCents = max(maxCents, cents)
        lastTs = ts
        // 9 characters: 6 digits, '.', 2 digits (amounts below 1,000,000), then ';'.
        ring.withUnsafeMutableBufferPointer { r in
            let o = slot * 10
            var whole = cents / 100, frac = cents % 100
            r[o + 9] = UInt8(ascii: ";")
            r[o + 8] = UInt8(ascii: "0") + UInt8(frac % 10)
            frac /= 10
            r[o + 7] = UInt8(ascii: "0") + UInt8(frac)
            r[o + 6] = UInt8(ascii: ".")
            var i = 5
            while i >= 0 {
                r[o + i] = UInt8(ascii: "0") + UInt8(whole % 10)
                whole /= 10
                i -= 1
            }
        }
    }
}

func accountKey(_ account: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt64(account).bigEndian) { Array($0) }
}
