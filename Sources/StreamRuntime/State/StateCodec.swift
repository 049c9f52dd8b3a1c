/// Encodes state values (and keys) to bytes and back: a binary codec, not Codable, for the
/// hot path.
public protocol StateCodec<Value>: Sendable {
    associatedtype Value
    /// Appends the encoding of `value` to `out`.
    func encode(_ value: Value, into out: inout [UInt8])
    /// Decodes a value; nil when the bytes are not a valid encoding.
    func decode(_ bytes: ArraySlice<UInt8>) -> Value?
    /// The encoding's name, recorded in savepoints with `codecVersion`: a state restored from
    /// a savepoint written with another name or version is migrated (`StateMigration`) or
    /// refused. Default: the type's name.
    var codecName: String { get }
    /// The encoding's version; raise it when the bytes change. Default 1.
    var codecVersion: Int { get }
}

extension StateCodec {
    /// See `StateCodec`.
    public var codecName: String { String(describing: Self.self) }
    /// See `StateCodec`.
    public var codecVersion: Int { 1 }
}

/// Rewrites a state's stored values written by an older codec (its name and version, as the
/// savepoint records them) into the current codec's encoding, when a job starts from a
/// savepoint (Flink's state schema migration). Values of a state with a time to live are
/// given without their access-time header, which is kept.
public struct StateMigration: Sendable {
    /// The migration: from the old codec's name and version and an old encoding, the new one.
    public let migrate:
        @Sendable (_ fromCodec: String, _ fromVersion: Int, _ value: ArraySlice<UInt8>) throws -> [UInt8]

    /// A migration.
    public init(
        _ migrate:
            @escaping @Sendable (_ fromCodec: String, _ fromVersion: Int, _ value: ArraySlice<UInt8>) throws
            -> [UInt8]
    ) {
        self.migrate = migrate
    }
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
