import Foundation
import LSMStore

/// Entry points for fuzzing the runtime's decoders of stored bytes (`lsm-fuzz`): job
/// checkpoint metadata and the CSV source. As in `LSMStore`'s `FuzzEntryPoints`, errors are
/// expected and a trap is a bug. Reachable with `@_spi(Fuzzing) import`.
@_spi(Fuzzing) public enum RuntimeFuzzEntryPoints {
    /// The targets by name.
    public static let targets: [(name: String, run: @Sendable ([UInt8]) -> Void)] = [
        ("job-metadata", jobMetadata), ("csv", csv),
    ]

    /// Job `_metadata` as given, and the input as its JSON line with a valid checksum line.
    public static func jobMetadata(_ data: [UInt8]) {
        _ = try? JobCheckpointMetadata.decode(data, name: "_metadata")
        let json = data.filter { $0 != UInt8(ascii: "\n") }
        let framed =
            Array("\(JobCheckpointMetadata.header)\n".utf8) + json
            + Array("\n\(String(Checksum.crc32c(json), radix: 16))\n".utf8)
        if let m = try? JobCheckpointMetadata.decode(framed, name: "_metadata") {
            _ = try? JSONDecoder().decode(CSVPosition.self, from: Data(m.sourcePosition))
        }
    }

    /// A CSV file read with the standard columns, under each malformed-row policy, from the
    /// top and from a position taken from the input.
    public static func csv(_ data: [UInt8]) {
        let path = NSTemporaryDirectory() + "/lsm-fuzz-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).csv"
        guard FileManager.default.createFile(atPath: path, contents: Data(data)) else { return }
        defer { try? FileManager.default.removeItem(atPath: path) }
        let columns = [
            CSVColumn(name: "transaction_id", type: .int64, required: true),
            CSVColumn(name: "account_id", type: .int64, required: false),
            CSVColumn(name: "amount", type: .decimal2, required: true),
            CSVColumn(name: "note", type: .string, required: false),
        ]
        let offset = data.count >= 2 ? UInt64(data[0]) % UInt64(data.count) : 0
        for policy in [MalformedRowPolicy.fail, .skip] {
            for position in [nil, CSVPosition(byteOffset: offset, lineNumber: 2)] {
                do {
                    let source = try CSVSource(
                        path: path, columns: columns, policy: policy, resumingAt: position, maxRecordLength: 64)
                    var n = 0
                    while let row = try source.next(), n < 100_000 {
                        _ = row.values
                        n += 1
                    }
                } catch {}
            }
        }
    }
}
