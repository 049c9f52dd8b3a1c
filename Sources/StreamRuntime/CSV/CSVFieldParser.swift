/// Parses field bytes into typed values. All functions are strict: no surrounding spaces, no
/// exponents, no thousands separators; `nil` means the text is malformed for the type.
enum CSVFieldParser {
    /// A base-10 integer with an optional sign, e.g. `42`, `-7`, `+3`; nil on overflow.
    @inline(__always)
    static func int64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = bytes.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == minus {
            negative = true
            i = 1
        } else if bytes[0] == plus {
            i = 1
        }
        guard i < n else { return nil }
        var magnitude: UInt64 = 0
        if n - i <= 18 {
            // Up to 18 digits cannot overflow: the plain loop.
            while i < n {
                let d = bytes[i] &- zero
                guard d < 10 else { return nil }
                magnitude = magnitude &* 10 &+ UInt64(d)
                i += 1
            }
        } else {
            while i < n {
                let d = bytes[i] &- zero
                guard d < 10 else { return nil }
                let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(d))
                guard !o1 && !o2 else { return nil }
                magnitude = a
                i += 1
            }
        }
        return signed(magnitude, negative)
    }

    /// A decimal number with at most 2 fractional digits, as Int64 hundredths:
    /// `123.45` → 12345, `7` → 700, `-1.5` → -150, `.5` → 50, `3.` → 300. More than 2
    /// fractional digits, or a value outside Int64 hundredths, is nil.
    @inline(__always)
    static func decimal2(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        let n = bytes.count
        guard n > 0 else { return nil }
        var i = 0
        var negative = false
        if bytes[0] == minus {
            negative = true
            i = 1
        } else if bytes[0] == plus {
            i = 1
        }
        var whole: UInt64 = 0
        var wholeDigits = 0
        var overflow = false
        while i < n {
            let d = bytes[i] &- zero
            guard d < 10 else { break }
            if wholeDigits < 18 {
                whole = whole &* 10 &+ UInt64(d)
            } else {
                let (m, o1) = whole.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(d))
                overflow = overflow || o1 || o2
                whole = a
            }
            wholeDigits += 1
            i += 1
        }
        var fraction: UInt64 = 0
        var fractionDigits = 0
        if i < n && bytes[i] == dot {
            i += 1
            while i < n {
                let d = bytes[i] &- zero
                guard d < 10, fractionDigits < 2 else { return nil }
                fraction = fraction * 10 + UInt64(d)
                fractionDigits += 1
                i += 1
            }
        }
        guard i == n, wholeDigits + fractionDigits > 0, !overflow else { return nil }
        if fractionDigits == 1 { fraction *= 10 }
        let (hundreds, o1) = whole.multipliedReportingOverflow(by: 100)
        let (total, o2) = hundreds.addingReportingOverflow(fraction)
        guard !o1 && !o2 else { return nil }
        return signed(total, negative)
    }

    /// The bytes as a String when they are valid UTF-8.
    static func utf8String(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        String(validating: bytes, as: UTF8.self)
    }

    @inline(__always)
    private static func signed(_ magnitude: UInt64, _ negative: Bool) -> Int64? {
        if negative {
            if magnitude <= UInt64(Int64.max) { return -Int64(magnitude) }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }
}

private let zero = UInt8(ascii: "0")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let dot = UInt8(ascii: ".")
