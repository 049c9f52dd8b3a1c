import Foundation

/// The experiment as one self-contained HTML page (report.html): configuration and machine,
/// the text summary, four inline SVG charts comparing full and incremental checkpoints, a
/// per-checkpoint table for each run and a table of the runs. No scripts, no external resources.
enum HTMLReport {
    static let fullColor = "#d62728"
    static let incrementalColor = "#1f77b4"
    static let lowerBoundColor = "#555"

    /// The whole page for `results`; `summary` is shown preformatted near the top.
    static func render(_ results: ExperimentResults, summary: String) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Full vs incremental checkpoints</title>
            <style>\(style)</style>
            </head>
            <body>
            <h1>Full vs incremental checkpoints</h1>

            """
        html += "<p class=\"meta\">\(escape(results.tool)) \(escape(results.version))</p>\n"
        html += "<div class=\"cols\">\n"
        html += configurationTable(results.configuration)
        html += machineTable(results.machine, diskWriteBytesPerSecond: results.diskWriteBytesPerSecond)
        html += "</div>\n"
        html += "<h2>Summary</h2>\n<pre>\(escape(summary))</pre>\n"
        html += "<h2>Charts</h2>\n"
        html += charts(results).map(svg).joined(separator: "\n")
        html += "<h2>Checkpoints</h2>\n"
        html += results.runs.isEmpty ? "<p>No runs.</p>\n" : results.runs.map(checkpointTable).joined()
        if results.runs.contains(where: { !$0.checkpointFailures.isEmpty }) {
            html += "<h2>Failed checkpoints</h2>\n"
            html += results.runs.filter { !$0.checkpointFailures.isEmpty }.map(failureTable).joined()
        }
        html += "<h2>Runs</h2>\n"
        html += runsTable(results.runs)
        html += "</body>\n</html>\n"
        return html
    }

    private static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
        h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
        .meta{color:#666;margin-top:0}.cols{display:flex;flex-wrap:wrap;gap:2em;align-items:flex-start}
        table{border-collapse:collapse;font-size:.9em;margin:.5em 0 1.2em}caption{text-align:left;font-weight:600;padding:.3em 0}
        th,td{padding:.2em .6em;border-bottom:1px solid #eee;text-align:left}thead th{border-bottom:2px solid #ccc}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#c00;font-weight:700}
        pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.85em}code{font-size:.9em}
        svg.chart{display:block;width:100%;height:auto;margin:1em 0}
        """

    // MARK: - Tables

    /// The settings of the experiment as a two-column table.
    private static func configurationTable(_ c: ExperimentResults.Configuration) -> String {
        keyValueTable(
            caption: "Configuration",
            [
                ("preset", c.preset),
                ("input", c.input),
                ("rows", grouped(c.rows)),
                ("accounts", grouped(c.accounts)),
                ("seed", "\(c.seed)"),
                ("trigger", c.trigger),
                ("parallelism", "\(c.parallelism)"),
                ("runs", "\(c.runs) per mode"),
                ("cache", "\(c.cacheMiB) MiB"),
                ("write-backs", "\(c.writeBacksPerInterval) per checkpoint interval"),
                ("memtable", "\(c.memtableMiB) MiB"),
                ("rate limit", c.rateLimit.map { "\(grouped($0)) records/s" } ?? "none"),
                ("failAt", c.failAt.map { "record \(grouped($0))" } ?? "none"),
            ])
    }

    /// Where the figures come from, as a two-column table.
    private static func machineTable(_ m: ExperimentResults.Machine, diskWriteBytesPerSecond: Double) -> String {
        keyValueTable(
            caption: "Machine",
            [
                ("hostname", m.hostname),
                ("cpus", "\(m.cpus)"),
                ("memory", bytes(Double(m.memoryBytes))),
                ("os", m.os),
                ("startedAt", m.startedAt),
                ("gitCommit", m.gitCommit ?? "unknown"),
                ("disk write, fsync'd (this run)", bytes(diskWriteBytesPerSecond) + "/s"),
            ])
    }

