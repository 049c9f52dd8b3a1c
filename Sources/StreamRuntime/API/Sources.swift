/// A source of records whose position can be saved in a checkpoint and resumed from.
public protocol StreamSource: SendableMetatype {
    /// The records it produces.
    associatedtype Output: Sendable
    /// Opens the source at a position saved by `position()` (nil: from the beginning).
    mutating func open(at position: [UInt8]?) throws
    /// The next record, or nil at the end of the input.
    mutating func next() throws -> Output?
    /// The position just after the last record returned, with any counters to restore.
    func position() -> [UInt8]
    /// Counters for the job's metrics (for example rows dropped), as of now.
    var counters: [String: Int] { get }
}

/// A source that generates records from their index (for benchmarks and tests): record i is
/// `generate(i)`, or skipped (counted as dropped) when that returns nil.
public struct GeneratorSource<T: Sendable>: StreamSource {
    let count: Int
    let generate: @Sendable (Int) -> T?
    private var index = 0
    private var dropped = 0

    /// `count` records from `generate`.
    public init(count: Int, generate: @escaping @Sendable (Int) -> T?) {
        self.count = count
        self.generate = generate
    }

    /// See `StreamSource`.
    public mutating func open(at position: [UInt8]?) throws {
        guard let position else {
            index = 0
            dropped = 0
            return
        }
        guard position.count == 16 else {
            throw StreamError.checkpoint("bad generator position (\(position.count) bytes)")
        }
        index = Int(Self.load(position, 0))
        dropped = Int(Self.load(position, 8))
    }

    /// See `StreamSource`.
    public mutating func next() throws -> T? {
        while index < count {
            defer { index += 1 }
            if let v = generate(index) { return v }
            dropped += 1
        }
        return nil
    }

    /// See `StreamSource`.
    public func position() -> [UInt8] {
        var out = [UInt8]()
        for v in [UInt64(index), UInt64(dropped)] {
            for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
        }
        return out
    }

    /// See `StreamSource`.
    public var counters: [String: Int] { ["rows dropped": dropped] }

    static func load(_ b: [UInt8], _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = (v << 8) | UInt64(b[at + i]) }
        return v
    }
}
