import Foundation

/// Writes the standard workload (docs/EXPERIMENT.md) as a CSV file: header
/// `transaction_id,account_id,amount,ts`, amounts with 2 decimals, about 1% empty.
/// Deterministic: the same seed, rows and accounts give the same bytes.
enum WorkloadCSV {
    /// The file name for a workload, so different settings never share a file.
    static func fileName(rows: Int, accounts: Int, seed: UInt64) -> String {
        "transactions-rows\(rows)-accounts\(accounts)-seed\(seed).csv"
    }

    /// Writes the file unless it is already there (written completely: files are written
    /// under a temporary name and renamed at the end). Returns true if it was written now.
    @discardableResult
    static func ensure(path: String, rows: Int, accounts: Int, seed: UInt64) throws -> Bool {
        if FileManager.default.fileExists(atPath: path) { return false }
        let dir = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir.isEmpty ? "." : dir, withIntermediateDirectories: true)
        let temp = path + ".tmp-\(getpid())"
        guard let file = fopen(temp, "w") else {
            throw BenchError("cannot create \(temp): \(String(cString: strerror(errno)))")
        }
        var w = Workload(seed: seed, accounts: accounts)
        var line = [UInt8]()
        line.reserveCapacity(1 << 16)
        func flush() throws {
            if !line.isEmpty, fwrite(line, 1, line.count, file) != line.count {
                throw BenchError("cannot write \(temp): \(String(cString: strerror(errno)))")
            }
            line.removeAll(keepingCapacity: true)
        }
        func appendInt(_ v: Int64) {
            if v < 0 { line.append(UInt8(ascii: "-")) }
            var m = v.magnitude
            var digits: [UInt8] = []
            repeat {
                digits.append(UInt8(ascii: "0") + UInt8(m % 10))
                m /= 10
            } while m > 0
            line.append(contentsOf: digits.reversed())
        }
        do {
            line.append(contentsOf: Array("transaction_id,account_id,amount,ts\n".utf8))
            for _ in 0..<rows {
                let r = w.next()
                appendInt(Int64(r.transactionID))
                line.append(UInt8(ascii: ","))
                appendInt(Int64(r.account))
                line.append(UInt8(ascii: ","))
                if let c = r.amountCents {
                    appendInt(c / 100)
                    line.append(UInt8(ascii: "."))
                    line.append(UInt8(ascii: "0") + UInt8(c % 100 / 10))
                    line.append(UInt8(ascii: "0") + UInt8(c % 10))
                }
                line.append(UInt8(ascii: ","))
                appendInt(r.ts)
                line.append(UInt8(ascii: "\n"))
                if line.count > (1 << 16) - 64 { try flush() }
            }
            try flush()
            guard fflush(file) == 0, fsync(fileno(file)) == 0 else {
                throw BenchError("cannot write \(temp): \(String(cString: strerror(errno)))")
            }
            fclose(file)
            guard rename(temp, path) == 0 else {
                throw BenchError("cannot rename \(temp): \(String(cString: strerror(errno)))")
            }
        } catch {
            fclose(file)
            unlink(temp)
            throw error
        }
        return true
    }

    /// The header's column names (the first line, unquoted), or an error naming the file.
    static func header(of path: String) throws -> [String] {
        guard let f = fopen(path, "r") else {
            throw BenchError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var buf = [UInt8](repeating: 0, count: 65_536)
        let n = fread(&buf, 1, buf.count, f)
        guard n > 0 else { throw BenchError("\(path) is empty: it needs a header row") }
        let first =
            buf[0..<n].split(separator: UInt8(ascii: "\n"), maxSplits: 1, omittingEmptySubsequences: false).first ?? []
        guard let text = String(validating: first, as: UTF8.self) else {
            throw BenchError("\(path): the header is not valid UTF-8")
        }
        return text.trimmingCharacters(in: .init(charactersIn: "\r")).split(
            separator: ",", omittingEmptySubsequences: false
        ).map {
            $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: .init(charactersIn: "\""))
        }
    }
}

/// A user-facing error: printed as its message, with a non-zero exit.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