    private static func keyValueTable(caption: String, _ rows: [(key: String, value: String)]) -> String {
        var out = "<table class=\"kv\"><caption>\(escape(caption))</caption>\n"
        for row in rows {
            out += "<tr><th scope=\"row\">\(escape(row.key))</th><td>\(escape(row.value))</td></tr>\n"
        }
        return out + "</table>\n"
    }

    /// One row of a data table: its cells, escaped, numbers right-aligned.
    private enum Cell {
        case text(String)
        case number(String)
        /// A human-readable byte count with the exact count as tooltip.
        case bytes(UInt64)
        case flag(Bool)

        var html: String {
            switch self {
            case .text(let s): return "<td>\(escape(s))</td>"
            case .number(let s): return "<td class=\"num\">\(escape(s))</td>"
            case .bytes(let b):
                return "<td class=\"num\" title=\"\(grouped(b)) bytes\">\(escape(HTMLReport.bytes(Double(b))))</td>"
            case .flag(let ok): return ok ? "<td>yes</td>" : "<td class=\"bad\">NO</td>"
            }
        }
    }

    /// A table with a header row; `numeric` marks the right-aligned columns.
    private static func dataTable(caption: String, header: [String], numeric: Set<Int>, rows: [[Cell]]) -> String {
        var out = "<table><caption>\(escape(caption))</caption>\n<thead><tr>"
        for (i, h) in header.enumerated() {
            out += numeric.contains(i) ? "<th class=\"num\">\(escape(h))</th>" : "<th>\(escape(h))</th>"
        }
        out += "</tr></thead>\n<tbody>\n"
        for row in rows { out += "<tr>" + row.map(\.html).joined() + "</tr>\n" }
        return out + "</tbody></table>\n"
    }

    /// Every checkpoint of one run.
    private static func checkpointTable(_ run: ExperimentResults.Run) -> String {
        let caption = "\(run.series) run \(run.index): \(run.checkpoints.count) checkpoints"
        guard !run.checkpoints.isEmpty else {
            return "<p><strong>\(escape(caption))</strong> (no completed checkpoints).</p>\n"
        }
        let header = [
            "id", "sync ms", "async ms", "total ms", "physical floor ms", "× floor", "delta bytes", "lower bound bytes",
            "full size", "files new/reused", "storage on disk", "storage requests (retried)",
        ]
        let rows: [[Cell]] = run.checkpoints.map { c in
            [
                .number("\(c.id)"), .number(fixed(c.syncMilliseconds, 1)), .number(fixed(c.asyncMilliseconds, 1)),
                .number(fixed(c.totalMilliseconds, 1)), .number(fixed(c.physicalFloorMilliseconds, 1)),
                .number(fixed(c.timeOverFloor, 1)),
                .bytes(c.deltaBytes), .bytes(c.lowerBoundBytes),
                .bytes(c.fullSizeBytes), .number("\(c.filesNew) / \(c.filesReused)"), .bytes(c.storageBytesOnDisk),
                .number(c.requests.map { "\($0.total) (\($0.retries))" } ?? "-"),
            ]
        }
        return dataTable(caption: caption, header: header, numeric: Set(0..<header.count), rows: rows)
    }

    /// Every failed checkpoint of one run, with its category and message.
    private static func failureTable(_ run: ExperimentResults.Run) -> String {
        let caption = "\(run.series) run \(run.index): \(run.checkpointFailures.count) failed checkpoints"
        let rows: [[Cell]] = run.checkpointFailures.map { f in
            [
                .number("\(f.id)"), .number(fixed(f.triggerMilliseconds / 1000, 2)), .text(f.category),
                .text(f.message),
            ]
        }
        return dataTable(
            caption: caption, header: ["id", "triggered at s", "category", "message"], numeric: [0, 1], rows: rows)
    }

