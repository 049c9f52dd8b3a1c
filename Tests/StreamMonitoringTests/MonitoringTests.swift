import Foundation
import LSMStore
import LSMStoreTesting
import StreamMonitoring
import StreamRuntime
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The monitoring endpoint during a real job: `/metrics` scraped and parsed while it runs,
/// Flink-shaped JSON, the live page, and errors.
@Suite struct MonitoringTests {
    /// GET `path` from the server: status and body.
    static func get(_ port: Int, _ path: String) throws -> (status: Int, body: String, type: String) {
        let url = try #require(URL(string: "http://127.0.0.1:\(port)\(path)"))
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, String, String)? = nil
        nonisolated(unsafe) var failure: Error? = nil
        let task = URLSession.shared.dataTask(with: url) { data, response, error in
            if let error {
                failure = error
            } else if let http = response as? HTTPURLResponse {
                result = (
                    http.statusCode, String(decoding: data ?? Data(), as: UTF8.self),
                    http.value(forHTTPHeaderField: "Content-Type") ?? ""
                )
            }
            done.signal()
        }
        task.resume()
        done.wait()
        if let failure { throw failure }
        let r = try #require(result)
        return (r.0, r.1, r.2)
    }

    /// Prometheus text: every sample line as (name, labels, value); HELP and TYPE lines are
    /// skipped, anything else fails.
    static func parse(_ text: String) throws -> [(name: String, labels: [String: String], value: Double)] {
        var out: [(String, [String: String], Double)] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else {
                throw StreamError.invalidJob("not a sample line: \(line)")
            }
            var name = String(parts[0])
            var labels: [String: String] = [:]
            if let open = name.firstIndex(of: "{"), name.hasSuffix("}") {
                let body = name[name.index(after: open)..<name.index(before: name.endIndex)]
                for pair in body.split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { throw StreamError.invalidJob("bad label in \(line)") }
                    labels[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                }
                name = String(name[..<open])
            }
            out.append((name, labels, value))
        }
        return out
    }

    @Test func metricsRestAndPageDuringARealJob() throws {
        let (s, c) = (TemporaryDirectory("mon-state"), TemporaryDirectory("mon-chk"))
        defer {
            s.cleanup()
            c.cleanup()
        }
        let env = StreamExecutionEnvironment(stateDirectory: s.path, checkpointDirectory: c.path)
        env.parallelism = 2
        env.checkpointing.trigger = .everyRecords(2000)
        env.logger.logLevel = .critical
        let monitor = JobMonitor()
        env.monitor = monitor
        let server = try MonitoringServer.start(host: "127.0.0.1", port: 0, monitor: monitor)
        defer { server.stop() }
        // The source holds at record 30,000 until the test has scraped the running job (at most
        // 120 s), so the scrape sees it running however loaded the machine is.
        let scraped = DispatchSemaphore(value: 0)
        let job = env.fromSource {
            GeneratorSource(count: 40_000) { i -> Int64? in
                if i == 30_000 { _ = scraped.wait(timeout: .now() + 120) }
                if i % 100 == 0 { usleep(1000) }
                return Int64(i % 500)
            }
        }
        .keyBy(codec: Int64Codec()) { $0 }
        .process(uid: "counter") { Counter() }
        .sink { _ in CountingSink(counter: CountingSink<Int64>.Counter()) }
        let client = env.executeAsync(job, name: "monitored")

        // While it runs: scrape until a checkpoint has completed and records are counted.
        var samples: [(name: String, labels: [String: String], value: Double)] = []
        var running = false
        for _ in 0..<2000 {
            let m = try Self.get(server.port, "/metrics")
            #expect(m.status == 200 && m.type.hasPrefix("text/plain"))
            samples = try Self.parse(m.body)
            let completed = samples.first { $0.name == "stream_job_completed_checkpoints_total" }?.value ?? 0
            let records = samples.filter { $0.name == "stream_task_records_in_total" }.reduce(0) { $0 + $1.value }
            running = samples.first { $0.name == "stream_job_running" }?.value == 1
            if completed >= 1 && records > 0 && running { break }
            usleep(50_000)
        }
        scraped.signal()
        #expect(running, "the job was scraped while it ran")
        let names = Set(samples.map(\.name))
        for name in [
            "stream_job_completed_checkpoints_total", "stream_job_failed_checkpoints_total",
            "stream_job_in_progress_checkpoints", "stream_job_last_checkpoint_duration_milliseconds",
            "stream_job_last_checkpoint_size_bytes", "stream_job_last_checkpoint_full_size_bytes",
            "stream_job_last_checkpoint_phase_milliseconds", "stream_job_checkpoint_duration_milliseconds",
            "stream_job_restarts_total", "stream_job_records_in_total", "stream_job_records_in_per_second",
            "stream_task_records_in_total", "stream_task_records_out_total", "stream_task_state_size_bytes",
            "stream_task_last_checkpoint_async_milliseconds", "stream_task_last_checkpoint_size_bytes",
            "lsm_store_flushes_total", "lsm_store_block_cache_hits_total", "lsm_store_write_stalls_total",
        ] {
            #expect(names.contains(name), "missing \(name)")
        }
        #expect(
            samples.filter { $0.name == "stream_task_records_in_total" }.map { $0.labels["subtask"] ?? "" }.sorted()
                == ["0", "1"])
        #expect(samples.first { $0.name == "stream_job_completed_checkpoints_total" }?.labels["job"] == "monitored")

        // The Flink-shaped overview and checkpoints, while running.
        let overview = try Self.get(server.port, "/jobs/overview")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(overview.body.utf8)) as? [String: Any])
        let jobs = try #require(o["jobs"] as? [[String: Any]])
        let jid = try #require(jobs.first?["jid"] as? String)
        #expect(jid.count == 32 && jobs.first?["name"] as? String == "monitored")
        let page = try Self.get(server.port, "/")
        #expect(page.status == 200 && page.body.contains("<canvas id=\"duration\"") && !page.body.contains("http"))

        let result = try client.result()
        let after = try Self.get(server.port, "/jobs/\(jid)/checkpoints")
        #expect(after.status == 200 && after.type == "application/json")
        let cp = try #require(try JSONSerialization.jsonObject(with: Data(after.body.utf8)) as? [String: Any])
        let counts = try #require(cp["counts"] as? [String: Any])
        #expect(counts["completed"] as? Int == result.checkpoints.count)
        #expect(counts["failed"] as? Int == 0)
        let history = try #require(cp["history"] as? [[String: Any]])
        #expect(history.count == result.checkpoints.count)
        #expect(history.allSatisfy { ($0["subtasks"] as? [[String: Any]])?.count == 2 })
        #expect((history.first?["id"] as? Int) == Int(result.checkpoints.last?.id ?? 0), "newest first")
        let summary = try #require(cp["summary"] as? [String: Any])
        let e2e = try #require(summary["end_to_end_duration"] as? [String: Any])
        #expect((e2e["max"] as? Int ?? -1) >= (e2e["min"] as? Int ?? 0))
        let finished = try #require(
            (try JSONSerialization.jsonObject(with: Data(try Self.get(server.port, "/jobs/overview").body.utf8))
                as? [String: Any])?["jobs"] as? [[String: Any]])
        #expect(finished.first?["state"] as? String == "FINISHED")
        let final = try Self.parse(try Self.get(server.port, "/metrics").body)
        #expect(
            final.first { $0.name == "stream_job_completed_checkpoints_total" }?.value
                == Double(result.checkpoints.count))
        #expect(final.first { $0.name == "stream_job_records_in_total" }?.value == Double(result.recordsIn))

        // Errors: an unknown job, an unknown path, a POST.
        #expect(try Self.get(server.port, "/jobs/0123/checkpoints").status == 404)
        #expect(try Self.get(server.port, "/nothing").status == 404)
    }
}

/// Counts records per key.
struct Counter: KeyedProcessFunction {
    static let descriptor = ValueStateDescriptor(name: "count", codec: Int64Codec())
    private var state: ValueState<Int64>?
    mutating func open(context: KeyedContext<Int64>) throws { state = try context.state(Self.descriptor) }
    mutating func processElement(_ value: Int64, context: KeyedContext<Int64>, collect: (Int64) throws -> Void) throws {
        guard let state else { return }
        let n = (try state.value() ?? 0) + 1
        try state.update(n)
        try collect(n)
    }
}
