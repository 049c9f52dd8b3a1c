import Foundation

/// The experiment's text outputs: the original's lines, per-checkpoint tables, the
/// side-by-side summary with its verdict, checkpoints.csv, and the summary as JSON.
enum ExperimentText {
    static func mb(_ b: UInt64) -> String { String(format: "%.1f MB", Double(b) / 1e6) }
    static func mb(_ b: Double) -> String { String(format: "%.1f MB", b / 1e6) }

    static func stamp(_ d: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "yyyy-MM-dd'T'HH-mm-ss"
        return f.string(from: d)
    }

    static func machine(started: Date) -> ExperimentResults.Machine {
        let info = ProcessInfo.processInfo
        let iso = ISO8601DateFormatter()
        var commit: String? = nil
        if let head = try? String(contentsOfFile: ".git/HEAD", encoding: .utf8) {
            let h = head.trimmingCharacters(in: .whitespacesAndNewlines)
            if h.hasPrefix("ref: ") {
                commit = (try? String(contentsOfFile: ".git/" + h.dropFirst(5), encoding: .utf8))?.trimmingCharacters(
                    in: .whitespacesAndNewlines)
            } else {
                commit = h
            }
        }
        return ExperimentResults.Machine(
            hostname: info.hostName, cpus: info.activeProcessorCount, memoryBytes: info.physicalMemory,
            os: info.operatingSystemVersionString, startedAt: iso.string(from: started), gitCommit: commit)
    }

    /// Figures of one mode over its runs.
    struct ModeFigures {
        let mode: String
        let runs: [ExperimentResults.Run]
        var checkpoints: [ExperimentResults.Checkpoint] { runs.flatMap(\.checkpoints) }
        /// The median run by records/s (its checkpoints feed the per-run figures).
        var medianRun: ExperimentResults.Run? {
            runs.sorted { $0.recordsPerSecond < $1.recordsPerSecond }[safe: runs.count / 2]
        }
        func perRun(_ f: (ExperimentResults.Run) -> Double) -> (min: Double, median: Double, max: Double) {
            let xs = runs.map(f)
            return (xs.min() ?? 0, median(xs), xs.max() ?? 0)
        }
    }

    /// One series per mode and storage: full, full on S3, incremental, incremental on S3.
    static func figures(_ r: ExperimentResults) -> [ModeFigures] {
        ["full", "incremental"].flatMap { m in ["folder", "s3"].map { (m, $0) } }.compactMap { m, storage in
            let runs = r.runs.filter { $0.mode == m && $0.storage == storage }
            return runs.isEmpty ? nil : ModeFigures(mode: runs[0].series, runs: runs)
        }
    }

    /// The original experiment's lines, per mode (from the median run).
    static func originalLines(_ r: ExperimentResults) -> String {
        figures(r).compactMap { f in
            guard let run = f.medianRun else { return nil }
            let name = (f.mode.hasPrefix("full") ? "Full" : "Incremental") + (run.storage == "s3" ? " (S3)" : "")
            return
                "\(name) checkpoint test time: \(String(format: "%.2f", run.seconds)) s, storage: \(String(format: "%.1f", Double(run.storageBytesAtEnd) / 1e6)) MB"
        }.joined(separator: "\n")
    }

    /// A per-checkpoint table for the median run of each mode.
    static func checkpointTables(_ r: ExperimentResults) -> String {
        var out = ""
        for f in figures(r) {
            guard let run = f.medianRun else { continue }
            out +=
                "\n\(f.mode) checkpoints (run \(run.index); floor = delta at the disk's "
                + String(format: "%.0f MB/s", r.diskWriteBytesPerSecond / 1e6) + " fsync'd write speed, this run):\n"
            out += pad([
                "id", "sync ms", "async ms", "total ms", "floor ms", "x floor", "delta bytes", "lower bound",
                "full size",
                "files new/reused", "storage on disk", "requests",
            ])
            for c in run.checkpoints {
                out += pad([
                    "\(c.id)", String(format: "%.1f", c.syncMilliseconds), String(format: "%.1f", c.asyncMilliseconds),
                    String(format: "%.1f", c.totalMilliseconds), String(format: "%.1f", c.physicalFloorMilliseconds),
                    String(format: "%.1f", c.timeOverFloor), "\(c.deltaBytes)", "\(c.lowerBoundBytes)",
                    "\(c.fullSizeBytes)",
                    "\(c.filesNew)/\(c.filesReused)", "\(c.storageBytesOnDisk)",
                    c.requests.map { "\($0.total)" + ($0.retries > 0 ? " (\($0.retries) retried)" : "") } ?? "-",
                ])
            }
        }
        return out
    }

