/// Names a value state and how its values are encoded.
public struct ValueStateDescriptor<Value>: Sendable {
    /// Unique name within the process function.
    public let name: String
    /// The value codec.
    public let codec: any StateCodec<Value>
    /// The entries' time to live; nil (the default): they never expire.
    public var ttl: StateTtlConfig?
    /// Rewrites values a savepoint holds in another codec name or version; nil (the
    /// default): such a savepoint is refused.
    public var migration: StateMigration?

    /// A descriptor.
    public init(
        name: String, codec: any StateCodec<Value>, ttl: StateTtlConfig? = nil, migration: StateMigration? = nil
    ) {
        self.name = name
        self.codec = codec
        self.ttl = ttl
        self.migration = migration
    }
}

/// Names a map state (per key, a map from map keys to values).
public struct MapStateDescriptor<MapKey, Value>: Sendable {
    /// Unique name within the process function.
    public let name: String
    /// Codec of the map keys.
    public let keyCodec: any StateCodec<MapKey>
    /// Codec of the values.
    public let valueCodec: any StateCodec<Value>
    /// The time to live of each map entry (each has its own access time); nil (the default):
    /// they never expire.
    public var ttl: StateTtlConfig?
    /// Rewrites values a savepoint holds in another value codec name or version; nil (the
    /// default): such a savepoint is refused. (Map keys cannot be migrated: their bytes place
    /// the entries.)
    public var migration: StateMigration?

    /// A descriptor.
    public init(
        name: String, keyCodec: any StateCodec<MapKey>, valueCodec: any StateCodec<Value>, ttl: StateTtlConfig? = nil,
        migration: StateMigration? = nil
    ) {
        self.name = name
        self.keyCodec = keyCodec
        self.valueCodec = valueCodec
        self.ttl = ttl
        self.migration = migration
    }
}

/// A single value per key, for the key of the element being processed.
public final class ValueState<Value> {
    // `@usableFromInline` with `@inlinable` accessors: the job's module specializes them for
    // its value type (unspecialized, every read looked up `Value?`'s type metadata).
    @usableFromInline let backend: KeyedStateBackend
    @usableFromInline let id: UInt8
    @usableFromInline let codec: any StateCodec<Value>
    @usableFromInline let ttl: StateTtlConfig?

    init(backend: KeyedStateBackend, id: UInt8, codec: any StateCodec<Value>, ttl: StateTtlConfig?) {
        self.backend = backend
        self.id = id
        self.codec = codec
        self.ttl = ttl
    }

    /// The current key's value, or nil (also when it has expired, unless the state's
    /// `StateTtlConfig` returns expired values).
    @inlinable
    public func value() throws -> Value? {
        let slot = try backend.slot(state: id)
        if let ttl { return try backend.ttlRead(at: slot, ttl: ttl, state: id) { codec.decode($0) } }
        return try backend.withValue(at: slot) { bytes in
            guard let bytes else { return nil }
            guard let v = codec.decode(bytes) else {
                throw StreamError.stateCorrupt("value state #\(id) cannot be decoded")
            }
            return v
        }
    }

    /// Sets the current key's value.
    @inlinable
    public func update(_ value: Value) throws {
        let slot = try backend.slot(state: id)
        if ttl != nil {
            backend.ttlWrite(at: slot) { codec.encode(value, into: &$0) }
        } else {
            backend.setValue(at: slot) { codec.encode(value, into: &$0) }
        }
    }

    /// Removes the current key's value.
    @inlinable
    public func clear() throws { backend.clearValue(at: try backend.slot(state: id)) }
}

/// A map per key, for the key of the element being processed.
public final class MapState<MapKey, Value> {
    // As `ValueState`'s: inlinable accessors, specialized in the job's module.
    @usableFromInline let backend: KeyedStateBackend
    @usableFromInline let id: UInt8
    @usableFromInline let keyCodec: any StateCodec<MapKey>
    @usableFromInline let valueCodec: any StateCodec<Value>
    @usableFromInline let ttl: StateTtlConfig?

    init(
        backend: KeyedStateBackend, id: UInt8, keyCodec: any StateCodec<MapKey>, valueCodec: any StateCodec<Value>,
        ttl: StateTtlConfig?
    ) {
        self.backend = backend
        self.id = id
        self.keyCodec = keyCodec
        self.valueCodec = valueCodec
        self.ttl = ttl
    }

    /// The value under `key`, or nil (also when it has expired, unless the state's
    /// `StateTtlConfig` returns expired values).
    @inlinable
    public func get(_ key: MapKey) throws -> Value? {
        let slot = try backend.slot(state: id, mapKey: keyCodec.encode(key))
        if let ttl { return try backend.ttlRead(at: slot, ttl: ttl, state: id) { valueCodec.decode($0) } }
        return try backend.withValue(at: slot) { bytes in
            guard let bytes else { return nil }
            guard let v = valueCodec.decode(bytes) else {
                throw StreamError.stateCorrupt("map state #\(id) value cannot be decoded")
            }
            return v
        }
    }

    /// Sets the value under `key`.
    @inlinable
    public func put(_ key: MapKey, _ value: Value) throws {
        let slot = try backend.slot(state: id, mapKey: keyCodec.encode(key))
        if ttl != nil {
            backend.ttlWrite(at: slot) { valueCodec.encode(value, into: &$0) }
        } else {
            backend.setValue(at: slot) { valueCodec.encode(value, into: &$0) }
        }
    }

