import Glibc

/// One field of the reader's current record: a byte range of its buffer. For a quoted field
/// the range excludes the surrounding quotes; `hasDoubledQuotes` says whether `""` pairs inside
/// it still need collapsing to `"`.
struct CSVFieldSpan {
    var start: Int
    var end: Int
    var hasDoubledQuotes: Bool
}

/// A problem the record splitter found in a record's syntax. The record is still delimited
/// (reading can go on); whoever consumes it decides whether that makes the row malformed.
enum CSVRecordIssue: Sendable, Equatable {
    /// A quoted field runs to the end of the file without its closing quote.
    case unterminatedQuote
    /// Characters other than a comma or a line end follow a field's closing quote.
    case textAfterClosingQuote

    var reason: String {
        switch self {
        case .unterminatedQuote: return "a quoted field is not closed before the end of the file"
        case .textAfterClosingQuote: return "text follows a closing quote"
        }
    }
}

/// Splits a CSV file into records over a large byte buffer read with `pread(2)`.
///
/// - Records end at LF or CRLF (the CR is not part of the last field). A lone CR inside a
///   field is data.
/// - Fields follow RFC 4180: a field that starts with `"` is quoted; inside it commas and line
///   ends are data and `""` stands for one `"`. A `"` inside an unquoted field is data.
/// - Blank lines (empty, or a lone CR) between records are skipped, as pandas does; they still
///   count for line numbers.
/// - A UTF-8 byte order mark at the start of the file is skipped.
/// - Each record knows its 1-based first line, its start offset, and the offset and line where
///   the next record starts, so a reader can be reopened at any record boundary.
/// - A record longer than `maxRecordLength` bytes (excluding its line end) is
///   `CSVError.recordTooLong` naming its first line; memory stays bounded by about
///   `maxRecordLength + chunkSize`.
///
/// Fields are byte ranges into the buffer: valid only until the next `nextRecord()` call.
final class CSVReader {
    /// Bytes read per `pread` call in the steady state.
    static let defaultChunkSize = 1 << 20
    /// The longest record accepted by default (16 MiB).
    static let defaultMaxRecordLength = 16 << 20

    let path: String
    let maxRecordLength: Int
    private let file: CSVFile
    private let chunkSize: Int

    private var buffer: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// File offset of `buffer[0]`.
    private var bufferFileOffset: UInt64
    /// Next unread byte in `buffer`.
    private var pos = 0
    /// Number of valid bytes in `buffer`.
    private var end = 0
    private var atEOF = false
    /// The line number at `pos`.
    private var line: Int

    private var fields: UnsafeMutablePointer<CSVFieldSpan>
    private var fieldCapacity = 16
    /// Number of fields of the current record.
    private(set) var fieldCount = 0

    // The current record.
    private var recordStart = 0
    private var recordContentEnd = 0
    /// 1-based line on which the current record starts.
    private(set) var recordLineNumber = 0
    /// File offset of the current record's first byte.
    private(set) var recordStartOffset: UInt64 = 0
    /// A syntax problem of the current record, if any.
    private(set) var recordIssue: CSVRecordIssue?

    // Scratch results of `scan`.
    private var scanNext = 0
    private var scanLines = 0
    private var scanIssue: CSVRecordIssue?
    private var unescapeScratch: [UInt8] = []

    /// Opens `path` and positions the reader at `startOffset`, which must be a record boundary
    /// (0, or an offset a previous reader reported), on line `lineNumber`.
    init(
        path: String, startOffset: UInt64 = 0, lineNumber: Int = 1,
        maxRecordLength: Int = CSVReader.defaultMaxRecordLength,
        chunkSize: Int = CSVReader.defaultChunkSize
    ) throws {
        precondition(maxRecordLength > 0 && chunkSize > 0, "limits must be positive")
        self.path = path
        self.file = try CSVFile(path: path)
        self.maxRecordLength = maxRecordLength
        self.chunkSize = chunkSize
        capacity = chunkSize
        buffer = .allocate(capacity: chunkSize)
        fields = .allocate(capacity: fieldCapacity)
        bufferFileOffset = startOffset
        line = lineNumber
        if startOffset == 0 {
            while end < 3 && !atEOF { try refill() }
            if end >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF { pos = 3 }
        }
    }

    deinit {
        buffer.deallocate()
        fields.deallocate()
    }

    /// File offset where the next record (or blank line) starts: after the current record.
    var nextOffset: UInt64 { bufferFileOffset + UInt64(pos) }
    /// Line number at `nextOffset`.
    var nextLineNumber: Int { line }

