/// The live page `/` serves: plain HTML, CSS and JavaScript (no library, nothing from the
/// internet). Once a second it reads `/jobs/overview` and `/jobs/<id>/checkpoints` (the
/// running job, else the newest) and redraws
/// two charts on canvases, checkpoint duration and checkpoint size against the time each
/// checkpoint was triggered, with failed checkpoints marked in red. Each canvas records what
/// it drew in `data-points` and `data-failures` (what the browser test reads).
enum LivePage {
    static let html = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Job checkpoints</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
          h1 { font-size: 20px; margin: 0 0 4px; }
          #status { margin: 0 0 16px; color: #555; }
          table { border-collapse: collapse; margin: 8px 0 16px; }
          td { padding: 2px 14px 2px 0; }
          td.n { text-align: right; font-variant-numeric: tabular-nums; }
          .chart { margin: 0 0 20px; }
          .chart h2 { font-size: 15px; margin: 0 0 4px; }
          canvas { border: 1px solid #ddd; }
          .legend span { margin-right: 14px; }
          .sw { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 4px; }
          #failures li { color: #b00; }
        </style>
        </head>
        <body>
        <h1 id="name">Job</h1>
        <div id="status">connecting...</div>
        <table id="counts"></table>
        <div class="chart"><h2>Checkpoint duration (ms)</h2>
          <div class="legend"><span><i class="sw" style="background:#1f6fb2"></i>end to end</span>
          <span><i class="sw" style="background:#e08a00"></i>asynchronous phase</span>
          <span><i class="sw" style="background:#b00"></i>failed</span></div>
          <canvas id="duration" width="900" height="240" data-points="0" data-failures="0"></canvas></div>
        <div class="chart"><h2>Checkpoint size (MB)</h2>
          <div class="legend"><span><i class="sw" style="background:#1f6fb2"></i>written (delta)</span>
          <span><i class="sw" style="background:#2a9d4a"></i>full size</span>
          <span><i class="sw" style="background:#b00"></i>failed</span></div>
          <canvas id="size" width="900" height="240" data-points="0" data-failures="0"></canvas></div>
        <h2 style="font-size:15px">Failed checkpoints</h2>
        <ul id="failures"><li style="color:#555">none</li></ul>
        <script>
        "use strict";
        let updates = 0;
        function fmt(n) { return Math.round(n).toLocaleString("en-US"); }
        function draw(id, series, failures, unit) {
          const c = document.getElementById(id), g = c.getContext("2d");
          const W = c.width, H = c.height, L = 64, R = 12, T = 12, B = 28;
          g.clearRect(0, 0, W, H);
          const xs = [], ys = [0];
          for (const s of series) for (const p of s.points) { xs.push(p[0]); ys.push(p[1]); }
          for (const f of failures) xs.push(f);
          const x0 = 0, x1 = Math.max(1, ...xs), y1 = Math.max(1, ...ys) * 1.1;
          const X = x => L + (x - x0) / (x1 - x0) * (W - L - R), Y = y => H - B - y / y1 * (H - T - B);
          g.strokeStyle = "#ccc"; g.fillStyle = "#555"; g.font = "11px system-ui";
          for (let i = 0; i <= 4; i++) {
            const y = y1 * i / 4; g.beginPath(); g.moveTo(L, Y(y)); g.lineTo(W - R, Y(y)); g.stroke();
            g.fillText((unit === "MB" ? y.toFixed(1) : fmt(y)), 4, Y(y) + 4);
          }
          for (let i = 0; i <= 5; i++) { const x = x1 * i / 5; g.fillText(x.toFixed(1) + " s", X(x) - (i === 5 ? 30 : 12), H - 8); }
          let points = 0;
          for (const s of series) {
            g.strokeStyle = s.color; g.fillStyle = s.color; g.lineWidth = 1.5; g.beginPath();
            s.points.forEach((p, i) => { if (i) g.lineTo(X(p[0]), Y(p[1])); else g.moveTo(X(p[0]), Y(p[1])); });
            g.stroke();
            for (const p of s.points) { g.fillRect(X(p[0]) - 2, Y(p[1]) - 2, 4, 4); points++; }
          }
          g.strokeStyle = "#b00"; g.lineWidth = 2;
          for (const f of failures) {
            const x = X(f), y = H - B - 8;
            g.beginPath(); g.moveTo(x - 5, y - 5); g.lineTo(x + 5, y + 5); g.moveTo(x + 5, y - 5); g.lineTo(x - 5, y + 5); g.stroke();
          }
          c.dataset.points = String(points); c.dataset.failures = String(failures.length);
        }
        async function refresh() {
          try {
            const o = await (await fetch("/jobs/overview", {cache: "no-store"})).json();
            if (!o.jobs.length) { document.getElementById("status").textContent = "no job yet"; return; }
            const job = o.jobs.find(j => j.state === "RUNNING" || j.state === "RESTARTING") || o.jobs[0];
            const cp = await (await fetch("/jobs/" + job.jid + "/checkpoints", {cache: "no-store"})).json();
            document.getElementById("name").textContent = job.name;
            document.getElementById("status").textContent = job.state + ", " + (job.duration / 1000).toFixed(1) +
              " s, " + fmt(job["records-in"]) + " records in (" + fmt(job["records-in-per-second"]) + "/s), " +
              job.restarts + " restart(s)";
            const k = cp.counts, sm = cp.summary;
            document.getElementById("counts").innerHTML =
              "<tr><td>checkpoints completed</td><td class=n>" + k.completed + "</td><td>failed</td><td class=n>" + k.failed +
              "</td><td>in progress</td><td class=n>" + k.in_progress + "</td></tr>" +
              "<tr><td>duration min / avg / max</td><td class=n colspan=5>" + fmt(sm.end_to_end_duration.min) + " / " +
              fmt(sm.end_to_end_duration.avg) + " / " + fmt(sm.end_to_end_duration.max) + " ms</td></tr>";
            const t0 = job["start-time"];
            const done = cp.history.filter(h => h.status === "COMPLETED").reverse();
            const failed = cp.history.filter(h => h.status === "FAILED").reverse();
            const at = h => (h.trigger_timestamp - t0) / 1000;
            const failAt = failed.map(at);
            draw("duration", [
              {color: "#1f6fb2", points: done.map(h => [at(h), h.end_to_end_duration])},
              {color: "#e08a00", points: done.map(h => [at(h), h.async_duration])}], failAt, "ms");
            draw("size", [
              {color: "#1f6fb2", points: done.map(h => [at(h), h.checkpointed_size / 1e6])},
              {color: "#2a9d4a", points: done.map(h => [at(h), h.state_size / 1e6])}], failAt, "MB");
            const list = document.getElementById("failures");
            list.innerHTML = failed.length ? "" : "<li style='color:#555'>none</li>";
            for (const f of failed.slice(-20)) {
              const li = document.createElement("li");
              li.textContent = "checkpoint " + f.id + " at " + at(f).toFixed(1) + " s: " + f.failure_category + ": " + f.failure_message;
              list.appendChild(li);
            }
            document.body.dataset.updates = String(++updates);
            document.body.dataset.state = job.state;
          } catch (e) {
            document.getElementById("status").textContent = "no answer from the job: " + e;
          }
        }
        refresh();
        setInterval(refresh, 1000);
        </script>
        </body>
        </html>
        """
}