    /// One row per run.
    private static func runsTable(_ runs: [ExperimentResults.Run]) -> String {
        guard !runs.isEmpty else { return "<p>No runs.</p>\n" }
        let header = [
            "mode", "index", "seconds", "records/s", "checkpoints completed / failed",
            "restore seconds", "state verified", "digest",
        ]
        let rows: [[Cell]] = runs.map { r in
            [
                .text(r.series), .number("\(r.index)"), .number(fixed(r.seconds, 2)),
                .number(grouped(Int(exactly: r.recordsPerSecond.rounded()) ?? 0)),
                .number("\(r.checkpoints.count) / \(r.failedCheckpoints)"), .number(fixed(r.restoreSeconds, 3)),
                .flag(r.stateVerified), .text(r.stateDigest),
            ]
        }
        return dataTable(caption: "Runs", header: header, numeric: [1, 2, 3, 4, 5], rows: rows)
    }

    // MARK: - Charts

    /// How an axis labels its values.
    private enum Unit {
        case bytes, milliseconds, seconds, count
    }

    /// One line of a chart, in data coordinates.
    private struct Series {
        var name: String
        var color: String
        var dashed = false
        var markers = false
        var points: [(x: Double, y: Double)]
    }

    /// A line chart, before layout.
    private struct Chart {
        var title: String
        var xLabel: String
        var xUnit: Unit
        var yLabel: String
        var yUnit: Unit
        /// Whether a log y axis is used when the positive values span more than 50x.
        var allowLogY = false
        var markers = false
        var series: [Series]
    }

    /// The four charts: delta bytes, cumulative bytes, durations and storage on disk, from the
    /// first run of each mode.
    private static func charts(_ results: ExperimentResults) -> [Chart] {
        let full = results.runs.first { $0.mode == "full" && $0.storage == "folder" }
        let incremental = results.runs.first { $0.mode == "incremental" && $0.storage == "folder" }
        let modes: [(run: ExperimentResults.Run, color: String)] =
            [full.map { ($0, fullColor) }, incremental.map { ($0, incrementalColor) }].compactMap { $0 }
        let boundRun = incremental ?? full

        /// One series per mode, from `y` over the checkpoint sequence numbers.
        func perMode(_ y: ([ExperimentResults.Checkpoint]) -> [Double]) -> [Series] {
            modes.map { m in
                Series(
                    name: "\(m.run.mode) (run \(m.run.index))", color: m.color, points: sequence(y(m.run.checkpoints)))
            }
        }
        func lowerBound(_ y: ([ExperimentResults.Checkpoint]) -> [Double]) -> [Series] {
            guard let run = boundRun else { return [] }
            return [
                Series(
                    name: "lower bound (\(run.mode))", color: lowerBoundColor, dashed: true,
                    points: sequence(y(run.checkpoints)))
            ]
        }
        let delta: ([ExperimentResults.Checkpoint]) -> [Double] = { $0.map { Double($0.deltaBytes) } }
        let bound: ([ExperimentResults.Checkpoint]) -> [Double] = { $0.map { Double($0.lowerBoundBytes) } }

        return [
            Chart(
                title: "Delta bytes per checkpoint", xLabel: "checkpoint", xUnit: .count,
                yLabel: "bytes written", yUnit: .bytes, allowLogY: true,
                series: perMode(delta) + lowerBound(bound)),
            Chart(
                title: "Cumulative bytes written", xLabel: "checkpoint", xUnit: .count,
                yLabel: "bytes written (cumulative)", yUnit: .bytes,
                series: perMode { runningSum(delta($0)) } + lowerBound { runningSum(bound($0)) }),
            Chart(
                title: "Checkpoint duration and its physical floor", xLabel: "checkpoint", xUnit: .count,
                yLabel: "total duration", yUnit: .milliseconds, markers: true,
                series: perMode { $0.map(\.totalMilliseconds) }
                    + modes.map { m in
                        Series(
                            name: "floor: \(m.run.mode) delta at the disk's fsync'd speed", color: m.color,
                            dashed: true,
                            points: sequence(m.run.checkpoints.map(\.physicalFloorMilliseconds)))
                    }),
            Chart(
                title: "Checkpoint storage on disk over time", xLabel: "time since job start", xUnit: .seconds,
                yLabel: "storage on disk", yUnit: .bytes,
                series: modes.map { m in
                    Series(
                        name: "\(m.run.mode) (run \(m.run.index))", color: m.color,
                        points: m.run.checkpoints.map { ($0.triggerMilliseconds / 1000, Double($0.storageBytesOnDisk)) }
                    )
                }),
        ]
    }

