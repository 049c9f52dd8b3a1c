/// A function over a keyed stream with keyed state, as Flink's KeyedProcessFunction: each
/// parallel subtask gets its own instance; state is reached through the context and is
/// always that of the current element's key.
public protocol KeyedProcessFunction: SendableMetatype {
    /// The key type.
    associatedtype Key
    /// The records it takes.
    associatedtype Input
    /// The records it emits.
    associatedtype Output: Sendable
    /// Called once per subtask before the first element (look up state descriptors here).
    mutating func open(context: KeyedContext<Key>) throws
    /// Processes one element; `collect` emits output records.
    mutating func processElement(_ value: Input, context: KeyedContext<Key>, collect: (Output) throws -> Void) throws
}

extension KeyedProcessFunction {
    /// Does nothing.
    public mutating func open(context: KeyedContext<Key>) throws {}
}
