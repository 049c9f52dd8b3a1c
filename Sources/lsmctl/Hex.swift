/// Hex encoding and decoding of byte strings, and the display forms `lsmctl` prints.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The token that stands for a zero-length key or value where a hex string is expected
    /// (two double-quote characters), and that is printed for one in hex output.
    static let emptyToken = "\"\""

    /// Lowercase hex of `bytes`; the empty string for no bytes.
    static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex of `bytes`, or `""` for none, so that every printed field is one non-empty token.
    static func token(_ bytes: [UInt8]) -> String {
        bytes.isEmpty ? emptyToken : encode(bytes)
    }

    /// Decodes hex digits (either case). `""` and the empty string decode to no bytes.
    ///
    /// - Throws: `CLIError` naming the bad token for an odd number of digits or a non-hex
    ///   character.
    static func decode(_ text: String) throws -> [UInt8] {
        if text == emptyToken { return [] }
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else {
            throw CLIError("invalid hex \"\(text)\": odd number of digits")
        }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]) else { throw badDigit(text, at: i) }
            guard let lo = nibble(chars[i + 1]) else { throw badDigit(text, at: i + 1) }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func badDigit(_ text: String, at offset: Int) -> CLIError {
        CLIError("invalid hex \"\(text)\": byte \(offset + 1) is not a hex digit")
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// A key or value for people to read: in double quotes when every byte is printable ASCII
    /// other than `"` and `\` (so `""` is the empty string), else `0x` followed by hex.
    static func display(_ bytes: [UInt8]) -> String {
        let printable = bytes.allSatisfy { b in
            b >= 0x20 && b <= 0x7e && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\")
        }
        if printable { return "\"" + String(decoding: bytes, as: UTF8.self) + "\"" }
        return "0x" + encode(bytes)
    }

    /// An internal key (user key followed by the 8-byte little-endian trailer
    /// `sequence << 8 | kind`) shown as `display(userKey) @sequence KIND`.
    static func displayInternalKey(_ ikey: [UInt8]) -> String {
        guard ikey.count >= 8 else { return "0x" + encode(ikey) + " (malformed internal key)" }
        let userKey = Array(ikey[0..<(ikey.count - 8)])
        var trailer: UInt64 = 0
        for i in 0..<8 { trailer |= UInt64(ikey[ikey.count - 8 + i]) << (8 * UInt64(i)) }
        let kind: String
        switch trailer & 0xff {
        case 0: kind = "DEL"
        case 1: kind = "PUT"
        default: kind = "kind \(trailer & 0xff)"
        }
        return "\(display(userKey)) @\(trailer >> 8) \(kind)"
    }
}
