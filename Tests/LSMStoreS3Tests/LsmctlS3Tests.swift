import Foundation
import LSMStore
import LSMStoreTesting
import S3TestSupport
import Testing

@testable import LSMStoreS3

/// `lsmctl`'s checkpoint commands on `s3://BUCKET/PREFIX`, run as a child process against
/// moto (signatures checked). The binary must be built first (`swift build`).
@Suite(.serialized) struct LsmctlS3Tests {
    static let buildDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug")
    static let binary = buildDirectory.appendingPathComponent("lsmctl").path

    struct Run {
        var status: Int32
        var out: String
        var err: String
    }

    static func lsmctl(_ args: [String], env extra: [String: String], executable: String = binary) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for k in env.keys where k.hasPrefix("AWS_") { env[k] = nil }
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(
            status: p.terminationStatus, out: String(decoding: o, as: UTF8.self),
            err: String(decoding: e, as: UTF8.self))
    }

    @Test func checkpointListVerifyRestoreAndCleanupOnS3() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        _ = try S3ClientTests.client(moto, bucket: "lsm-tools")
        let env = [
            "AWS_ACCESS_KEY_ID": moto.credentials.accessKeyID,
            "AWS_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey,
            "AWS_ENDPOINT_URL": moto.endpoint.absoluteString,
        ]
        let dir = TemporaryDirectory("lsmctl-s3")
        defer { dir.cleanup() }
        let db = dir.sub("db")
        for i in 0..<20 { #expect(try Self.lsmctl(["put", db, "k\(i)", "v\(i)"], env: env).status == 0) }
        let location = "s3://lsm-tools/jobs/a"
        let taken = try Self.lsmctl(["checkpoint", db, location, "--mode", "incremental"], env: env)
        #expect(taken.status == 0, "\(taken.err)")
        #expect(taken.out.contains("requests:"), "\(taken.out)")
        let list = try Self.lsmctl(["checkpoints", location], env: env)
        #expect(list.status == 0 && list.out.contains("1"), "\(list.out) \(list.err)")
        #expect(try Self.lsmctl(["verify-checkpoint", location], env: env).status == 0)
        let restored = dir.sub("restored")
        let r = try Self.lsmctl(["restore", location, restored], env: env)
        #expect(r.status == 0, "\(r.err)")
        #expect(try Self.lsmctl(["get", restored, "k7"], env: env).out.contains("v7"))
        let clean = try Self.lsmctl(["cleanup", location, "--dry-run"], env: env)
        #expect(clean.status == 0 && clean.out.contains("orphans: 0"), "\(clean.out) \(clean.err)")

        // Mistakes end in one line and a non-zero status.
        var wrongKey = env
        wrongKey["AWS_SECRET_ACCESS_KEY"] = "wrong"
        let denied = try Self.lsmctl(["checkpoints", location], env: wrongKey)
        #expect(denied.status == 2 && denied.err.contains("SignatureDoesNotMatch"), "\(denied.err)")
        let missing = try Self.lsmctl(["checkpoints", "s3://no-such-bucket/x"], env: env)
        #expect(missing.status == 2 && missing.err.contains("does not exist"), "\(missing.err)")
        let unreachable = try Self.lsmctl(
            ["checkpoints", location, "--s3-endpoint", "http://127.0.0.1:9"], env: env)
        #expect(unreachable.status == 2 && unreachable.err.contains("127.0.0.1:9"), "\(unreachable.err)")
        let noCredentials = try Self.lsmctl(
            ["checkpoints", location], env: ["AWS_ENDPOINT_URL": moto.endpoint.absoluteString])
        #expect(noCredentials.status == 2 && noCredentials.err.contains("AWS_ACCESS_KEY_ID"), "\(noCredentials.err)")
        let badURL = try Self.lsmctl(["checkpoints", "s3://UPPER/x"], env: env)
        #expect(badURL.status == 2 && badURL.err.contains("bucket name"), "\(badURL.err)")
        for run in [denied, missing, unreachable, noCredentials, badURL] {
            #expect(run.err.split(separator: "\n").count == 1, "\(run.err)")
        }
    }

    @Test func theBenchRunsEachModeIntoAFolderAndIntoS3SideBySide() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let client = try S3ClientTests.client(moto, bucket: "lsm-bench")
        let env = [
            "AWS_ACCESS_KEY_ID": moto.credentials.accessKeyID,
            "AWS_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey,
        ]
        let dir = TemporaryDirectory("bench-s3")
        defer { dir.cleanup() }
        let bench = Self.buildDirectory.appendingPathComponent("Bench").path
        let args = [
            "--rows", "30000", "--accounts", "2000", "--every-records", "5000", "--data-dir", dir.sub("data"),
            "--output", dir.sub("out"), "--checkpoint-storage", "s3://lsm-bench/experiment",
            "--s3-endpoint", moto.endpoint.absoluteString, "--json",
        ]
        let run = try Self.lsmctl(args, env: env, executable: bench)
        #expect(run.status == 0, "\(run.err)")
        let summary = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
        let modes = (summary?["modes"] as? [[String: Any]]) ?? []
        #expect(
            modes.compactMap { $0["mode"] as? String } == ["full", "full on S3", "incremental", "incremental on S3"])
        for m in modes {
            #expect(m["stateVerified"] as? Bool == true, "\(m)")
            let onS3 = (m["mode"] as? String ?? "").hasSuffix("on S3")
            #expect((m["requestsPerCheckpointMedian"] as? Double).map { $0 > 0 } ?? !onS3, "\(m)")
        }
        let csv = try String(contentsOfFile: dir.sub("out") + "/checkpoints.csv", encoding: .utf8)
        #expect(csv.contains(",s3,") && csv.contains(",folder,"))
        // Without --keep-checkpoints the bucket is left empty.
        #expect(try client.list(prefix: "experiment/").objects.isEmpty)
        // A missing bucket stops the Bench before any run, in one line.
        var bad = args
        bad[bad.firstIndex(of: "s3://lsm-bench/experiment")!] = "s3://no-such-bucket/x"
        let missing = try Self.lsmctl(bad, env: env, executable: bench)
        #expect(missing.status != 0 && missing.err.contains("does not exist"), "\(missing.err)")
        #expect(missing.err.split(separator: "\n").count == 1, "\(missing.err)")
    }
}
