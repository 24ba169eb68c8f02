#!/usr/bin/env bash
# The built-in load generator (`perf --url`) against wrk and oha, on the same
# local target (the built-in sample service's /hello), in the same run,
# alternating tools so a busy machine hurts all three alike.
#
#   bash scripts/bench-load.sh [runs]        (DUR=10 CONNS=10 by default)
#
# Needs wrk (apt-get install wrk) and oha (cargo install oha). Prints a
# Markdown table for the README.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-2}"
DUR="${DUR:-10}"
CONNS="${CONNS:-10}"
for tool in wrk oha python3; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "missing: $tool (wrk: apt-get install wrk; oha: cargo install oha)" >&2
    exit 1
  }
done

cargo build --release --locked --bins >&2
BIN="$PWD/target/release/blissful-infra"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$BIN" sample-service --port "$PORT" --version v1 >"$WORK/service.log" 2>&1 &
SERVICE=$!
trap 'kill "$SERVICE" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do
  if python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then break; fi
  sleep 0.1
done
URL="http://127.0.0.1:$PORT/hello"

row() { # run tool rps p50_ms p99_ms
  printf '| %s | %s | %s | %s ms | %s ms |\n' "$1" "$2" "$3" "$4" "$5"
}

wrk_run() {
  wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$URL" >"$WORK/wrk.txt"
  python3 - "$WORK/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p = dict((k, ms(v, u)) for k, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M))
print(f"{rps:,.0f} {p['50']:.2f} {p['99']:.2f}")
PY
}

oha_run() {
  oha -c "$CONNS" -z "${DUR}s" --no-tui --output-format json "$URL" >"$WORK/oha.json"
  python3 - "$WORK/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rps = d["summary"]["requestsPerSec"]
p = d["latencyPercentiles"]
print(f"{rps:,.0f} {p['p50'] * 1000:.2f} {p['p99'] * 1000:.2f}")
PY
}

perf_run() {
  "$BIN" perf --url "$URL" -c "$CONNS" -d "${DUR}s" --warmup 0s -o json \
    --state-dir "$WORK/state" >"$WORK/perf.json" 2>/dev/null || true
  python3 - "$WORK/perf.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{d['rps']:,.0f} {d['latency_ms']['p50']:.2f} {d['latency_ms']['p99']:.2f}")
PY
}

echo "| run | tool | requests/s | p50 | p99 |"
echo "| --- | --- | --- | --- | --- |"
for run in $(seq 1 "$RUNS"); do
  read -r rps p50 p99 < <(wrk_run);  row "$run" "wrk \`-t2 -c$CONNS -d${DUR}s\`" "$rps" "$p50" "$p99"
  read -r rps p50 p99 < <(oha_run);  row "$run" "oha \`-c $CONNS -z ${DUR}s\`" "$rps" "$p50" "$p99"
  read -r rps p50 p99 < <(perf_run); row "$run" "\`perf -c $CONNS -d ${DUR}s\`" "$rps" "$p50" "$p99"
done