    /// Points numbered 1, 2, 3, … in order.
    private static func sequence(_ ys: [Double]) -> [(x: Double, y: Double)] {
        ys.enumerated().map { (Double($0.offset + 1), $0.element) }
    }

    private static func runningSum(_ xs: [Double]) -> [Double] {
        var total = 0.0
        return xs.map {
            total += $0
            return total
        }
    }

    /// A value axis: its domain, ticks and their labels, and the mapping to pixels.
    private struct Axis {
        var lo: Double
        var hi: Double
        var ticks: [Double]
        var labels: [String]
        var isLog = false

        /// Where `v` lies between pixels `a` (at `lo`) and `b` (at `hi`); values outside the
        /// domain (such as zeros on a log axis) are clamped to its ends.
        func position(_ v: Double, _ a: Double, _ b: Double) -> Double {
            let t: Double
            if isLog {
                let l = log10(lo), h = log10(hi)
                t = h > l ? (log10(Swift.max(v, lo)) - l) / (h - l) : 0
            } else {
                t = hi > lo ? (v - lo) / (hi - lo) : 0
            }
            let clamped = t.isFinite ? Swift.min(Swift.max(t, 0), 1) : 0
            return a + (b - a) * clamped
        }

        /// A linear axis over `values` with about `count` round ticks; `fromZero` includes 0.
        static func linear(_ values: [Double], unit: Unit, fromZero: Bool, count: Int = 5) -> Axis {
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if fromZero {
                lo = Swift.min(lo, 0)
                hi = Swift.max(hi, 0)
            }
            if hi <= lo {
                if fromZero || lo == 0 {
                    hi = lo + 1
                } else {
                    lo -= 1
                    hi += 1
                }
            }
            var step = niceStep((hi - lo) / Double(count))
            // Bytes and checkpoint numbers are whole: no fractional ticks.
            if unit == .count || unit == .bytes { step = Swift.max(step, 1) }
            let first = (lo / step).rounded(.down) * step
            let last = (hi / step).rounded(.up) * step
            let n = Swift.min(Int(((last - first) / step).rounded()), 100)
            let ticks = (0...Swift.max(n, 1)).map { first + Double($0) * step }
            let top = ticks.last ?? last
            return Axis(lo: first, hi: top, ticks: ticks, labels: HTMLReport.labels(ticks, step: step, unit: unit))
        }

        /// A log axis over the positive `values`, one tick per decade (or every other decade).
        static func log(_ values: [Double], unit: Unit) -> Axis {
            let positive = values.filter { $0 > 0 }
            let lowDecade = Int(log10(positive.min() ?? 1).rounded(.down))
            var highDecade = Int(log10(positive.max() ?? 10).rounded(.up))
            if highDecade <= lowDecade { highDecade = lowDecade + 1 }
            let every = highDecade - lowDecade > 8 ? 2 : 1
            let ticks = stride(from: lowDecade, through: highDecade, by: every).map { pow(10, Double($0)) }
            return Axis(
                lo: pow(10, Double(lowDecade)), hi: pow(10, Double(highDecade)), ticks: ticks,
                labels: ticks.map { HTMLReport.label($0, unit: unit) }, isLog: true)
        }
    }

    private static let width = 1000.0
    private static let height = 320.0
    private static let plotLeft = 85.0
    private static let plotRight = 980.0
    private static let plotTop = 56.0
    private static let plotBottom = 272.0

