/// Reads and writes of states with a time to live (`StateTtlConfig`), on the backend's slots.
extension KeyedStateBackend {
    /// Decodes the slot's value under `ttl`, as Flink's TTL states do: an expired value is
    /// removed, and returned only under `.returnExpiredIfNotCleanedUp`; a live one read under
    /// `.onReadAndWrite` gets the current time.
    @usableFromInline
    func ttlRead<V>(
        at slot: Int, ttl: StateTtlConfig, state: UInt8, decode: (ArraySlice<UInt8>) -> V?
    ) throws -> V? {
        let now = ttlNow()
        var clear = false
        var touch = false
        let result: V? = try withValue(at: slot) { bytes in
            guard let bytes else { return nil }
            guard let ts = TtlValue.timestamp(bytes) else {
                throw StreamError.stateCorrupt(
                    "state #\(state): a stored value of \(bytes.count) bytes is shorter than its time-to-live header")
            }
            if ttl.isExpired(timestamp: ts, now: now) {
                clear = true
                if ttl.visibility == .neverReturnExpired { return nil }
            } else if ttl.updateType == .onReadAndWrite && ts != now {
                touch = true
            }
            guard let v = decode(bytes.dropFirst(TtlValue.headerSize)) else {
                throw StreamError.stateCorrupt("state #\(state): a stored value cannot be decoded")
            }
            return v
        }
        if clear {
            clearValue(at: slot)
        } else if touch {
            setTimestamp(at: slot, now)
        }
        return result
    }

    /// Sets the slot's value to `encode`'s bytes behind a header with the current time.
    @usableFromInline
    func ttlWrite(at slot: Int, _ encode: (inout [UInt8]) -> Void) {
        let now = ttlNow()
        setValue(at: slot) { out in
            TtlValue.appendHeader(now, to: &out)
            encode(&out)
        }
    }
}
