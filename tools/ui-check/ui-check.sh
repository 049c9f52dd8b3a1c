#!/usr/bin/env bash
# The live monitoring page in headless Chromium: runs a small experiment with --serve, loads
# the page while the job runs (and after), checks that both charts drew points and that the
# failed checkpoints are marked, and saves a screenshot to look at. Used by `make ui-check`.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${UI_CHECK_OUT:-.build-ui-check}
mkdir -p "$out"
port=${UI_CHECK_PORT:-18081}
chrome=$(command -v chromium || command -v chromium-browser)
bench=.build/release/Bench

# A run of about 10 s with some failed checkpoints (a timeout shorter than most checkpoints;
# its final checkpoint may fail too, and then the Bench reports the state as not verified,
# which is not what this checks).
"$bench" --preset small --rows 400000 --mode incremental --every-records 20000 --timeout-ms 40 \
  --rate 40000 --serve 127.0.0.1:$port --serve-linger-s 20 --output "$out/results" > "$out/bench.log" 2>&1 &
bench_pid=$!
trap 'kill $bench_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/jobs/overview" > /dev/null && break
  sleep 0.2
done
sleep 3
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1000,1100 --virtual-time-budget=4000)
"$chrome" "${flags[@]}" --dump-dom "http://127.0.0.1:$port/" > "$out/dom-running.html" 2>/dev/null
"$chrome" "${flags[@]}" --screenshot="$out/running.png" "http://127.0.0.1:$port/" > /dev/null 2>&1
wait_end=0
while kill -0 $bench_pid 2>/dev/null && ! grep -q "serving for" "$out/bench.log"; do
  sleep 0.5; wait_end=$((wait_end + 1)); [ $wait_end -lt 240 ] || break
done
"$chrome" "${flags[@]}" --dump-dom "http://127.0.0.1:$port/" > "$out/dom-finished.html" 2>/dev/null
"$chrome" "${flags[@]}" --screenshot="$out/finished.png" "http://127.0.0.1:$port/" > /dev/null 2>&1

status=0
check() { # file, what
  local points failures updates
  points=$(grep -o 'id="duration"[^>]*data-points="[0-9]*"' "$1" | grep -o 'data-points="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  sizes=$(grep -o 'id="size"[^>]*data-points="[0-9]*"' "$1" | grep -o 'data-points="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  failures=$(grep -o 'id="duration"[^>]*data-failures="[0-9]*"' "$1" | grep -o 'data-failures="[0-9]*"' | grep -o '[0-9]*' || echo 0)
  updates=$(grep -o 'data-updates="[0-9]*"' "$1" | grep -o '[0-9]*' || echo 0)
  echo "$2: duration chart $points points, size chart $sizes points, $failures failures marked, $updates updates"
  if [ "$points" -lt 2 ] || [ "$sizes" -lt 2 ] || [ "$updates" -lt 1 ]; then echo "  FAILED: the charts did not render"; status=1; fi
  if [ "$3" = final ] && [ "$failures" -lt 1 ]; then echo "  FAILED: no failed checkpoint marked"; status=1; fi
}
check "$out/dom-running.html" "while running" running
check "$out/dom-finished.html" "after the job" final
echo "screenshots: $out/running.png, $out/finished.png"
exit $status
