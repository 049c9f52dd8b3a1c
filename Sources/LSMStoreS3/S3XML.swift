import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Reads a ListObjectsV2 response.
final class ListingParser: NSObject, XMLParserDelegate {
    var objects: [(key: String, size: UInt64)] = []
    var prefixes: [String] = []
    var truncated = false
    var nextToken: String?
    private var text = ""
    private var key = ""
    private var size: UInt64 = 0
    private var inPrefixes = false

    static func parse(_ body: [UInt8]) -> ListingParser {
        let p = ListingParser()
        let parser = XMLParser(data: Data(body))
        parser.delegate = p
        _ = parser.parse()
        return p
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        text = ""
        if name == "CommonPrefixes" { inPrefixes = true }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "Key": key = text
        case "Size": size = UInt64(text) ?? 0
        case "Contents": objects.append((key, size))
        case "Prefix": if inPrefixes { prefixes.append(text) }
        case "CommonPrefixes": inPrefixes = false
        case "IsTruncated": truncated = text == "true"
        case "NextContinuationToken": nextToken = text
        default: break
        }
    }
}

/// Reads the repeated records of an S3 XML response (`<Upload>` of ListMultipartUploads, …):
/// each record's child elements as name → text, and the response's top-level elements
/// outside records (`IsTruncated`, `NextKeyMarker`, …).
final class XMLRecords: NSObject, XMLParserDelegate {
    let element: String
    var records: [[String: String]] = []
    var top: [String: String] = [:]
    private var current: [String: String]? = nil
    private var text = ""
    private var depth = 0

    private init(element: String) { self.element = element }

    static func parse(_ body: [UInt8], element: String) -> XMLRecords {
        let p = XMLRecords(element: element)
        let parser = XMLParser(data: Data(body))
        parser.delegate = p
        _ = parser.parse()
        return p
    }

    func parser(
        _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        depth += 1
        text = ""
        if name == element { current = [:] }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        depth -= 1
        if name == element, let c = current {
            records.append(c)
            current = nil
        } else if current != nil {
            current?[name] = text
        } else if depth == 1 {
            top[name] = text
        }
        text = ""
    }
}
