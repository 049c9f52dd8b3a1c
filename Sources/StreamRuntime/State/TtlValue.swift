/// The stored form of a value of a state with a time to live: the processing time of its
/// last counted access as 8 big-endian bytes (a signed 64-bit count of milliseconds), then
/// the codec's bytes (docs/FORMAT.md).
enum TtlValue {
    static let headerSize = 8

    /// Appends the header for `timestamp`.
    @inline(__always)
    static func appendHeader(_ timestamp: Int64, to out: inout [UInt8]) {
        withUnsafeBytes(of: UInt64(bitPattern: timestamp).bigEndian) { out.append(contentsOf: $0) }
    }

    /// The timestamp of a stored value, or nil when it is too short to have one.
    @inline(__always)
    static func timestamp(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard bytes.count >= headerSize else { return nil }
        var v: UInt64 = 0
        for b in bytes.prefix(headerSize) { v = (v << 8) | UInt64(b) }
        return Int64(bitPattern: v)
    }

    /// The same from raw bytes (the compaction filter's view).
    @inline(__always)
    static func timestamp(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        guard bytes.count >= headerSize else { return nil }
        return Int64(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
    }

    /// Overwrites the header of a stored value in place.
    @inline(__always)
    static func setTimestamp(_ timestamp: Int64, in value: inout [UInt8]) {
        let be = UInt64(bitPattern: timestamp).bigEndian
        withUnsafeBytes(of: be) { h in
            for i in 0..<headerSize { value[i] = h[i] }
        }
    }
}
