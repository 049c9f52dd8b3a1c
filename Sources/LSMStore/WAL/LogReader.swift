/// Reads logical records written by `LogWriter` from a whole file held in memory.
///
/// Point-in-time recovery: a damaged record at the tail of the file (a crash in the middle of
/// an append) ends the log silently; `droppedTail` tells how many bytes were dropped. A
/// damaged record followed by an intact record is corruption and throws, naming the offset.
struct LogReader {
    let data: [UInt8]
    let fileName: String
    private var pos = 0
    /// Bytes at the end of the file that were ignored as a torn write.
    private(set) var droppedTail = 0

    init(data: [UInt8], fileName: String) {
        self.data = data
        self.fileName = fileName
    }

    private func corruption(_ offset: Int, _ reason: String) -> LSMError {
        .corruption(file: fileName, offset: UInt64(offset), reason: reason)
    }

    private enum Physical {
        case record(type: UInt8, start: Int, length: Int, headerAt: Int)
        case bad(at: Int, reason: String)
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
            if p + LogFormat.headerSize > data.count { return .bad(at: p, reason: "truncated record header") }
            let at = p
            let length = Int(data[p + 4]) | (Int(data[p + 5]) << 8)
            let type = data[p + 6]
            if type == 0 && length == 0 && decodeFixed32(data, p) == 0 {
                return .bad(at: at, reason: "zero-filled bytes where a record was expected")
            }
            if inBlock + LogFormat.headerSize + length > LogFormat.blockSize {
                return .bad(at: at, reason: "record length \(length) crosses the block boundary")
            }
            if p + LogFormat.headerSize + length > data.count {
                return .bad(at: at, reason: "truncated record: length \(length) past end of file")
            }
            let expected = CRC32C.unmask(decodeFixed32(data, p))
            let actual = data.withUnsafeBytes {
                CRC32C.unmask(LogFormat.checksum(
                    type: type,
                    payload: UnsafeRawBufferPointer(rebasing: $0[(p + 7)..<(p + 7 + length)])))
            }
            if expected != actual { return .bad(at: at, reason: "checksum mismatch") }
            if type < 1 || type > 4 { return .bad(at: at, reason: "unknown record type \(type)") }
            p += LogFormat.headerSize + length
            return .record(type: type, start: at + LogFormat.headerSize, length: length, headerAt: at)
        }
    }

    /// True when some block after the one holding `offset` contains an intact record that
    /// begins a logical record: then damage at `offset` is not a torn tail.
    private func intactRecordAfter(_ offset: Int) -> Bool {
        var block = (offset / LogFormat.blockSize + 1) * LogFormat.blockSize
        while block < data.count {
            var p = block
            while p < block + LogFormat.blockSize {
                switch readPhysical(&p) {
                case let .record(type, _, _, _):
                    if type == LogFormat.RecordType.full.rawValue || type == LogFormat.RecordType.first.rawValue {
                        return true
                    }
                case .bad, .eof:
                    p = block + LogFormat.blockSize
                }
            }
            block += LogFormat.blockSize
        }
        return false
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
                if assembling != nil { droppedTail = data.count - recordStart }
                pos = data.count
                return nil
            case let .bad(at, reason):
                if intactRecordAfter(at) { throw corruption(at, reason) }
                droppedTail = data.count - (assembling != nil ? recordStart : at)
                pos = data.count
                return nil
            case let .record(type, start, length, headerAt):
                pos = p
                let payload = data[start..<(start + length)]
                switch LogFormat.RecordType(rawValue: type)! {
                case .full:
                    if assembling != nil { throw corruption(headerAt, "full record inside a fragmented record") }
                    return (Array(payload), headerAt)
                case .first:
                    if assembling != nil { throw corruption(headerAt, "first fragment inside a fragmented record") }
                    assembling = Array(payload)
                    recordStart = headerAt
                case .middle:
                    guard assembling != nil else { throw corruption(headerAt, "middle fragment without a first") }
                    assembling!.append(contentsOf: payload)
                case .last:
                    guard var rec = assembling else { throw corruption(headerAt, "last fragment without a first") }
                    rec.append(contentsOf: payload)
                    return (rec, recordStart)
                case .zero:
                    throw corruption(headerAt, "zero record type")
                }
            }
        }
    }
}