    /// Removes `key`.
    @inlinable
    public func remove(_ key: MapKey) throws {
        backend.clearValue(at: try backend.slot(state: id, mapKey: keyCodec.encode(key)))
    }

    /// Every entry for the current key, in encoded-key order. With a time to live, each
    /// entry is read as `get` reads it (expired ones removed, and left out unless the
    /// state returns expired values).
    public func entries() throws -> [(key: MapKey, value: Value)] {
        if ttl != nil {
            var out: [(key: MapKey, value: Value)] = []
            for e in try backend.mapEntries(state: id) {
                guard let k = keyCodec.decode(e.key[...]) else {
                    throw StreamError.stateCorrupt("map state #\(id) entry cannot be decoded")
                }
                if let v = try get(k) { out.append((k, v)) }
            }
            return out
        }
        return try backend.mapEntries(state: id).map { e in
            guard let k = keyCodec.decode(e.key[...]), let v = valueCodec.decode(e.value[...]) else {
                throw StreamError.stateCorrupt("map state #\(id) entry cannot be decoded")
            }
            return (k, v)
        }
    }
}

/// What a keyed process function sees: the current key and its state.
public final class KeyedContext<Key> {
    let backend: KeyedStateBackend
    private var ids: [String: UInt8] = [:]
    private var states: [String: AnyObject] = [:]
    private var lastName = ""
    private var lastState: AnyObject?
    /// The key of the element being processed.
    public internal(set) var currentKey: Key
    /// Index of this parallel subtask.
    public let subtaskIndex: Int

    init(backend: KeyedStateBackend, initialKey: Key, subtaskIndex: Int) {
        self.backend = backend
        self.currentKey = initialKey
        self.subtaskIndex = subtaskIndex
    }

    /// A state's id is a stable hash of its name (the same in every subtask, run and
    /// restart, whatever order states are first used in); two names with one id are refused.
    private func id(for name: String) throws -> UInt8 {
        if let i = ids[name] { return i }
        let i = KeyedContext.stateID(forName: name)
        if let other = ids.first(where: { $0.value == i }) {
            throw StreamError.invalidJob("state names \"\(name)\" and \"\(other.key)\" collide; rename one")
        }
        ids[name] = i
        return i
    }

    /// Checks a state's time to live and makes it known to the compaction filter.
    private func registerTtl(_ ttl: StateTtlConfig?, id: UInt8, name: String) throws {
        guard let ttl else { return }
        guard ttl.ttlMilliseconds > 0 else {
            throw StreamError.invalidJob(
                "state \"\(name)\": the time to live must be positive, not \(ttl.ttlMilliseconds) ms")
        }
        try backend.ttlStates.register(id: id, name: name, config: ttl)
    }

    /// The id byte of a state name: a stable FNV-1a hash folded to 1...255.
    static func stateID(forName name: String) -> UInt8 {
        var h: UInt32 = 2_166_136_261
        for b in name.utf8 { h = (h ^ UInt32(b)) &* 16_777_619 }
        return UInt8(h % 255) + 1
    }

    /// The value state `descriptor` names, bound to the current key.
    public func state<V>(_ descriptor: ValueStateDescriptor<V>) throws -> ValueState<V> {
        // Fast path: the same state as last time (the usual case, once per element).
        if lastName == descriptor.name, let last = lastState as? ValueState<V> { return last }
        defer {
            lastName = descriptor.name
            lastState = states[descriptor.name]
        }
        if let s = states[descriptor.name] {
            guard let v = s as? ValueState<V> else {
                throw StreamError.invalidJob("state \"\(descriptor.name)\" is already used with another type")
            }
            return v
        }
        let id = try id(for: descriptor.name)
        try registerTtl(descriptor.ttl, id: id, name: descriptor.name)
        try backend.declare(
            SavepointMetadata.State(
                name: descriptor.name, id: id, kind: 0, ttl: descriptor.ttl != nil,
                valueCodec: descriptor.codec.codecName, valueCodecVersion: UInt32(descriptor.codec.codecVersion),
                keyCodec: "", keyCodecVersion: 0, entries: 0), migration: descriptor.migration)
        let s = ValueState(backend: backend, id: id, codec: descriptor.codec, ttl: descriptor.ttl)
        states[descriptor.name] = s
        return s
    }

    /// The map state `descriptor` names, bound to the current key.
    public func state<K, V>(_ descriptor: MapStateDescriptor<K, V>) throws -> MapState<K, V> {
        if let s = states[descriptor.name] {
            guard let m = s as? MapState<K, V> else {
                throw StreamError.invalidJob("state \"\(descriptor.name)\" is already used with another type")
            }
            return m
        }
        let id = try id(for: descriptor.name)
        try registerTtl(descriptor.ttl, id: id, name: descriptor.name)
        try backend.declare(
            SavepointMetadata.State(
                name: descriptor.name, id: id, kind: 1, ttl: descriptor.ttl != nil,
                valueCodec: descriptor.valueCodec.codecName,
                valueCodecVersion: UInt32(descriptor.valueCodec.codecVersion),
                keyCodec: descriptor.keyCodec.codecName, keyCodecVersion: UInt32(descriptor.keyCodec.codecVersion),
                entries: 0), migration: descriptor.migration)
        let s = MapState(
            backend: backend, id: id, keyCodec: descriptor.keyCodec, valueCodec: descriptor.valueCodec,
            ttl: descriptor.ttl)
        states[descriptor.name] = s
        return s
    }
}
