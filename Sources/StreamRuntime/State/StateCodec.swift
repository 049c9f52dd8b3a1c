/// Encodes state values (and keys) to bytes and back: a binary codec, not Codable, for the
/// hot path.
public protocol StateCodec<Value>: Sendable {
    associatedtype Value
    /// Appends the encoding of `value` to `out`.
    func encode(_ value: Value, into out: inout [UInt8])
    /// Decodes a value; nil when the bytes are not a valid encoding.
    func decode(_ bytes: ArraySlice<UInt8>) -> Value?
}

extension StateCodec {
    /// The encoding of `value`.
    public func encode(_ value: Value) -> [UInt8] {
        var out = [UInt8]()
        encode(value, into: &out)
        return out
    }
}

/// Int64 as 8 big-endian bytes (so encoded keys sort numerically for non-negative values).
public struct Int64Codec: StateCodec {
    /// Creates the codec.
    public init() {}
    /// See `StateCodec`.
    public func encode(_ value: Int64, into out: inout [UInt8]) {
        let v = UInt64(bitPattern: value)
        for i in (0..<8).reversed() { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }
    /// See `StateCodec`.
    public func decode(_ bytes: ArraySlice<UInt8>) -> Int64? {
        guard bytes.count == 8 else { return nil }
        var v: UInt64 = 0
        for b in bytes { v = (v << 8) | UInt64(b) }
        return Int64(bitPattern: v)
    }
}

/// UTF-8 strings.
public struct StringCodec: StateCodec {
    /// Creates the codec.
    public init() {}
    /// See `StateCodec`.
    public func encode(_ value: String, into out: inout [UInt8]) { out.append(contentsOf: value.utf8) }
    /// See `StateCodec`.
    public func decode(_ bytes: ArraySlice<UInt8>) -> String? { String(validating: bytes, as: UTF8.self) }
}

/// Raw bytes.
public struct BytesCodec: StateCodec {
    /// Creates the codec.
    public init() {}
    /// See `StateCodec`.
    public func encode(_ value: [UInt8], into out: inout [UInt8]) { out.append(contentsOf: value) }
    /// See `StateCodec`.
    public func decode(_ bytes: ArraySlice<UInt8>) -> [UInt8]? { Array(bytes) }
}