    /// Advances to the next record; false at end of file.
    func nextRecord() throws -> Bool {
        // Skip blank lines.
        while true {
            if pos == end {
                if atEOF { return false }
                try refill()
                continue
            }
            let c = buffer[pos]
            if c == lf {
                pos += 1
                line += 1
                continue
            }
            if c == cr {
                if pos + 1 < end {
                    if buffer[pos + 1] == lf {
                        pos += 2
                        line += 1
                        continue
                    }
                    break
                }
                if atEOF {
                    pos += 1
                    continue
                }
                try refill()
                continue
            }
            break
        }
        while !scan(from: pos, eof: atEOF) {
            if end - pos > maxRecordLength + 1 {
                throw CSVError.recordTooLong(path: path, line: line, limit: maxRecordLength)
            }
            try refill()
        }
        if recordContentEnd - pos > maxRecordLength {
            throw CSVError.recordTooLong(path: path, line: line, limit: maxRecordLength)
        }
        recordStart = pos
        recordLineNumber = line
        recordStartOffset = bufferFileOffset + UInt64(pos)
        recordIssue = scanIssue
        line += scanLines
        pos = scanNext
        return true
    }

    /// The raw bytes of field `i` of the current record (quotes removed, `""` not collapsed).
    @inline(__always)
    func rawField(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        let s = fields[i]
        return UnsafeBufferPointer(start: buffer + s.start, count: s.end - s.start)
    }

    /// Whether field `i` holds `""` pairs, so `rawField` differs from its value.
    @inline(__always)
    func fieldHasDoubledQuotes(_ i: Int) -> Bool { fields[i].hasDoubledQuotes }

