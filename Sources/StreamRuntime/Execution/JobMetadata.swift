import Foundation
import LSMStore

/// A completed checkpoint of the whole job: the source position plus every subtask's store
/// checkpoint. Stored as `CHECKPOINTS/job/chk-N/_metadata`: the line `LSMJOB1`, the JSON
/// document, then a line with the CRC32C of the JSON bytes in hex; written last (temp file,
/// fsync, rename, directory fsync), so a job checkpoint without it is incomplete.
struct JobCheckpointMetadata: Codable, Equatable {
    var id: UInt64
    var parallelism: Int
    var maxParallelism: Int
    var sourcePosition: [UInt8]
    /// Records the source had produced at the barrier (for failure injection bookkeeping).
    var sourceRecords: Int
    /// Storage folder (under CHECKPOINTS/subtasks/) of each subtask, by index.
    var subtaskStorages: [String]
    var createdAtMillis: UInt64

    static let header = "LSMJOB1"

    func encode() throws -> [UInt8] {
        let json = try JSONEncoder().encode(self)
        let bytes = [UInt8](json)
        let crc = String(Checksum.crc32c(bytes), radix: 16)
        return Array("\(JobCheckpointMetadata.header)\n".utf8) + bytes + Array("\n\(crc)\n".utf8)
    }

    static func decode(_ data: [UInt8], name: String) throws -> JobCheckpointMetadata {
        let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count >= 3, String(decoding: lines[0], as: UTF8.self) == header else {
            throw StreamError.checkpoint("\(name): not job checkpoint metadata")
        }
        let json = Array(lines[1])
        guard let crc = UInt32(String(decoding: lines[2], as: UTF8.self), radix: 16), crc == Checksum.crc32c(json)
        else {
            throw StreamError.checkpoint("\(name): checksum mismatch")
        }
        let m: JobCheckpointMetadata
        do {
            m = try JSONDecoder().decode(JobCheckpointMetadata.self, from: Data(json))
        } catch {
            throw StreamError.checkpoint("\(name): \(error)")
        }
        // Checksummed is not the same as sensible: the folders it names are path components
        // under subtasks/, and the counts must agree.
        guard m.parallelism >= 1, m.maxParallelism >= m.parallelism, m.maxParallelism <= 1 << 15,
            m.subtaskStorages.count == m.parallelism, m.sourceRecords >= 0,
            m.subtaskStorages.allSatisfy({
                !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("/") && !$0.contains("\0")
            })
        else {
            throw StreamError.checkpoint("\(name): parallelism, key groups or subtask storage names are not valid")
        }
        return m
    }
}
