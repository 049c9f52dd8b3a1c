import Foundation
import Testing
import LSMStore
import LSMStoreTesting
@testable import StreamRuntime

// MARK: - Helpers

/// Temp files and the standard workload generator for the CSV tests.
enum CSVFixture {
    @discardableResult
    /// Writes `bytes` to a fresh temp file, runs `body` with its path, removes the file.
    static func withFile<R>(_ bytes: [UInt8], _ body: (String) throws -> R) throws -> R {
        let path = NSTemporaryDirectory() + "/csv-test-\(UInt64.random(in: 0...UInt64.max)).csv"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown)
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    /// `withFile` for text.
    @discardableResult
    static func withFile<R>(_ text: String, _ body: (String) throws -> R) throws -> R {
        try withFile(Array(text.utf8), body)
    }

    /// The standard workload's wanted columns: transaction_id and amount required (dropna on
    /// amount), account_id and ts optional (the 2-column original shape has neither).
    static let standardColumns = [
        CSVColumn(name: "transaction_id", type: .int64, required: true),
        CSVColumn(name: "account_id", type: .int64, required: false),
        CSVColumn(name: "amount", type: .decimal2, required: true),
        CSVColumn(name: "ts", type: .int64, required: false),
    ]

    /// One generated row; `cents` nil when its amount is empty.
    struct Row: Equatable {
        let id: Int64
        let account: Int64
        let cents: Int64?
        let ts: Int64
    }

    /// The standard workload of docs/EXPERIMENT.md as CSV text (header
    /// `transaction_id,account_id,amount,ts`), with the rows it holds, from
    /// `StandardWorkload` (the Bench's generator). Also used, at 3,000,000 rows, to measure parse speed.
    static func standardWorkload(rows: Int, accounts: Int, seed: UInt64 = 42) -> (csv: String, rows: [Row]) {
        var workload = StandardWorkload(seed: seed, accounts: accounts)
        var csv = "transaction_id,account_id,amount,ts\n"
        var out: [Row] = []
        out.reserveCapacity(rows)
        for _ in 0..<rows {
            let r = workload.next()
            let amount = r.amountCents.map { c in "\(c / 100).\(c % 100 < 10 ? "0" : "")\(c % 100)" } ?? ""
            csv += "\(r.transactionID),\(r.account),\(amount),\(r.ts)\n"
            out.append(Row(id: Int64(r.transactionID), account: Int64(r.account), cents: r.amountCents, ts: r.ts))
        }
        return (csv, out)
    }

    /// Reads every row of `source`.
    static func drain(_ source: CSVSource) throws -> [CSVRow] {
        var rows: [CSVRow] = []
        while let row = try source.next() { rows.append(row) }
        return rows
    }

    /// All records of `path` via `CSVReader` with the given chunk size: fields, first line,
    /// start offset, next offset.
    static func records(
        _ path: String, chunkSize: Int, startOffset: UInt64 = 0, lineNumber: Int = 1
    )
        throws -> [(fields: [String], line: Int, start: UInt64, next: UInt64, issue: CSVRecordIssue?)]
    {
        let reader = try CSVReader(path: path, startOffset: startOffset, lineNumber: lineNumber, chunkSize: chunkSize)
        var out: [(fields: [String], line: Int, start: UInt64, next: UInt64, issue: CSVRecordIssue?)] = []
        while try reader.nextRecord() {
            out.append(
                (
                    reader.fieldStrings(), reader.recordLineNumber, reader.recordStartOffset,
                    reader.nextOffset, reader.recordIssue
                ))
        }
        return out
    }
}

private func int(_ v: Int64) -> CSVValue { .int(v) }
private func dec(_ v: Int64) -> CSVValue { .decimal(v) }

// MARK: - Tests

