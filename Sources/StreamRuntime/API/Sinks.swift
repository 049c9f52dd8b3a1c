import Foundation
import Synchronization

/// Where a job's output goes. One instance per parallel subtask.
public protocol StreamSink<Input>: SendableMetatype {
    /// The records it takes.
    associatedtype Input
    /// Writes one record.
    mutating func write(_ value: Input) throws
    /// Called once when the subtask ends (normally or not).
    mutating func close() throws
}

/// Prints each record to standard output, prefixed by the subtask index as Flink's print
/// sink does (`1> record`).
public struct PrintSink<T>: StreamSink {
    let subtask: Int
    /// A print sink for subtask `subtask`.
    public init(subtask: Int) { self.subtask = subtask }
    /// See `StreamSink`.
    public mutating func write(_ value: T) throws { print(PrintSink.line(subtask: subtask, value)) }
    /// The line printed for `value` by subtask `subtask`.
    static func line(subtask: Int, _ value: T) -> String { "\(subtask + 1)> \(value)" }
    /// See `StreamSink`.
    public mutating func close() throws {}
}

/// Counts records and discards them; the totals of all subtasks are in `Counter`.
public struct CountingSink<T>: StreamSink {
    /// A shared total.
    public final class Counter: Sendable {
        let value = Atomic<Int>(0)
        /// A counter at zero.
        public init() {}
        /// Records counted so far.
        public var count: Int { value.load(ordering: .relaxed) }
    }

    let counter: Counter
    private var local = 0

    /// A sink adding to `counter`.
    public init(counter: Counter) { self.counter = counter }
    /// See `StreamSink`.
    public mutating func write(_ value: T) throws {
        local += 1
        if local == 4096 {
            counter.value.add(local, ordering: .relaxed)
            local = 0
        }
    }
    /// See `StreamSink`.
    public mutating func close() throws {
        counter.value.add(local, ordering: .relaxed)
        local = 0
    }
}

/// Appends each record's description as a line to a file per subtask (`PATH.subtask-N`).
public struct FileSink<T>: StreamSink {
    let handle: FileHandle
    private var buffer = [UInt8]()

    /// A file sink for subtask `subtask`, writing to `path.subtask-N` (created or truncated).
    public init(path: String, subtask: Int) throws {
        let p = "\(path).subtask-\(subtask)"
        guard FileManager.default.createFile(atPath: p, contents: nil), let h = FileHandle(forWritingAtPath: p) else {
            throw StreamError.invalidJob("cannot create sink file \(p)")
        }
        handle = h
    }

    /// See `StreamSink`.
    public mutating func write(_ value: T) throws {
        buffer.append(contentsOf: "\(value)\n".utf8)
        if buffer.count >= 1 << 16 {
            try handle.write(contentsOf: buffer)
            buffer.removeAll(keepingCapacity: true)
        }
    }

    /// See `StreamSink`.
    public mutating func close() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll()
        try handle.close()
    }
}