    private static func pad(_ cols: [String]) -> String {
        let widths = [4, 8, 9, 9, 9, 7, 12, 12, 12, 17, 16, 10]
        return zip(cols, widths).map { c, w in String(repeating: " ", count: max(0, w - c.count)) + c }.joined(
            separator: " ") + "\n"
    }

    /// The side-by-side summary and the verdict drawn from it.
    static func summary(_ r: ExperimentResults) -> String {
        let fs = figures(r)
        var rows: [(String, [String])] = []
        func add(_ name: String, _ f: (ModeFigures) -> String) { rows.append((name, fs.map(f))) }
        func spread(_ t: (min: Double, median: Double, max: Double), _ fmt: (Double) -> String) -> String {
            r.configuration.runs > 1 ? "\(fmt(t.median)) (\(fmt(t.min))-\(fmt(t.max)))" : fmt(t.median)
        }
        add("records/s") { spread($0.perRun(\.recordsPerSecond)) { String(format: "%.0f", $0) } }
        add("checkpoints completed / failed") { f in
            "\(f.medianRun?.checkpoints.count ?? 0) / \(f.medianRun?.failedCheckpoints ?? 0)"
        }
        if r.runs.contains(where: { !$0.checkpointFailures.isEmpty }) {
            add("failed checkpoints by cause") { f in
                let byCause = Dictionary(grouping: f.medianRun?.checkpointFailures ?? [], by: \.category)
                return byCause.isEmpty
                    ? "none" : byCause.keys.sorted().map { "\($0) \(byCause[$0]?.count ?? 0)" }.joined(separator: ", ")
            }
        }
        add("checkpoint time, median") { String(format: "%.1f ms", median($0.checkpoints.map(\.totalMilliseconds))) }
        add("checkpoint time, p95") {
            String(format: "%.1f ms", percentile($0.checkpoints.map(\.totalMilliseconds), 0.95))
        }
        add("sync phase, median") { String(format: "%.1f ms", median($0.checkpoints.map(\.syncMilliseconds))) }
        add("cut capture, median") { String(format: "%.1f ms", median($0.checkpoints.map(\.captureMilliseconds))) }
        add("physical floor, median") {
            String(format: "%.1f ms", median($0.checkpoints.map(\.physicalFloorMilliseconds)))
        }
        add("checkpoint time / floor, median") { String(format: "%.1fx", median($0.checkpoints.map(\.timeOverFloor))) }
        add("delta per checkpoint, median") { mb(median($0.checkpoints.map { Double($0.deltaBytes) })) }
        add("delta per checkpoint, max") { mb($0.checkpoints.map(\.deltaBytes).max() ?? 0) }
        add("bytes written, total (per run)") {
            spread($0.perRun { Double($0.checkpoints.reduce(0) { $0 + $1.deltaBytes }) }) { mb($0) }
        }
        add("lower bound, total (per run)") {
            spread($0.perRun { Double($0.checkpoints.reduce(0) { $0 + $1.lowerBoundBytes }) }) { mb($0) }
        }
        add("written / lower bound") { f in
            let w = f.checkpoints.reduce(0) { $0 + $1.deltaBytes },
                lb = f.checkpoints.reduce(0) { $0 + $1.lowerBoundBytes }
            return lb == 0 ? "n/a" : String(format: "%.2fx", Double(w) / Double(lb))
        }
        add("storage on disk at the end") { spread($0.perRun { Double($0.storageBytesAtEnd) }) { mb($0) } }
        if r.runs.contains(where: { $0.storage == "s3" }) {
            add("storage requests per checkpoint, median") { f in
                let xs = f.checkpoints.compactMap(\.requests).map { Double($0.total) }
                return xs.isEmpty ? "-" : String(format: "%.0f", median(xs))
            }
            add("storage requests, total (PUT/GET/LIST/DELETE)") { f in
                let q = f.checkpoints.compactMap(\.requests)
                guard !q.isEmpty else { return "-" }
                return "\(q.reduce(0) { $0 + $1.total }) (\(q.reduce(0) { $0 + $1.puts + $1.parts })/"
                    + "\(q.reduce(0) { $0 + $1.gets + $1.heads })/\(q.reduce(0) { $0 + $1.lists })/"
                    + "\(q.reduce(0) { $0 + $1.deletes }))"
            }
            add("storage retries, total") { f in
                let q = f.checkpoints.compactMap(\.requests)
                return q.isEmpty ? "-" : "\(q.reduce(0) { $0 + $1.retries })"
            }
        }
        add("restore time") { spread($0.perRun(\.restoreSeconds)) { String(format: "%.0f ms", $0 * 1000) } }
        add("state verified after restore") { f in f.runs.allSatisfy(\.stateVerified) ? "yes" : "NO" }
        add("restarts") { f in "\(f.runs.reduce(0) { $0 + $1.restarts.count })" }
        add("write-backs between checkpoints") { f in "\(f.runs.reduce(0) { $0 + $1.writeBacks })" }
        var out =
            "\nsummary (\(r.configuration.preset), \(r.configuration.rows) rows, \(r.configuration.trigger), parallelism \(r.configuration.parallelism), \(r.configuration.writeBacksPerInterval) write-backs per interval, \(r.configuration.runs) run(s) per mode)\n"
        let nameWidth = rows.map(\.0.count).max() ?? 0
        let colWidth = max(14, rows.flatMap(\.1).map(\.count).max() ?? 0)
        out +=
            String(repeating: " ", count: nameWidth)
            + fs.map { "  " + String(repeating: " ", count: max(0, colWidth - $0.mode.count)) + $0.mode }.joined()
            + "\n"
        for (name, vals) in rows {
            out +=
                name + String(repeating: " ", count: nameWidth - name.count)
                + vals.map { "  " + String(repeating: " ", count: max(0, colWidth - $0.count)) + $0 }.joined() + "\n"
        }
        if let full = fs.first(where: { $0.mode == "full" }), let inc = fs.first(where: { $0.mode == "incremental" }) {
            out += "\nincremental / full:\n"
            let ft = median(full.checkpoints.map(\.totalMilliseconds)),
                it = median(inc.checkpoints.map(\.totalMilliseconds))
            let fd = median(full.checkpoints.map { Double($0.deltaBytes) }),
                id = median(inc.checkpoints.map { Double($0.deltaBytes) })
            let fw = full.perRun { Double($0.checkpoints.reduce(0) { $0 + $1.deltaBytes }) }.median
            let iw = inc.perRun { Double($0.checkpoints.reduce(0) { $0 + $1.deltaBytes }) }.median
            let fs_ = full.perRun { Double($0.storageBytesAtEnd) }.median,
                is_ = inc.perRun { Double($0.storageBytesAtEnd) }.median
            let fr = full.perRun(\.recordsPerSecond).median, ir = inc.perRun(\.recordsPerSecond).median
            let frs = full.perRun(\.restoreSeconds).median, irs = inc.perRun(\.restoreSeconds).median
            out += "  checkpoint time, median    \(ratio(it, ft))\n"
            out += "  delta per checkpoint       \(ratio(id, fd))\n"
            out += "  bytes written, total       \(ratio(iw, fw))\n"
            out += "  storage on disk at the end \(ratio(is_, fs_))\n"
            out += "  records/s                  \(ratio(ir, fr))\n"
            out += "  restore time               \(ratio(irs, frs))\n"
            out += "\n" + verdict(full: full, inc: inc)
        }
        return out
    }

