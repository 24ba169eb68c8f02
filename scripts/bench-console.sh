#!/usr/bin/env bash
# Measures the console at rest: first frame time, CPU and bytes written to the
# terminal per second, with the demo sandbox running in a background daemon so
# that only the console process is measured. Needs tmux and a release build.
#   bash scripts/bench-console.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; fi
bin=${BIN:-$PWD/target/release/blissful-infra}
state=$(mktemp -d)
stats=$state/stats.json
export BLISSFUL_INFRA_STATE_DIR=$state
cleanup() { tmux kill-session -t bi-bench 2>/dev/null || true; "$bin" down >/dev/null 2>&1 || true; rm -rf "$state"; }
trap cleanup EXIT

# Pick free router ports so a running demo does not collide.
cat >"$state/bench.yaml" <<'YAML'
project: bench
environments:
  - { name: staging, router_port: 0, metrics_port: 0 }
  - { name: production, router_port: 0, metrics_port: 0, protected: true }
YAML
"$bin" --config "$state/bench.yaml" up >/dev/null
sleep 3
tmux new-session -d -s bi-bench -x 120 -y 40 \
  "BLISSFUL_INFRA_STATS_FILE=$stats BLISSFUL_INFRA_STATE_DIR=$state $bin --config $state/bench.yaml; sleep 5"
sleep 2
pid=$(pgrep -f "^$bin --config $state/bench.yaml$" | head -1)
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
c0=$(cpu); t0=$(date +%s.%N)
sleep "$secs"
c1=$(cpu); t1=$(date +%s.%N)
tmux send-keys -t bi-bench q
for _ in $(seq 1 50); do [ -s "$stats" ] && break; sleep 0.1; done
python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$stats" "$secs" <<'PY'
import json, sys
c0, c1, t0, t1, ticks = (float(x) for x in sys.argv[1:6])
s = json.load(open(sys.argv[6]))
cpu = (c1 - c0) / ticks / (t1 - t0) * 100
print(f"first frame: {s['first_frame_ms']:.1f} ms after start (attached console, 120x40)")
print(f"at rest over {sys.argv[7]}s: CPU {cpu:.2f}% of one core; "
      f"{s['bytes_written'] / s['elapsed_secs'] / 1024:.2f} KiB/s written to the terminal; "
      f"{s['frames'] / s['elapsed_secs']:.1f} frames/s")
PY

# First frame of the whole demo (sandbox embedded in the console process).
"$bin" down >/dev/null 2>&1 || true
tmux kill-session -t bi-bench 2>/dev/null || true
rm -f "$stats"
tmux new-session -d -s bi-bench -x 120 -y 40 \
  "BLISSFUL_INFRA_STATS_FILE=$stats BLISSFUL_INFRA_STATE_DIR=$state $bin --config $state/bench.yaml demo; sleep 5"
sleep 3
tmux send-keys -t bi-bench q
for _ in $(seq 1 50); do [ -s "$stats" ] && break; sleep 0.1; done
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(f\"first frame: {s['first_frame_ms']:.1f} ms after start (demo with the embedded sandbox, 120x40)\")" "$stats"
