#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/, each for a fixed time, one after another
# on one core: scripts/fuzz.sh [seconds per target] [target...]
# (default: 60 s, every target). Stable toolchain, no sanitizer (cargo-fuzz
# is installed when missing).
#
# Each run reads the repo's seeds (fuzz/corpus/<target>) but writes what it
# finds to a scratch corpus, so a run never changes the repo. A crash, a
# hang (an input running past TIMEOUT_SECS) or running out of memory fails
# the script, naming the input libFuzzer saved under fuzz/artifacts/.
# With CI set, the fuzz build directory is removed at the end (disk).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
[ $# -gt 0 ] && shift
TIMEOUT_SECS="${TIMEOUT_SECS:-10}"
CARGO_FUZZ_VERSION=0.13.2

scratch="$(mktemp -d "${TMPDIR:-/tmp}/blissful-fuzz.XXXXXX")"
cleanup() {
  rm -rf "$scratch"
  if [ -n "${CI:-}" ]; then rm -rf fuzz/target; fi
}
trap cleanup EXIT

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --quiet
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi

# One build for every target (the product crate is compiled once); the
# runs then start the binaries themselves, so nothing rebuilds between
# targets. FUZZ_BIN_DIR runs binaries built before (a frozen copy).
bin_dir="${FUZZ_BIN_DIR:-}"
if [ -z "$bin_dir" ]; then
  start=$SECONDS
  cargo fuzz build --sanitizer none
  echo "fuzz build: $((SECONDS - start)) s, $(du -sh fuzz/target | cut -f1) in fuzz/target"
  bin_dir="fuzz/target/$(rustc -vV | sed -n 's/^host: //p')/release"
fi

failed=()
summary=()
for t in "${targets[@]}"; do
  seeds="fuzz/corpus/$t"
  [ -d "$seeds" ] || { echo "$t: no seeds in $seeds" >&2; exit 2; }
  mkdir -p "$scratch/$t" "fuzz/artifacts/$t"
  log="$scratch/$t.log"
  echo "== $t: ${secs} s"
  set +e
  "$bin_dir/$t" "$scratch/$t" "$seeds" \
    -max_total_time="$secs" -timeout="$TIMEOUT_SECS" -print_final_stats=1 \
    -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  # libFuzzer's last status line: `corp: <inputs>/<bytes>` in memory.
  corpus="$(grep -o 'corp: [0-9]*/[0-9a-zA-Z]*' "$log" | tail -1 | cut -d' ' -f2 || true)"
  found="$(find "$scratch/$t" -type f | wc -l)"
  if [ $rc -eq 0 ]; then
    result=ok
  else
    artifact="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)"
    result="FAILED (exit $rc) ${artifact:-no artifact written}"
    failed+=("$t")
    # The panic and its message, or libFuzzer's reason (hang, memory).
    grep -E -A1 "panicked at|^==[0-9]+== ERROR|ALARM|out-of-memory" "$log" | cut -c1-600 | head -20 || true
  fi
  line="$t: ${execs:-?} executions, corpus ${corpus:-?} (inputs/bytes; $found new), $result"
  echo "$line"
  summary+=("$line")
done

echo "== fuzzing, ${secs} s per target"
printf '%s\n' "${summary[@]}"
# A closing line CI reads like a test runner's.
echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