    /// A chart as inline SVG: frame, grid, tick labels, axis titles, legend and series.
    private static func svg(_ chart: Chart) -> String {
        let series = chart.series
            .map { s in
                Series(
                    name: s.name, color: s.color, dashed: s.dashed, markers: s.markers || chart.markers,
                    points: s.points.filter { $0.x.isFinite && $0.y.isFinite })
            }
            .filter { !$0.points.isEmpty }
        let xs = series.flatMap { $0.points.map(\.x) }
        let ys = series.flatMap { $0.points.map(\.y) }
        let positive = ys.filter { $0 > 0 }
        let useLog = chart.allowLogY && (positive.min().flatMap { lo in positive.max().map { $0 / lo } } ?? 0) > 50
        let xAxis = Axis.linear(xs, unit: chart.xUnit, fromZero: chart.xUnit == .seconds)
        let yAxis = useLog ? Axis.log(ys, unit: chart.yUnit) : Axis.linear(ys, unit: chart.yUnit, fromZero: true)
        let yLabel = chart.yLabel + (useLog ? " (log scale)" : "")

        var out = "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(width)) \(n(height))\" "
        out += "role=\"img\" font-family=\"system-ui, sans-serif\" font-size=\"12\">\n"
        out += "<title>\(escape(chart.title))</title>\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(width))\" height=\"\(n(height))\" fill=\"#fff\"/>\n"
        out +=
            "<text x=\"\(n(plotLeft))\" y=\"22\" font-size=\"16\" font-weight=\"600\">\(escape(chart.title))</text>\n"
        out += legend(series)

        // Grid and tick labels.
        for (tick, label) in zip(yAxis.ticks, yAxis.labels) {
            let y = yAxis.position(tick, plotBottom, plotTop)
            out +=
                "<line x1=\"\(n(plotLeft))\" y1=\"\(n(y))\" x2=\"\(n(plotRight))\" y2=\"\(n(y))\" stroke=\"#e5e5e5\"/>"
            out +=
                "<text x=\"\(n(plotLeft - 6))\" y=\"\(n(y + 4))\" text-anchor=\"end\" fill=\"#444\">\(escape(label))</text>\n"
        }
        for (tick, label) in zip(xAxis.ticks, xAxis.labels) {
            let x = xAxis.position(tick, plotLeft, plotRight)
            out +=
                "<line x1=\"\(n(x))\" y1=\"\(n(plotBottom))\" x2=\"\(n(x))\" y2=\"\(n(plotBottom + 5))\" stroke=\"#444\"/>"
            out +=
                "<text x=\"\(n(x))\" y=\"\(n(plotBottom + 18))\" text-anchor=\"middle\" fill=\"#444\">\(escape(label))</text>\n"
        }
        // Axes and their titles.
        out +=
            "<path d=\"M\(n(plotLeft)) \(n(plotTop)) V\(n(plotBottom)) H\(n(plotRight))\" fill=\"none\" stroke=\"#444\"/>\n"
        out +=
            "<text x=\"\(n((plotLeft + plotRight) / 2))\" y=\"\(n(height - 12))\" text-anchor=\"middle\" fill=\"#222\">\(escape(chart.xLabel))</text>\n"
        let midY = (plotTop + plotBottom) / 2
        out +=
            "<text transform=\"translate(16 \(n(midY))) rotate(-90)\" text-anchor=\"middle\" fill=\"#222\">\(escape(yLabel))</text>\n"

        if series.isEmpty {
            out +=
                "<text x=\"\(n((plotLeft + plotRight) / 2))\" y=\"\(n(midY))\" text-anchor=\"middle\" fill=\"#888\" font-size=\"14\">no data</text>\n"
        }
        for s in series {
            let pixels = s.points.map {
                (x: xAxis.position($0.x, plotLeft, plotRight), y: yAxis.position($0.y, plotBottom, plotTop))
            }
            let d = pixels.enumerated().map { "\($0.offset == 0 ? "M" : "L")\(n($0.element.x)) \(n($0.element.y))" }
                .joined(separator: " ")
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out +=
                "<path d=\"\(d)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)><title>\(escape(s.name))</title></path>\n"
            // A lone point has no line to show it, so it always gets a marker.
            if s.markers || pixels.count == 1 {
                for p in pixels {
                    out += "<circle cx=\"\(n(p.x))\" cy=\"\(n(p.y))\" r=\"3\" fill=\"\(s.color)\"/>"
                }
                out += "\n"
            }
        }
        return out + "</svg>\n"
    }