@Suite struct CSVTests {
    @Test func normalFile() throws {
        let text = "transaction_id,account_id,amount,ts\n1,7,123.45,1000\n2,8,7,1001\n3,7,-1.5,1002\n"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            #expect(source.schema.header == ["transaction_id", "account_id", "amount", "ts"])
            #expect(source.schema.fieldIndices == [0, 1, 2, 3])
            let rows = try CSVFixture.drain(source)
            #expect(
                rows == [
                    CSVRow(lineNumber: 2, values: [int(1), int(7), dec(12345), int(1000)]),
                    CSVRow(lineNumber: 3, values: [int(2), int(8), dec(700), int(1001)]),
                    CSVRow(lineNumber: 4, values: [int(3), int(7), dec(-150), int(1002)]),
                ])
            #expect(source.rowsRead == 3 && source.rowsDropped == 0 && source.rowsMalformed == 0)
            #expect(source.position.byteOffset == UInt64(text.utf8.count))
            #expect(source.position.lineNumber == 5)
            #expect(try source.next() == nil)  // stays at the end
        }
    }

    @Test func columnsInAnotherOrderAndExtraColumnsIgnored() throws {
        let text = "note,ts,amount,transaction_id,account_id\nhello,1000,123.45,1,7\n\"a,b\",1001,0.01,2,8\n"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            #expect(source.schema.fieldIndices == [3, 4, 2, 1])
            #expect(source.schema.index(of: "amount") == 2)
            let rows = try CSVFixture.drain(source)
            #expect(
                rows.map(\.values) == [
                    [int(1), int(7), dec(12345), int(1000)],
                    [int(2), int(8), dec(1), int(1001)],
                ])
        }
    }

    @Test func originalTwoColumnShape() throws {
        try CSVFixture.withFile("transaction_id,amount\n0,10.50\n1,\n2,3\n") { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            #expect(source.schema.fieldIndices == [0, nil, 1, nil])
            #expect(!source.schema.fileHasColumn("account_id"))
            let rows = try CSVFixture.drain(source)
            #expect(
                rows == [
                    CSVRow(lineNumber: 2, values: [int(0), .missing, dec(1050), .missing]),
                    CSVRow(lineNumber: 4, values: [int(2), .missing, dec(300), .missing]),
                ])
            #expect(source.rowsRead == 3 && source.rowsDropped == 1)
        }
    }

    @Test func emptyAmountIsDroppedAndCounted() throws {
        let text = "transaction_id,account_id,amount,ts\n1,7,,1000\n2,8,\"\",1001\n3,,5.00,\n4,9,1.00,1003\n"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            let rows = try CSVFixture.drain(source)
            // Empty optional columns are .missing; empty required ones drop the row.
            #expect(
                rows == [
                    CSVRow(lineNumber: 4, values: [int(3), .missing, dec(500), .missing]),
                    CSVRow(lineNumber: 5, values: [int(4), int(9), dec(100), int(1003)]),
                ])
            #expect(source.rowsRead == 4)
            #expect(source.rowsDropped == 2)
            #expect(source.rowsMalformed == 0)
            #expect(source.rowsEmitted == 2)
        }
    }

    @Test func missingRequiredColumn() throws {
        try CSVFixture.withFile("transaction_id,account_id,ts\n1,2,3\n") { path in
            let error = #expect(throws: CSVError.self) {
                try CSVSource(path: path, columns: CSVFixture.standardColumns)
            }
            guard case let .missingColumn(_, column, header)? = error else {
                Issue.record("wrong error \(String(describing: error))")
                return
            }
            #expect(column == "amount")
            #expect(header == ["transaction_id", "account_id", "ts"])
            let message = error.map(String.init(describing:)) ?? ""
            #expect(message.contains("\"amount\""))
            #expect(message.contains("\"transaction_id\", \"account_id\", \"ts\""))
        }
    }

    @Test func nonNumericAmountFailsNamingTheLine() throws {
        let text = "transaction_id,account_id,amount,ts\n1,7,1.00,1000\n2,7,abc,1001\n3,7,2.00,1002\n"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns, policy: .fail)
            #expect(try source.next()?.lineNumber == 2)
            let before = source.position
            let error = #expect(throws: CSVError.self) { try source.next() }
            guard case let .malformedRow(_, line, content, reason)? = error else {
                Issue.record("wrong error \(String(describing: error))")
                return
            }
            #expect(line == 3)
            #expect(content == "2,7,abc,1001")
            #expect(reason.contains("amount") && reason.contains("abc"))
            let message = error.map(String.init(describing:)) ?? ""
            #expect(message.contains("line 3") && message.contains("2,7,abc,1001"))
            #expect(error?.lineNumber == 3)
            // The position stays after the last good row, and the source stays failed.
            #expect(source.position == before)
            #expect(throws: CSVError.self) { try source.next() }
        }
    }

    @Test func nonNumericAmountSkippedAndCounted() throws {
        let text =
            "transaction_id,account_id,amount,ts\n1,7,1.00,1000\n2,7,abc,1001\n3,x,2.00,1002\n4,7,1e3,1003\n5,7,2.50,1004\n6,7,2.5\n"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns, policy: .skip)
            let rows = try CSVFixture.drain(source)
            #expect(rows.map(\.lineNumber) == [2, 6])
            #expect(rows.map { $0.values[2] } == [dec(100), dec(250)])
            #expect(source.rowsRead == 6)
            #expect(source.rowsMalformed == 4)  // abc, x (optional but malformed), 1e3, 3 fields
            #expect(source.rowsDropped == 0)
        }
    }

    @Test func longRowContentIsTruncatedInTheError() throws {
        let long = String(repeating: "x", count: 1000)
        try CSVFixture.withFile("transaction_id,amount\n\(long),1.00\n") { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            let error = #expect(throws: CSVError.self) { try source.next() }
            guard case let .malformedRow(_, line, content, _)? = error else {
                Issue.record("wrong error \(String(describing: error))")
                return
            }
            #expect(line == 2)
            #expect(content.count == 201 && content.hasSuffix("…"))
        }
    }

    @Test func wrongFieldCountIsMalformed() throws {
        try CSVFixture.withFile("transaction_id,amount\n1,2.00,extra\n") { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            let error = #expect(throws: CSVError.self) { try source.next() }
            #expect(error.map(String.init(describing:))?.contains("expected 2 fields") == true)
        }
    }

    @Test func emptyFileAndBlankLinesHaveNoHeader() throws {
        for text in ["", "\n", "\n\r\n\n", "\r"] {
            try CSVFixture.withFile(text) { path in
                let error = #expect(throws: CSVError.self) {
                    try CSVSource(path: path, columns: CSVFixture.standardColumns)
                }
                #expect(error == .noHeader(path: path))
                #expect(error.map(String.init(describing:))?.contains("has no header row") == true)
            }
        }
    }

    @Test func headerOnlyGivesZeroRows() throws {
        for text in ["transaction_id,amount", "transaction_id,amount\n", "transaction_id,amount\r\n\n\n"] {
            try CSVFixture.withFile(text) { path in
                let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
                #expect(try source.next() == nil)
                #expect(source.rowsRead == 0)
            }
        }
    }

    @Test func firstLineIsAlwaysTheHeader() throws {
        // A data line first is still a header syntactically: its "names" don't match.
        try CSVFixture.withFile("1,7,1.00,1000\n2,7,2.00,1001\n") { path in
            #expect(throws: CSVError.self) { try CSVSource(path: path, columns: CSVFixture.standardColumns) }
        }
    }

    @Test func missingFile() throws {
        let path = NSTemporaryDirectory() + "/csv-test-does-not-exist-\(UInt64.random(in: 0...UInt64.max)).csv"
        #expect(throws: CSVError.fileNotFound(path: path)) {
            try CSVSource(path: path, columns: CSVFixture.standardColumns)
        }
    }

    @Test func tenMegabyteLine() throws {
        let big = String(repeating: "y", count: 10 * 1024 * 1024)
        let text = "transaction_id,note,amount\n1,short,1.00\n2,\(big),2.00\n3,after,3.00\n"
        let columns = [
            CSVColumn(name: "transaction_id", type: .int64, required: true),
            CSVColumn(name: "note", type: .string, required: true),
            CSVColumn(name: "amount", type: .decimal2, required: true),
        ]
        try CSVFixture.withFile(text) { path in
            // The default 16 MiB limit: parses.
            let source = try CSVSource(path: path, columns: columns)
            let rows = try CSVFixture.drain(source)
            #expect(rows.count == 3)
            #expect(rows[1].values[1].string?.utf8.count == big.utf8.count)
            #expect(rows.map(\.lineNumber) == [2, 3, 4])

            // A 1 MiB limit: a clear error naming line 3, after the good row.
            let limited = try CSVSource(path: path, columns: columns, maxRecordLength: 1 << 20)
            #expect(try limited.next()?.lineNumber == 2)
            let error = #expect(throws: CSVError.self) { try limited.next() }
            #expect(error == .recordTooLong(path: path, line: 3, limit: 1 << 20))
            #expect(error.map(String.init(describing:))?.contains("line 3") == true)
        }
    }

    @Test func recordLimitIsExact() throws {
        try CSVFixture.withFile("a\n12345\n123456\n") { path in
            let reader = try CSVReader(path: path, maxRecordLength: 5, chunkSize: 2)
            #expect(try reader.nextRecord())
            #expect(try reader.nextRecord())
            #expect(reader.fieldString(0) == "12345")
            #expect(throws: CSVError.recordTooLong(path: path, line: 3, limit: 5)) { try reader.nextRecord() }
        }
    }

    @Test func unclosedQuoteRunsIntoTheLimit() throws {
        var text = "transaction_id,amount\n\"1,2.00\n"
        for i in 0..<2000 { text += "\(i),1.00\n" }
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns, maxRecordLength: 1000)
            #expect(throws: CSVError.recordTooLong(path: path, line: 2, limit: 1000)) { try source.next() }
        }
        // Within the limit, a quote left open at the end of the file is a malformed row.
        try CSVFixture.withFile("transaction_id,amount\n1,1.00\n\"2,2.00\n") { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns, policy: .skip)
            #expect(try CSVFixture.drain(source).count == 1)
            #expect(source.rowsMalformed == 1)
        }
    }

    @Test func invalidUTF8InStringColumnIsMalformed() throws {
        var bytes = Array("id,name\n1,ok\n2,".utf8)
        bytes += [0x66, 0xC3, 0x28, 0x6F]  // a broken 2-byte sequence
        bytes += Array("\n3,caf\u{E9}\n".utf8)
        let columns = [
            CSVColumn(name: "id", type: .int64, required: true),
            CSVColumn(name: "name", type: .string, required: false),
        ]
        try CSVFixture.withFile(bytes) { path in
            let failing = try CSVSource(path: path, columns: columns)
            #expect(try failing.next()?.values == [int(1), .string("ok")])
            let error = #expect(throws: CSVError.self) { try failing.next() }
            #expect(error?.lineNumber == 3)
            #expect(error.map(String.init(describing:))?.contains("UTF-8") == true)

            let skipping = try CSVSource(path: path, columns: columns, policy: .skip)
            let rows = try CSVFixture.drain(skipping)
            #expect(rows.map(\.values) == [[int(1), .string("ok")], [int(3), .string("café")]])
            #expect(skipping.rowsMalformed == 1)
        }
    }

    @Test func crlfLineEnds() throws {
        let text = "transaction_id,account_id,amount,ts\r\n1,7,1.25,1000\r\n\r\n2,8,,1001\r\n3,9,2.00,1002"
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            #expect(source.schema.header.last == "ts")
            let rows = try CSVFixture.drain(source)
            #expect(
                rows == [
                    CSVRow(lineNumber: 2, values: [int(1), int(7), dec(125), int(1000)]),
                    CSVRow(lineNumber: 5, values: [int(3), int(9), dec(200), int(1002)]),
                ])
            #expect(source.rowsDropped == 1)
            #expect(source.position.byteOffset == UInt64(text.utf8.count))
        }
    }

    @Test func quotedFields() throws {
        let text = [
            "id,text,amount\r\n",
            "1,\"a, b\",1.00\n",
            "2,\"say \"\"hi\"\"\",2.00\n",
            "3,\"two\nlines\",3.00\r\n",
            "4,\"\",4.00\n",
            "5,\"x\"\r\n",
            "6,plain \"inner\" quote,6.00\n",
            "7,\"three\r\nline\ns\",7.00\n",
            "8,\"\"\"\",8.00",
        ].joined()
        let columns = [
            CSVColumn(name: "id", type: .int64, required: true),
            CSVColumn(name: "text", type: .string, required: false),
            CSVColumn(name: "amount", type: .decimal2, required: true),
        ]
        try CSVFixture.withFile(text) { path in
            let source = try CSVSource(path: path, columns: columns, policy: .skip)
            let rows = try CSVFixture.drain(source)
            #expect(
                rows == [
                    CSVRow(lineNumber: 2, values: [int(1), .string("a, b"), dec(100)]),
                    CSVRow(lineNumber: 3, values: [int(2), .string("say \"hi\""), dec(200)]),
                    CSVRow(lineNumber: 4, values: [int(3), .string("two\nlines"), dec(300)]),
                    CSVRow(lineNumber: 6, values: [int(4), .missing, dec(400)]),
                    CSVRow(lineNumber: 8, values: [int(6), .string("plain \"inner\" quote"), dec(600)]),
                    CSVRow(lineNumber: 9, values: [int(7), .string("three\r\nline\ns"), dec(700)]),
                    CSVRow(lineNumber: 12, values: [int(8), .string("\""), dec(800)]),
                ])
            #expect(source.rowsMalformed == 1)  // line 7 has 2 fields
        }
    }

    @Test func textAfterClosingQuoteIsMalformed() throws {
        try CSVFixture.withFile("id,text\n1,\"ab\"cd\n2,\"ok\"\n") { path in
            let columns = [
                CSVColumn(name: "id", type: .int64, required: true),
                CSVColumn(name: "text", type: .string, required: true),
            ]
            let failing = try CSVSource(path: path, columns: columns)
            let error = #expect(throws: CSVError.self) { try failing.next() }
            #expect(error?.lineNumber == 2)
            #expect(error.map(String.init(describing:))?.contains("closing quote") == true)
            let skipping = try CSVSource(path: path, columns: columns, policy: .skip)
            #expect(try CSVFixture.drain(skipping).map(\.values) == [[int(2), .string("ok")]])
        }
    }

    @Test func byteOrderMarkIsSkipped() throws {
        try CSVFixture.withFile([0xEF, 0xBB, 0xBF] + Array("transaction_id,amount\n1,2.00\n".utf8)) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            #expect(source.schema.header == ["transaction_id", "amount"])
            #expect(try CSVFixture.drain(source).count == 1)
        }
    }

    @Test(
        arguments: [
            ("0", 0), ("7", 700), ("123.45", 12345), ("-1.5", -150), ("+2.05", 205), ("0.01", 1),
            ("-0.00", 0), (".5", 50), ("3.", 300), ("007.10", 710), ("999999.99", 99_999_999),
            ("92233720368547758.07", Int64.max), ("-92233720368547758.08", Int64.min),
        ] as [(String, Int64)])
    func decimalParses(text: String, hundredths: Int64) {
        let parsed = Array(text.utf8).withUnsafeBufferPointer { CSVFieldParser.decimal2($0) }
        #expect(parsed == hundredths, "\(text)")
    }

    @Test(arguments: [
        "", "-", "+", ".", "-.", "1.234", "1.000", "1,5", " 1.5", "1.5 ", "1e3", "0x10", "1.2.3",
        "--1", "abc", "92233720368547758.08", "-92233720368547758.09", "99999999999999999999",
        "1 000", "١", "NaN", "inf",
    ])
    func decimalRejects(text: String) {
        let parsed = Array(text.utf8).withUnsafeBufferPointer { CSVFieldParser.decimal2($0) }
        #expect(parsed == nil, "\(text)")
    }

    @Test func integerEdgeCases() {
        func parse(_ s: String) -> Int64? { Array(s.utf8).withUnsafeBufferPointer { CSVFieldParser.int64($0) } }
        #expect(parse("0") == 0)
        #expect(parse("-42") == -42)
        #expect(parse("+42") == 42)
        #expect(parse("9223372036854775807") == Int64.max)
        #expect(parse("-9223372036854775808") == Int64.min)
        #expect(parse("000000000000000000000000001") == 1)
        for bad in ["", "-", "9223372036854775808", "-9223372036854775809", "1.0", "1 ", "x1", "18446744073709551616"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }

    @Test func decimalColumnInAFile() throws {
        try CSVFixture.withFile("transaction_id,amount\n1,1.234\n2,99999999999999999999\n3,\"4.5\"\n") { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns, policy: .skip)
            let rows = try CSVFixture.drain(source)
            #expect(rows.map(\.values) == [[int(3), .missing, dec(450), .missing]])
            #expect(source.rowsMalformed == 2)
        }
    }

    @Test func resumeAtEverySavedPosition() throws {
        let text =
            "transaction_id,account_id,amount,ts\n1,7,1.00,10\n\n2,7,,11\n3,7,bad,12\n4,\"a\nb\",x,13\n5,7,5.55,14\r\n6,8,6.00,15\n"
        try CSVFixture.withFile(text) { path in
            let all = try CSVSource(path: path, columns: CSVFixture.standardColumns, policy: .skip)
            var positions = [all.position]
            var rows: [CSVRow] = []
            while let row = try all.next() {
                rows.append(row)
                positions.append(all.position)
            }
            #expect(rows.map(\.lineNumber) == [2, 8, 9])
            #expect(
                all.position
                    == CSVPosition(
                        byteOffset: UInt64(text.utf8.count), lineNumber: 10,
                        rowsRead: 6, rowsDropped: 1, rowsMalformed: 2))
            for (k, saved) in positions.enumerated() {
                // Through a checkpoint's encoding.
                let data = try JSONEncoder().encode(saved)
                let position = try JSONDecoder().decode(CSVPosition.self, from: data)
                #expect(position == saved)
                let resumed = try CSVSource(
                    path: path, columns: CSVFixture.standardColumns, policy: .skip,
                    resumingAt: position)
                #expect(resumed.position == saved)
                #expect(try CSVFixture.drain(resumed) == Array(rows[k...]))
                #expect(resumed.position == all.position)
            }
        }
    }

    @Test func resumeRejectsPositionsThatDoNotFit() throws {
        let text = "transaction_id,amount\n1,1.00\n2,2.00\n"
        try CSVFixture.withFile(text) { path in
            for offset: UInt64 in [0, 5, 24, 1000] {
                let position = CSVPosition(byteOffset: offset, lineNumber: 2)
                let error = #expect(throws: CSVError.self) {
                    try CSVSource(path: path, columns: CSVFixture.standardColumns, resumingAt: position)
                }
                guard case .invalidPosition? = error else {
                    Issue.record("offset \(offset): \(String(describing: error))")
                    continue
                }
            }
        }
    }

    @Test func resumeMidFileOnTheStandardWorkload() throws {
        let (csv, expected) = CSVFixture.standardWorkload(rows: 5_000, accounts: 1_000, seed: 7)
        try CSVFixture.withFile(csv) { path in
            let first = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            var rows: [CSVRow] = []
            while rows.count < 2_000, let row = try first.next() { rows.append(row) }
            let saved = first.position
            let resumed = try CSVSource(path: path, columns: CSVFixture.standardColumns, resumingAt: saved)
            rows += try CSVFixture.drain(resumed)
            let kept = expected.filter { $0.cents != nil }
            #expect(rows.count == kept.count)
            #expect(rows.map { $0.values[0].int64 } == kept.map(\.id))
            #expect(resumed.rowsRead == 5_000)
            #expect(resumed.rowsDropped == expected.count - kept.count)
        }
    }

    @Test func standardWorkloadRoundTrips() throws {
        let (csv, expected) = CSVFixture.standardWorkload(rows: 20_000, accounts: 5_000)
        try CSVFixture.withFile(csv) { path in
            let source = try CSVSource(path: path, columns: CSVFixture.standardColumns)
            let rows = try CSVFixture.drain(source)
            let kept = expected.filter { $0.cents != nil }
            #expect(rows.count == kept.count)
            #expect(source.rowsDropped == expected.count - kept.count)
            #expect(source.rowsDropped > 100 && source.rowsDropped < 300)  // about 1%
            let decoded = rows.map { row in
                CSVFixture.Row(
                    id: row.values[0].int64 ?? -1, account: row.values[1].int64 ?? -1,
                    cents: row.values[2].int64, ts: row.values[3].int64 ?? -1)
            }
            #expect(decoded == kept)
            #expect(rows.last?.lineNumber == kept.last.map { Int($0.id) + 2 })
        }
    }

    /// Random CSV text (quotes, doubled quotes, embedded line ends, CRLF, blank lines) split the
    /// same at every chunk size, and every record's offsets let a reader start right there.
    @Test func chunkBoundariesDoNotChangeRecords() throws {
        var rng = SystemRandomNumberGenerator()
        let pieces = ["a", "bc", "12.5", "", "\"q,1\"", "\"d\"\"q\"", "\"n\nl\"", "\"c\r\nl\"", "\"\"", "x\"y"]
        for _ in 0..<20 {
            var text = ""
            for _ in 0..<Int.random(in: 1...30, using: &rng) {
                if Int.random(in: 0..<8, using: &rng) == 0 { text += "\n" }
                let fields = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                    pieces.randomElement(using: &rng) ?? ""
                }
                text += fields.joined(separator: ",") + (Bool.random(using: &rng) ? "\n" : "\r\n")
            }
            if Bool.random(using: &rng) { text.removeLast() }
            try CSVFixture.withFile(text) { path in
                let reference = try CSVFixture.records(path, chunkSize: 1 << 20)
                for chunk in [1, 2, 3, 5, 8, 13] {
                    let got = try CSVFixture.records(path, chunkSize: chunk)
                    #expect(got.map(\.fields) == reference.map(\.fields), "chunk \(chunk): \(text.debugDescription)")
                    #expect(got.map(\.line) == reference.map(\.line))
                    #expect(got.map(\.start) == reference.map(\.start))
                    #expect(got.map(\.next) == reference.map(\.next))
                }
                // Lines: each record's first line is 1 + the line feeds before it.
                let bytes = Array(text.utf8)
                for r in reference {
                    #expect(r.line == 1 + bytes[..<Int(r.start)].filter { $0 == 10 }.count)
                }
                // Restarting at any record boundary yields the same remaining records.
                for (i, r) in reference.enumerated() {
                    let rest = try CSVFixture.records(path, chunkSize: 4, startOffset: r.start, lineNumber: r.line)
                    #expect(rest.map(\.fields) == reference[i...].map(\.fields))
                    #expect(rest.map(\.line) == reference[i...].map(\.line))
                }
            }
        }
    }

    @Test func readerReportsOffsetsAndLines() throws {
        let text = "h1,h2\n\n\"a\nb\",c\r\nd,e"
        try CSVFixture.withFile(text) { path in
            let records = try CSVFixture.records(path, chunkSize: 1 << 20)
            #expect(records.map(\.fields) == [["h1", "h2"], ["a\nb", "c"], ["d", "e"]])
            #expect(records.map(\.line) == [1, 3, 5])
            #expect(records.map(\.start) == [0, 7, 16])
            #expect(records.map(\.next) == [6, 16, 19])
        }
    }
}
