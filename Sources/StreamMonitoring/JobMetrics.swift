import CoreMetrics
import Foundation
import Prometheus
import StreamRuntime

/// A job's figures as metrics through swift-metrics (the ecosystem's API), backed by a
/// Prometheus registry of their own, so a process may monitor several jobs: each
/// `update(from:)` brings the instruments up to a `JobSnapshot`, and `prometheusText()` is
/// the registry in Prometheus's text format. Where Flink has a metric for the same figure, the
/// name is that metric's, in Prometheus style (`numberOfCompletedCheckpoints` is
/// `stream_job_completed_checkpoints_total`); docs/DESIGN.md §19.13 lists them.
public final class JobMetrics: @unchecked Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let lock = NSLock()
    private var counters: [String: (counter: CoreMetrics.Counter, last: Int64)] = [:]
    private var gauges: [String: CoreMetrics.Gauge] = [:]

    /// Metrics with a registry of their own.
    public init() { factory = PrometheusMetricsFactory(registry: registry) }

    /// The registry in Prometheus's text exposition format.
    public func prometheusText() -> String { registry.emitToString() }

    private func key(_ name: String, _ dims: [(String, String)]) -> String {
        name + "|" + dims.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
    }

    /// Sets a gauge.
    private func gauge(_ name: String, _ dims: [(String, String)], _ value: Double) {
        let k = key(name, dims)
        let g = gauges[k] ?? CoreMetrics.Gauge(label: name, dimensions: dims, factory: factory)
        gauges[k] = g
        g.record(value)
    }

    /// Brings a counter up to `total` (counters only grow: a smaller total is ignored).
    private func counter(_ name: String, _ dims: [(String, String)], _ total: Int) {
        let k = key(name, dims)
        let entry = counters[k] ?? (CoreMetrics.Counter(label: name, dimensions: dims, factory: factory), 0)
        let t = Int64(total)
        if t > entry.last { entry.counter.increment(by: t - entry.last) }
        counters[k] = (entry.counter, max(entry.last, t))
    }

    /// Updates every instrument from `s`.
    public func update(from s: JobSnapshot) {
        lock.lock()
        defer { lock.unlock() }
        let job = [("job", s.name), ("job_id", s.jobID)]
        // Flink: numberOfCompletedCheckpoints, numberOfFailedCheckpoints (here by category),
        // numberOfInProgressCheckpoints, numRestarts, uptime.
        counter("stream_job_completed_checkpoints_total", job, s.completedCheckpoints.count)
        for category in CheckpointFailureCategory.allCases {
            counter(
                "stream_job_failed_checkpoints_total", job + [("category", category.label)],
                s.failedCheckpoints.filter { $0.category == category }.count)
        }
        gauge("stream_job_in_progress_checkpoints", job, Double(s.checkpointsInProgress))
        counter("stream_job_restarts_total", job, s.restarts.count)
        counter("stream_job_savepoints_total", job, s.savepoints.count)
        let running = s.status == .running || s.status == .restarting
        gauge("stream_job_running", job, running ? 1 : 0)
        if let started = s.startedAt {
            gauge("stream_job_uptime_milliseconds", job, (s.endedAt ?? Date()).timeIntervalSince(started) * 1000)
        }
        // Flink: lastCheckpointDuration, lastCheckpointSize (the bytes it wrote),
        // lastCheckpointFullSize; the phases, the lower bound, and min/avg/max over all.
        if let last = s.completedCheckpoints.last {
            gauge("stream_job_last_checkpoint_duration_milliseconds", job, last.totalMilliseconds)
            gauge("stream_job_last_checkpoint_size_bytes", job, Double(last.bytesWritten))
            gauge("stream_job_last_checkpoint_full_size_bytes", job, Double(last.fullSize))
            gauge("stream_job_last_checkpoint_lower_bound_bytes", job, Double(last.lowerBoundBytes))
            for (phase, v) in Self.phases(last) {
                gauge("stream_job_last_checkpoint_phase_milliseconds", job + [("phase", phase)], v)
            }
            // Each subtask's part of it: its store checkpoint's phases and sizes.
            for (i, r) in last.subtasks.enumerated() {
                let sub = job + [("subtask", "\(i)")]
                gauge("stream_task_last_checkpoint_sync_milliseconds", sub, FlinkREST.ms(r.syncDuration))
                gauge("stream_task_last_checkpoint_async_milliseconds", sub, FlinkREST.ms(r.asyncDuration))
                gauge("stream_task_last_checkpoint_size_bytes", sub, Double(r.bytesWritten))
                gauge("stream_task_last_checkpoint_full_size_bytes", sub, Double(r.fullSize))
            }
        }
        if !s.completedCheckpoints.isEmpty {
            var series: [(name: String, dims: [(String, String)], values: [Double])] = []
            for phase in ["total", "sync", "async", "alignment", "capture"] {
                series.append(
                    (
                        "stream_job_checkpoint_duration_milliseconds", job + [("phase", phase)],
                        s.completedCheckpoints.map { c in Self.phases(c).first { $0.0 == phase }?.1 ?? 0 }
                    ))
            }
            series.append(
                ("stream_job_checkpoint_size_bytes", job, s.completedCheckpoints.map { Double($0.bytesWritten) }))
            series.append(
                ("stream_job_checkpoint_full_size_bytes", job, s.completedCheckpoints.map { Double($0.fullSize) }))
            for (name, dims, values) in series {
                gauge(name, dims + [("stat", "min")], values.min() ?? 0)
                gauge(name, dims + [("stat", "avg")], values.reduce(0, +) / Double(values.count))
                gauge(name, dims + [("stat", "max")], values.max() ?? 0)
            }
        }
        // Flink: numRecordsIn, numRecordsOut (per subtask), numRecordsInPerSecond.
        counter("stream_job_records_in_total", job, s.recordsIn)
        counter("stream_job_records_out_total", job, s.recordsOut)
        gauge("stream_job_records_in_per_second", job, s.recordsInPerSecond)
        for t in s.subtasks {
            let sub = job + [("subtask", "\(t.index)")]
            counter("stream_task_records_in_total", sub, t.recordsIn)
            counter("stream_task_records_out_total", sub, t.recordsOut)
            guard let st = t.store else { continue }
            // RocksDB's native metrics in Flink: total-sst-files-size, cur-size-all-mem-tables,
            // and its statistics' flush, compaction, stall and block cache tickers.
            gauge("stream_task_state_size_bytes", sub, Double(st.totalTableBytes))
            gauge("stream_task_memtable_bytes", sub, Double(st.memtableBytes + st.immutableMemtableBytes))
            counter("lsm_store_flushes_total", sub, st.flushCount)
            counter("lsm_store_compactions_total", sub, st.compactionCount)
            counter("lsm_store_compaction_bytes_written_total", sub, Int(st.compactionBytesWritten))
            counter("lsm_store_write_slowdowns_total", sub, st.writeSlowdowns)
            counter("lsm_store_write_stalls_total", sub, st.writeStalls)
            counter("lsm_store_block_cache_hits_total", sub, st.blockCacheHits)
            counter("lsm_store_block_cache_misses_total", sub, st.blockCacheMisses)
            counter("lsm_store_compaction_filter_removed_total", sub, st.compactionFilterRemoved)
        }
    }

    /// A checkpoint's phase durations by name.
    static func phases(_ c: JobCheckpointStats) -> [(String, Double)] {
        [
            ("total", c.totalMilliseconds), ("sync", c.syncMilliseconds), ("async", c.asyncMilliseconds),
            ("alignment", c.alignmentMilliseconds), ("capture", c.captureMilliseconds),
        ]
    }
}
