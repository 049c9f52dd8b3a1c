/// Reads logical records written by `LogWriter` from a whole file held in memory.
///
/// What a damaged record means depends on `tail` (docs/FORMAT.md §3.4):
/// - `.strict`: any damage, a torn last write included, throws corruption naming the offset.
/// - `.dropTornWrite`: only a torn last write ends the log quietly: the damaged record is the
///   last thing in the file (it runs past the end, or only zero bytes follow it) and no intact
///   record starts anywhere after it. Any other damage throws. `droppedTail` and
///   `droppedOffset` tell what was dropped.
/// - `.stopAtDamage`: the first damage of any kind ends the log; everything before it is
///   returned and `droppedTail` counts the rest.
struct LogReader {
    /// How the reader treats damage.
    enum TailPolicy {
        case strict
        case dropTornWrite
        case stopAtDamage
    }

    let data: [UInt8]
    let fileName: String
    let tail: TailPolicy
    private var pos = 0
    /// Bytes at the end of the file that were not returned.
    private(set) var droppedTail = 0
    /// Where the dropped bytes start, and why they were dropped (nil when nothing was).
    private(set) var dropped: (offset: Int, reason: String)? = nil

    init(data: [UInt8], fileName: String, tail: TailPolicy = .dropTornWrite) {
        self.data = data
        self.fileName = fileName
        self.tail = tail
    }

    private func corruption(_ offset: Int, _ reason: String) -> LSMError {
        .corruption(file: fileName, offset: UInt64(offset), reason: reason)
    }

    private enum Physical {
        case record(type: UInt8, start: Int, length: Int, headerAt: Int)
        /// Damage at `at`. `end` is where the damaged record ends when it lies wholly inside
        /// the file, nil when it runs past the end of the file (a truncated append).
        case bad(at: Int, reason: String, end: Int?)
        case eof
    }

    /// Reads the physical record at `p`, skipping block trailers. `p` advances past it.
    private func readPhysical(_ p: inout Int) -> Physical {
        while true {
            let inBlock = p % LogFormat.blockSize
            if LogFormat.blockSize - inBlock < LogFormat.headerSize {
                p += LogFormat.blockSize - inBlock  // trailer padding
                continue
            }
            if p >= data.count { return .eof }
            if p + LogFormat.headerSize > data.count { return .bad(at: p, reason: "truncated record header", end: nil) }
            let at = p
            let length = Int(data[p + 4]) | (Int(data[p + 5]) << 8)
            let type = data[p + 6]
            if type == 0 && length == 0 && decodeFixed32(data, p) == 0 {
                return .bad(
                    at: at, reason: "zero-filled bytes where a record was expected", end: at + LogFormat.headerSize)
            }
            if inBlock + LogFormat.headerSize + length > LogFormat.blockSize {
                // The length cannot be right. If the block would end past the end of the file,
                // this may be a header whose append was cut short; otherwise it is damage.
                let blockEnd = at - inBlock + LogFormat.blockSize
                return .bad(
                    at: at, reason: "record length \(length) crosses the block boundary",
                    end: blockEnd > data.count ? nil : at + LogFormat.headerSize)
            }
            if p + LogFormat.headerSize + length > data.count {
                return .bad(at: at, reason: "truncated record: length \(length) past end of file", end: nil)
            }
            let end = p + LogFormat.headerSize + length
            let expected = CRC32C.unmask(decodeFixed32(data, p))
            let actual = data.withUnsafeBytes {
                CRC32C.unmask(
                    LogFormat.checksum(
                        type: type,
                        payload: UnsafeRawBufferPointer(rebasing: $0[(p + 7)..<end])))
            }
            if expected != actual { return .bad(at: at, reason: "checksum mismatch", end: end) }
            if type < 1 || type > 4 { return .bad(at: at, reason: "unknown record type \(type)", end: end) }
            p = end
            return .record(type: type, start: at + LogFormat.headerSize, length: length, headerAt: at)
        }
    }

