#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what the tests need
# (tmux for the end-to-end tests, prometheus for tests/prometheus.rs,
# libfaketime for the clock-jump drill), then
# unit, integration, snapshot and e2e tests, then a short run of each fuzz
# target.
set -euo pipefail
cd "$(dirname "$0")/.."
# A one-off build needs no incremental caches (2 GB of the target directory).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

need_apt=()
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)  # tests/templates.rs
command -v faketime >/dev/null 2>&1 || need_apt+=(faketime)  # libfaketime, tests/clock_jump.rs
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing: ${need_apt[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null
  else
    echo "missing: ${need_apt[*]} (install them, e.g. sudo apt-get install ${need_apt[*]})" >&2
    exit 1
  fi
fi

# Validators for the generated manifests (tests/templates.rs); the fastapi
# template's venv is created by tests/templates_fastapi.rs (cached in target/).
bash ../shared/tools/setup-validators target/validate-venv
# Style gates: formatting and lints (unwrap/expect/panic denied outside tests).
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# The binary must exist before the tests that drive it.
cargo build --locked --bins
# Local images for the Docker runtime tests, where an engine answers
# (without one, tests/docker_*.rs skip and say why).
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  bash scripts/build-test-images.sh target/debug/blissful-infra
fi
# Smoke-run the benchmarks (quick mode without --bench), so they cannot rot.
cargo test --locked --bench console
# Unit, integration, snapshot and end-to-end tests.
cargo test --locked --no-fail-fast --lib --bins --tests -- --test-threads="${TEST_THREADS:-2}"
# Fuzzing, time-boxed, after the tests: 60 s per target on the repo's seeds
# (scripts/fuzz.sh; README, "Fuzzing"). Under CI it removes its build
# directory when done.
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