    /// Plain-language conclusions, each drawn from a measured figure.
    static func verdict(full: ModeFigures, inc: ModeFigures) -> String {
        var lines: [String] = []
        let fw = Double(full.checkpoints.reduce(0) { $0 + $1.deltaBytes }),
            iw = Double(inc.checkpoints.reduce(0) { $0 + $1.deltaBytes })
        let fn = max(1, full.checkpoints.count), inn = max(1, inc.checkpoints.count)
        let perF = fw / Double(fn), perI = iw / Double(inn)
        if perI > 0, perF > 0 {
            lines.append(
                perI < perF
                    ? String(
                        format:
                            "Incremental checkpoints wrote %.1fx less per checkpoint than full ones (%@ against %@).",
                        perF / perI, mb(perI), mb(perF))
                    : String(
                        format:
                            "Incremental checkpoints wrote as much per checkpoint as full ones (%@ against %@): compaction rewrote the state between checkpoints.",
                        mb(perI), mb(perF)))
        }
        let lb = Double(inc.checkpoints.reduce(0) { $0 + $1.lowerBoundBytes })
        if lb > 0 {
            let x = iw / lb
            lines.append(
                String(
                    format:
                        "They wrote %.2fx the lower bound (the compressed size of exactly the state that changed)%@.",
                    x,
                    x <= 2
                        ? ", close to ideal"
                        : x <= 4
                            ? "; compaction rewrites account for the rest" : ", mostly files that compaction rewrote"))
        }
        let ft = median(full.checkpoints.map(\.totalMilliseconds)),
            it = median(inc.checkpoints.map(\.totalMilliseconds))
        if ft > 0, it > 0 {
            lines.append(
                it < ft
                    ? String(
                        format: "A median incremental checkpoint took %.0f ms, %.1fx faster than a full one (%.0f ms).",
                        it, ft / it, ft)
                    : String(
                        format: "A median incremental checkpoint took %.0f ms, no faster than a full one (%.0f ms).",
                        it, ft))
        }
        if full.checkpoints.count < inc.checkpoints.count {
            lines.append(
                "Full checkpoints could not keep up with the trigger: \(full.medianRun?.checkpoints.count ?? 0) completed against \(inc.medianRun?.checkpoints.count ?? 0) incremental ones, each covering more records."
            )
        }
        let fr = full.perRun(\.recordsPerSecond).median, ir = inc.perRun(\.recordsPerSecond).median
        if fr > 0, ir > 0 {
            let d = (ir - fr) / fr
            lines.append(
                abs(d) < 0.05
                    ? "Throughput was about the same in both modes (checkpoints run beside the processing)."
                    : String(
                        format: "The job ran %.0f%% %@ with incremental checkpoints.", abs(d) * 100,
                        d > 0 ? "faster" : "slower"))
        }
        let fs = full.perRun { Double($0.storageBytesAtEnd) }.median,
            iss = inc.perRun { Double($0.storageBytesAtEnd) }.median
        if fs > 0, iss > 0 {
            lines.append(
                String(
                    format:
                        "Checkpoint storage at the end: %@ full, %@ incremental (each file counted once, however many checkpoints share it).",
                    mb(fs), mb(iss)))
        }
        let verified = full.runs.allSatisfy(\.stateVerified) && inc.runs.allSatisfy(\.stateVerified)
        lines.append(
            verified
                ? "Every run's last checkpoint restored to exactly the run's final state (state verified)."
                : "A restored state did NOT match its run's final state: see the runs marked NO.")
        return "verdict:\n" + lines.map { "  - " + $0 }.joined(separator: "\n") + "\n"
    }