    /// The offset of an intact physical record starting anywhere after `offset`, if one does.
    /// Every position is tried (a damaged length hides where the next record starts); a
    /// position qualifies only when its type is valid, its length fits its block and the file,
    /// and its checksum matches, so random bytes pass with odds of about 2^-32 per position.
    private func intactRecord(after offset: Int) -> Int? {
        var q = offset + 1
        while q + LogFormat.headerSize <= data.count {
            let inBlock = q % LogFormat.blockSize
            if LogFormat.blockSize - inBlock < LogFormat.headerSize {
                q += LogFormat.blockSize - inBlock
                continue
            }
            let type = data[q + 6]
            let length = Int(data[q + 4]) | (Int(data[q + 5]) << 8)
            if type >= 1 && type <= 4 && inBlock + LogFormat.headerSize + length <= LogFormat.blockSize
                && q + LogFormat.headerSize + length <= data.count
            {
                var p = q
                if case .record = readPhysical(&p) { return q }
            }
            q += 1
        }
        return nil
    }

    /// Whether damage at `at` (a record ending at `end`, or running past the end of the file
    /// when nil) can be a torn last write: nothing but zero bytes follows, and no intact record.
    private func isTornWrite(at: Int, end: Int?) -> Bool {
        if let end {
            var i = end
            while i < data.count {
                if data[i] != 0 { return false }
                i += 1
            }
        }
        return intactRecord(after: at) == nil
    }

    /// Ends the log at `offset` for `reason`, or throws when the policy does not allow it.
    private mutating func endLog(at offset: Int, damageAt: Int, reason: String, tornWrite: Bool) throws {
        switch tail {
        case .strict:
            throw corruption(damageAt, reason)
        case .dropTornWrite:
            if !tornWrite { throw corruption(damageAt, reason) }
        case .stopAtDamage:
            break
        }
        droppedTail = data.count - offset
        dropped = (offset, reason)
        pos = data.count
    }

    /// The next logical record and its file offset, or nil at the end of the log.
    mutating func next() throws -> (record: [UInt8], offset: Int)? {
        var assembling: [UInt8]? = nil
        var recordStart = 0
        while true {
            var p = pos
            let phys = readPhysical(&p)
            switch phys {
            case .eof:
                pos = data.count
                if assembling != nil {
                    try endLog(
                        at: recordStart, damageAt: recordStart, reason: "the log ends inside a fragmented record",
                        tornWrite: true)
                }
                return nil
            case let .bad(at, reason, end):
                try endLog(
                    at: assembling != nil ? recordStart : at, damageAt: at, reason: reason,
                    tornWrite: isTornWrite(at: at, end: end))
                return nil
            case let .record(type, start, length, headerAt):
                let payload = data[start..<(start + length)]
                let kind = LogFormat.RecordType(rawValue: type) ?? .zero
                var grammarError: String? = nil
                switch kind {
                case .full:
                    if assembling != nil { grammarError = "full record inside a fragmented record" }
                case .first:
                    if assembling != nil { grammarError = "first fragment inside a fragmented record" }
                case .middle, .last:
                    if assembling == nil {
                        grammarError = "\(kind == .middle ? "middle" : "last") fragment without a first"
                    }
                case .zero:
                    grammarError = "zero record type"
                }
                if let grammarError {
                    // Intact records in the wrong order are never a torn write.
                    try endLog(
                        at: assembling != nil ? recordStart : headerAt, damageAt: headerAt, reason: grammarError,
                        tornWrite: false)
                    return nil
                }
                pos = p
                switch kind {
                case .full:
                    return (Array(payload), headerAt)
                case .first:
                    assembling = Array(payload)
                    recordStart = headerAt
                case .middle:
                    assembling?.append(contentsOf: payload)
                case .last:
                    var rec = assembling ?? []
                    rec.append(contentsOf: payload)
                    return (rec, recordStart)
                case .zero:
                    return nil
                }
            }
        }
    }
}
