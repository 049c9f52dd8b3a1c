/// A small reader for the XML of S3's answers (listings, multipart uploads, errors): elements,
/// text and the five predefined and numeric character entities; declarations, comments and
/// attributes are skipped. Written here rather than taken from FoundationXML: no libxml2 at
/// run time, no delegate object per answer, any thread may use it, and an answer that is not
/// well formed is refused instead of half read.
enum S3XML {
    /// Calls `start(name)` at each opening tag and `end(name, text)` at each closing one,
    /// with the element's own text (entities decoded); returns false when the document is
    /// not well formed (a tag left open, a closing tag that does not match).
    static func scan(_ body: [UInt8], start: (String) -> Void, end: (String, String) -> Void) -> Bool {
        var stack: [String] = []
        var text: [UInt8] = []
        var i = 0
        let n = body.count
        func find(_ needle: [UInt8], from: Int) -> Int? {
            var j = from
            while j + needle.count <= n {
                if body[j] == needle[0] && body[j..<(j + needle.count)].elementsEqual(needle) { return j }
                j += 1
            }
            return nil
        }
        while i < n {
            guard body[i] == UInt8(ascii: "<") else {
                text.append(body[i])
                i += 1
                continue
            }
            if i + 1 < n && (body[i + 1] == UInt8(ascii: "?") || body[i + 1] == UInt8(ascii: "!")) {
                // A declaration, comment or doctype: skipped whole.
                let close: [UInt8] =
                    body[i + 1] == UInt8(ascii: "?")
                    ? Array("?>".utf8) : (i + 3 < n && body[i + 2] == UInt8(ascii: "-") ? Array("-->".utf8) : [62])
                guard let e = find(close, from: i + 2) else { return false }
                i = e + close.count
                continue
            }
            guard let gt = find([62], from: i + 1) else { return false }
            var tag = Array(body[(i + 1)..<gt])
            i = gt + 1
            if tag.first == UInt8(ascii: "/") {
                let name = String(decoding: tag.dropFirst(), as: UTF8.self).trimmingSpaces
                guard stack.last == name else { return false }
                stack.removeLast()
                guard let decoded = decodeEntities(text) else { return false }
                end(name, decoded)
                text = []
                continue
            }
            let selfClosing = tag.last == UInt8(ascii: "/")
            if selfClosing { tag.removeLast() }
            let name = String(decoding: tag.prefix { $0 != 32 && $0 != 9 && $0 != 10 && $0 != 13 }, as: UTF8.self)
            guard !name.isEmpty else { return false }
            start(name)
            text = []
            if selfClosing {
                end(name, "")
            } else {
                stack.append(name)
            }
        }
        return stack.isEmpty
    }

    private static func decodeEntities(_ bytes: [UInt8]) -> String? {
        guard bytes.contains(UInt8(ascii: "&")) else { return String(decoding: bytes, as: UTF8.self) }
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "&") else {
                out.append(bytes[i])
                i += 1
                continue
            }
            guard let semi = bytes[i...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
            let entity = String(decoding: bytes[(i + 1)..<semi], as: UTF8.self)
            switch entity {
            case "amp": out.append(UInt8(ascii: "&"))
            case "lt": out.append(UInt8(ascii: "<"))
            case "gt": out.append(UInt8(ascii: ">"))
            case "quot": out.append(UInt8(ascii: "\""))
            case "apos": out.append(UInt8(ascii: "'"))
            default:
                let hex = entity.hasPrefix("#x") || entity.hasPrefix("#X")
                guard entity.hasPrefix("#"),
                    let v = UInt32(entity.dropFirst(hex ? 2 : 1), radix: hex ? 16 : 10),
                    let scalar = Unicode.Scalar(v)
                else { return nil }
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            }
            i = semi + 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(
            self.drop { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }.reversed().drop {
                $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r"
            }.reversed())
    }
}

/// Reads a ListObjectsV2 response; nil when it is not well formed.
struct ListingParser {
    var objects: [(key: String, size: UInt64)] = []
    var prefixes: [String] = []
    var truncated = false
    var nextToken: String?

    static func parse(_ body: [UInt8]) -> ListingParser? {
        var p = ListingParser()
        var key = ""
        var size: UInt64? = nil
        var inPrefixes = false
        var sound = true
        let wellFormed = S3XML.scan(
            body,
            start: { name in
                if name == "CommonPrefixes" { inPrefixes = true }
                if name == "Contents" {
                    key = ""
                    size = nil
                }
            },
            end: { name, text in
                switch name {
                case "Key": key = text
                case "Size": size = UInt64(text)
                case "Contents":
                    if let size, !key.isEmpty { p.objects.append((key, size)) } else { sound = false }
                case "Prefix": if inPrefixes { p.prefixes.append(text) }
                case "CommonPrefixes": inPrefixes = false
                case "IsTruncated": p.truncated = text == "true"
                case "NextContinuationToken": p.nextToken = text
                default: break
                }
            })
        return wellFormed && sound ? p : nil
    }
}

/// Reads the repeated records of an S3 XML response (`<Upload>` of ListMultipartUploads, …):
/// each record's child elements as name → text, and the response's top-level elements
/// outside records (`IsTruncated`, `NextKeyMarker`, …). Nil when not well formed.
struct XMLRecords {
    var records: [[String: String]] = []
    var top: [String: String] = [:]

    static func parse(_ body: [UInt8], element: String) -> XMLRecords? {
        var r = XMLRecords()
        var current: [String: String]? = nil
        var depth = 0
        let wellFormed = S3XML.scan(
            body,
            start: { name in
                depth += 1
                if name == element { current = [:] }
            },
            end: { name, text in
                depth -= 1
                if name == element, let c = current {
                    r.records.append(c)
                    current = nil
                } else if current != nil {
                    current?[name] = text
                } else if depth == 1 {
                    r.top[name] = text
                }
            })
        return wellFormed ? r : nil
    }
}