    /// checkpoints.csv: one line per checkpoint of every run.
    static func checkpointsCSV(_ r: ExperimentResults) -> String {
        var out =
            "mode,storage,run,id,trigger_ms,alignment_ms,sync_ms,capture_ms,async_ms,total_ms,physical_floor_ms,total_over_floor,delta_bytes,lower_bound_bytes,full_size_bytes,files_new,files_reused,storage_bytes_on_disk,"
            + "requests,put_requests,get_requests,head_requests,list_requests,delete_requests,part_requests,multipart_requests,retries,request_bytes_sent,request_bytes_received\n"
        for run in r.runs {
            for c in run.checkpoints {
                out +=
                    "\(run.mode),\(run.storage),\(run.index),\(c.id),\(String(format: "%.1f", c.triggerMilliseconds)),\(String(format: "%.2f", c.alignmentMilliseconds)),"
                out +=
                    "\(String(format: "%.2f", c.syncMilliseconds)),\(String(format: "%.2f", c.captureMilliseconds)),\(String(format: "%.2f", c.asyncMilliseconds)),\(String(format: "%.2f", c.totalMilliseconds)),"
                out +=
                    "\(String(format: "%.3f", c.physicalFloorMilliseconds)),\(String(format: "%.2f", c.timeOverFloor)),"
                out +=
                    "\(c.deltaBytes),\(c.lowerBoundBytes),\(c.fullSizeBytes),\(c.filesNew),\(c.filesReused),\(c.storageBytesOnDisk),"
                if let q = c.requests {
                    out +=
                        "\(q.total),\(q.puts),\(q.gets),\(q.heads),\(q.lists),\(q.deletes),\(q.parts),\(q.multipartControl),\(q.retries),\(q.bytesSent),\(q.bytesReceived)\n"
                } else {
                    out += ",,,,,,,,,,\n"
                }
            }
        }
        return out
    }

