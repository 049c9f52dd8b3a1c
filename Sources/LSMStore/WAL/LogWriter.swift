/// Appends logical records in the log format. Each `addRecord` issues one `append` to the
/// file, so a record is handed to the operating system before the call returns: a process
/// crash loses nothing that was acknowledged, and `sync()` makes it survive a machine crash.
final class LogWriter {
    let file: any WritableFile
    private var blockOffset: Int

    init(file: any WritableFile) {
        self.file = file
        self.blockOffset = Int(file.size % UInt64(LogFormat.blockSize))
    }

    func addRecord(_ payload: [UInt8]) throws {
        var out = [UInt8]()
        out.reserveCapacity(payload.count + LogFormat.headerSize * (payload.count / LogFormat.blockSize + 2))
        var offset = 0
        var first = true
        var block = blockOffset
        repeat {
            let leftover = LogFormat.blockSize - block
            if leftover < LogFormat.headerSize {
                // Too little room for a header: pad the block with zeros.
                out.append(contentsOf: repeatElement(0, count: leftover))
                block = 0
            }
            let avail = LogFormat.blockSize - block - LogFormat.headerSize
            let fragment = min(avail, payload.count - offset)
            let end = offset + fragment == payload.count
            let type: LogFormat.RecordType = first ? (end ? .full : .first) : (end ? .last : .middle)
            let crc = payload.withUnsafeBytes {
                LogFormat.checksum(
                    type: type.rawValue, payload: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + fragment)]))
            }
            putFixed32(&out, crc)
            out.append(UInt8(fragment & 0xff))
            out.append(UInt8(fragment >> 8))
            out.append(type.rawValue)
            out.append(contentsOf: payload[offset..<(offset + fragment)])
            block += LogFormat.headerSize + fragment
            offset += fragment
            first = false
        } while offset < payload.count
        try file.append(out)
        blockOffset = block
    }

    func sync() throws { try file.sync() }
    func close() throws { try file.close() }
    var size: UInt64 { file.size }
}