    /// Calls `body` with the value of field `i`: quotes removed and `""` collapsed to `"`.
    /// Copies only when the field has doubled quotes.
    @inline(__always)
    func withField<R>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let s = fields[i]
        if !s.hasDoubledQuotes {
            return try body(UnsafeBufferPointer(start: buffer + s.start, count: s.end - s.start))
        }
        unescapeScratch.removeAll(keepingCapacity: true)
        var p = s.start
        while p < s.end {
            let c = buffer[p]
            unescapeScratch.append(c)
            p += (c == quote && p + 1 < s.end && buffer[p + 1] == quote) ? 2 : 1
        }
        return try unescapeScratch.withUnsafeBufferPointer { try body($0) }
    }

    /// Field `i` as a String (invalid UTF-8 replaced by U+FFFD).
    func fieldString(_ i: Int) -> String {
        withField(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// All fields of the current record as Strings (used for the header).
    func fieldStrings() -> [String] { (0..<fieldCount).map(fieldString) }

    /// The current record's bytes, without its line end.
    var recordBytes: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: buffer + recordStart, count: recordContentEnd - recordStart)
    }

    /// The current record as text for messages: at most `maxCharacters` characters, with `…`
    /// when cut; invalid UTF-8 shows as U+FFFD.
    func recordText(maxCharacters: Int = 200) -> String {
        let bytes = recordBytes
        let cut = UnsafeBufferPointer(rebasing: bytes[0..<min(bytes.count, maxCharacters * 4)])
        let text = String(decoding: cut, as: UTF8.self)
        if text.count > maxCharacters { return String(text.prefix(maxCharacters)) + "…" }
        return cut.count < bytes.count ? text + "…" : text
    }

    /// Moves the reader to `offset`, which must be a record boundary, on line `lineNumber`.
    func seek(to offset: UInt64, lineNumber: Int) {
        bufferFileOffset = offset
        pos = 0
        end = 0
        atEOF = false
        line = lineNumber
        fieldCount = 0
    }

    /// The file's size in bytes.
    func fileSize() throws -> UInt64 { try file.size() }

    /// The file's byte at `offset`, or nil past its end.
    func fileByte(at offset: UInt64) throws -> UInt8? {
        var byte: UInt8 = 0
        let n = try withUnsafeMutableBytes(of: &byte) { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return try file.read(into: base, count: 1, at: offset)
        }
        return n == 1 ? byte : nil
    }

    // MARK: - Buffer

    /// Drops the bytes before `pos`, makes room, and reads more; sets `atEOF` when the file
    /// has no more bytes.
    private func refill() throws {
        if pos > 0 {
            let kept = end - pos
            if kept > 0 { memmove(buffer, buffer + pos, kept) }
            bufferFileOffset += UInt64(pos)
            end = kept
            pos = 0
        }
        if capacity - end < chunkSize / 2 + 1 {
            // A long record: grow, but never past what the record limit can need.
            let bound = maxRecordLength + 2 + chunkSize
            let newCapacity = max(end + 1, min(max(capacity * 2, end + chunkSize), bound))
            let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
            grown.update(from: buffer, count: end)
            buffer.deallocate()
            buffer = grown
            capacity = newCapacity
        }
        let want = capacity - end
        let n = try file.read(into: buffer + end, count: want, at: bufferFileOffset + UInt64(end))
        end += n
        if n < want { atEOF = true }
    }

    // MARK: - Scanning

    @inline(__always)
    private func appendField(_ start: Int, _ end: Int, _ doubled: Bool) {
        if fieldCount == fieldCapacity {
            let newCapacity = fieldCapacity * 2
            let grown = UnsafeMutablePointer<CSVFieldSpan>.allocate(capacity: newCapacity)
            grown.moveInitialize(from: fields, count: fieldCount)
            fields.deallocate()
            fields = grown
            fieldCapacity = newCapacity
        }
        (fields + fieldCount).initialize(to: CSVFieldSpan(start: start, end: end, hasDoubledQuotes: doubled))
        fieldCount += 1
    }

    @inline(__always)
    private func finish(contentEnd: Int, next: Int, lines: Int, issue: CSVRecordIssue?) -> Bool {
        recordContentEnd = contentEnd
        scanNext = next
        scanLines = lines
        scanIssue = issue
        return true
    }

    private func countLineFeeds(_ from: Int, _ to: Int) -> Int {
        var n = 0
        var p = from
        while p < to {
            if buffer[p] == lf { n += 1 }
            p += 1
        }
        return n
    }

    /// Delimits the record starting at `start`. Returns false when the buffer ends before the
    /// record does and more of the file remains (`eof` false); with `eof` it always succeeds.
    private func scan(from start: Int, eof: Bool) -> Bool {
        let b = buffer
        let end = self.end
        var p = start
        var lines = 0
        var issue: CSVRecordIssue?
        fieldCount = 0
        while true {
            if p < end && b[p] == quote {
                p += 1
                let contentStart = p
                var doubled = false
                var closed = false
                while p < end {
                    guard let q = memchr(b + p, Int32(quote), end - p) else {
                        p = end
                        break
                    }
                    p = UnsafeRawPointer(b).distance(to: UnsafeRawPointer(q))
                    if p + 1 < end {
                        if b[p + 1] == quote {
                            doubled = true
                            p += 2
                            continue
                        }
                        closed = true
                        break
                    }
                    if !eof { return false }  // the byte after this quote decides
                    closed = true
                    break
                }
                if !closed {
                    if !eof { return false }
                    lines += countLineFeeds(contentStart, end)
                    appendField(contentStart, end, doubled)
                    return finish(contentEnd: end, next: end, lines: lines, issue: .unterminatedQuote)
                }
                lines += countLineFeeds(contentStart, p)
                appendField(contentStart, p, doubled)
                p += 1
                if p == end {
                    if !eof { return false }
                    return finish(contentEnd: end, next: end, lines: lines, issue: issue)
                }
                let c = b[p]
                if c == comma {
                    p += 1
                    continue
                }
                if c == lf { return finish(contentEnd: p, next: p + 1, lines: lines + 1, issue: issue) }
                if c == cr {
                    if p + 1 == end {
                        if !eof { return false }
                        return finish(contentEnd: p, next: end, lines: lines, issue: issue)
                    }
                    if b[p + 1] == lf {
                        return finish(contentEnd: p, next: p + 2, lines: lines + 1, issue: issue)
                    }
                }
                // Text after the closing quote: the row is malformed; find the field's end.
                if issue == nil { issue = .textAfterClosingQuote }
                while p < end && b[p] != comma && b[p] != lf { p += 1 }
                if p == end {
                    if !eof { return false }
                    return finish(contentEnd: end, next: end, lines: lines, issue: issue)
                }
                if b[p] == comma {
                    p += 1
                    continue
                }
                let contentEnd = b[p - 1] == cr ? p - 1 : p
                return finish(contentEnd: contentEnd, next: p + 1, lines: lines + 1, issue: issue)
            } else {
                let fieldStart = p
                while p < end {
                    let c = b[p]
                    if c == comma || c == lf { break }
                    p += 1
                }
                if p == end {
                    if !eof { return false }
                    let fieldEnd = (end > fieldStart && b[end - 1] == cr) ? end - 1 : end
                    appendField(fieldStart, fieldEnd, false)
                    return finish(contentEnd: fieldEnd, next: end, lines: lines, issue: issue)
                }
                if b[p] == comma {
                    appendField(fieldStart, p, false)
                    p += 1
                    continue
                }
                let fieldEnd = (p > fieldStart && b[p - 1] == cr) ? p - 1 : p
                appendField(fieldStart, fieldEnd, false)
                return finish(contentEnd: fieldEnd, next: p + 1, lines: lines + 1, issue: issue)
            }
        }
    }
}

private let lf = UInt8(ascii: "\n")
private let cr = UInt8(ascii: "\r")
private let comma = UInt8(ascii: ",")
private let quote = UInt8(ascii: "\"")

/// A read-only POSIX file read with `pread(2)` at explicit offsets. Closes itself on deinit.
final class CSVFile {
    let path: String
    private let fd: Int32

    /// Opens `path` for reading; a missing file is `CSVError.fileNotFound`.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT { throw CSVError.fileNotFound(path: path) }
            throw CSVError.io(path: path, operation: "open", errno: code)
        }
        self.fd = fd
    }

    deinit { _ = close(fd) }

    /// The file's current size in bytes.
    func size() throws -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw CSVError.io(path: path, operation: "fstat", errno: errno) }
        return UInt64(max(0, st.st_size))
    }

    /// Reads up to `count` bytes at `offset` into `into`; returns fewer only at end of file.
    func read(into: UnsafeMutableRawPointer, count: Int, at offset: UInt64) throws -> Int {
        var done = 0
        while done < count {
            let n = pread(fd, into + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CSVError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}