    /// The summary as JSON (`--json`).
    struct SummaryJSON: Codable {
        struct Mode: Codable {
            var mode: String
            var runs: Int
            var recordsPerSecondMedian: Double
            var checkpointsCompleted: Int
            var checkpointsFailed: Int
            var checkpointMillisecondsMedian: Double
            var checkpointMillisecondsP95: Double
            var syncMillisecondsMedian: Double
            var physicalFloorMillisecondsMedian: Double
            var checkpointOverFloorMedian: Double
            var deltaBytesMedian: Double
            var deltaBytesMax: UInt64
            var bytesWrittenTotal: UInt64
            var lowerBoundTotal: UInt64
            var storageBytesAtEnd: Double
            var restoreSecondsMedian: Double
            var stateVerified: Bool
            /// Storage requests per checkpoint (median), for an object store.
            var requestsPerCheckpointMedian: Double?
        }
        var configuration: ExperimentResults.Configuration
        var modes: [Mode]
    }

    static func summaryJSON(_ r: ExperimentResults) -> SummaryJSON {
        SummaryJSON(
            configuration: r.configuration,
            modes: figures(r).map { f in
                let run = f.medianRun
                return SummaryJSON.Mode(
                    mode: f.mode, runs: f.runs.count, recordsPerSecondMedian: f.perRun(\.recordsPerSecond).median,
                    checkpointsCompleted: run?.checkpoints.count ?? 0, checkpointsFailed: run?.failedCheckpoints ?? 0,
                    checkpointMillisecondsMedian: median(f.checkpoints.map(\.totalMilliseconds)),
                    checkpointMillisecondsP95: percentile(f.checkpoints.map(\.totalMilliseconds), 0.95),
                    syncMillisecondsMedian: median(f.checkpoints.map(\.syncMilliseconds)),
                    physicalFloorMillisecondsMedian: median(f.checkpoints.map(\.physicalFloorMilliseconds)),
                    checkpointOverFloorMedian: median(f.checkpoints.map(\.timeOverFloor)),
                    deltaBytesMedian: median(f.checkpoints.map { Double($0.deltaBytes) }),
                    deltaBytesMax: f.checkpoints.map(\.deltaBytes).max() ?? 0,
                    bytesWrittenTotal: run?.checkpoints.reduce(0) { $0 + $1.deltaBytes } ?? 0,
                    lowerBoundTotal: run?.checkpoints.reduce(0) { $0 + $1.lowerBoundBytes } ?? 0,
                    storageBytesAtEnd: f.perRun { Double($0.storageBytesAtEnd) }.median,
                    restoreSecondsMedian: f.perRun(\.restoreSeconds).median,
                    stateVerified: f.runs.allSatisfy(\.stateVerified),
                    requestsPerCheckpointMedian: f.checkpoints.contains { $0.requests != nil }
                        ? median(f.checkpoints.compactMap(\.requests).map { Double($0.total) }) : nil)
            })
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