    /// The legend, in a row above the plot, entries sized by an estimate of their text width.
    private static func legend(_ series: [Series]) -> String {
        var out = ""
        var x = plotLeft
        let y = 42.0
        for s in series {
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            out +=
                "<line x1=\"\(n(x))\" y1=\"\(n(y - 4))\" x2=\"\(n(x + 24))\" y2=\"\(n(y - 4))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
            if s.markers { out += "<circle cx=\"\(n(x + 12))\" cy=\"\(n(y - 4))\" r=\"3\" fill=\"\(s.color)\"/>" }
            out += "<text x=\"\(n(x + 30))\" y=\"\(n(y))\" fill=\"#222\">\(escape(s.name))</text>\n"
            x += 30 + 7 * Double(s.name.count) + 24
        }
        return out
    }

    // MARK: - Formatting

    /// A round step near `raw`: 1, 2 or 5 times a power of ten.
    private static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let f = raw / magnitude
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude
    }

    /// Labels for evenly spaced ticks, all in one unit, with as many decimals as `step` needs.
    private static func labels(_ ticks: [Double], step: Double, unit: Unit) -> [String] {
        let (scale, suffix) = unit == .bytes ? byteUnit(ticks.map(abs).max() ?? 0) : (1, unitSuffix(unit))
        let decimals = decimalsFor(step / scale)
        return ticks.map { t in
            abs(t) < step / 2 ? "0" : fixed(t / scale, decimals) + suffix
        }
    }

    /// One value with its unit, for ticks that are not evenly spaced (log axes).
    private static func label(_ v: Double, unit: Unit) -> String {
        guard unit == .bytes else { return String(format: "%g", v) + unitSuffix(unit) }
        let (scale, suffix) = byteUnit(v)
        return String(format: "%g", v / scale) + suffix
    }

    private static func unitSuffix(_ unit: Unit) -> String {
        switch unit {
        case .bytes: return " B"
        case .milliseconds: return " ms"
        case .seconds: return " s"
        case .count: return ""
        }
    }

    /// The 1000-based byte unit for values up to `v`: its size and suffix.
    private static func byteUnit(_ v: Double) -> (scale: Double, suffix: String) {
        let units = [" B", " kB", " MB", " GB", " TB", " PB"]
        var k = 0
        while k < units.count - 1, v >= pow(1000, Double(k + 1)) { k += 1 }
        return (pow(1000, Double(k)), units[k])
    }

    /// Decimals that show a difference of `step` (0 to 3).
    private static func decimalsFor(_ step: Double) -> Int {
        guard step > 0, step.isFinite else { return 0 }
        return Swift.min(Swift.max(Int((-log10(step) - 1e-9).rounded(.up)), 0), 3)
    }

    /// A byte count with a 1000-based unit and about three significant digits.
    static func bytes(_ v: Double) -> String {
        guard v.isFinite else { return "n/a" }
        let (scale, suffix) = byteUnit(abs(v))
        if scale == 1 { return fixed(v, 0) + suffix }
        let x = v / scale
        return fixed(x, abs(x) < 10 ? 2 : abs(x) < 100 ? 1 : 0) + suffix
    }

    private static func fixed(_ v: Double, _ decimals: Int) -> String {
        v.isFinite ? String(format: "%.\(decimals)f", v) : "n/a"
    }

    /// An SVG coordinate: one decimal, never NaN or infinite.
    private static func n(_ v: Double) -> String {
        v.isFinite ? String(format: "%.1f", v) : "0"
    }

    /// An integer with thousands separators (1,234,567).
    private static func grouped<T: BinaryInteger>(_ v: T) -> String {
        let digits = String(v.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return v < 0 ? "-" + out : out
    }

    /// `s` safe as HTML text or attribute value.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}
