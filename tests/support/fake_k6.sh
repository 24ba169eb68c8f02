#!/bin/sh
# TEST FIXTURE, not part of the product: a stand-in for Grafana k6 (which is
# not installed on this machine). It accepts `k6 run` the way blissful-infra
# calls it, checks the arguments it relies on, and writes a summary in the
# shape `k6 run --summary-export` writes (recorded from k6 v0.4x/v1).
# FAKE_K6_SLOW=1 makes the recorded run miss its own p95 threshold (exit 99).
set -eu
[ "$1" = "run" ] || { echo "fake k6: expected 'run', got '$1'" >&2; exit 2; }
shift
export_file="" base_url="" script=""
while [ $# -gt 0 ]; do
  case "$1" in
    --summary-export) export_file="$2"; shift 2 ;;
    --summary-trend-stats) shift 2 ;;
    -e) case "$2" in BASE_URL=*) base_url="${2#BASE_URL=}" ;; esac; shift 2 ;;
    --quiet|--no-color) shift ;;
    -*) echo "fake k6: unexpected flag $1" >&2; exit 2 ;;
    *) script="$1"; shift ;;
  esac
done
[ -n "$export_file" ] || { echo "fake k6: no --summary-export" >&2; exit 2; }
[ -n "$base_url" ] || { echo "fake k6: no BASE_URL" >&2; exit 2; }
[ -f "$script" ] || { echo "fake k6: no script $script" >&2; exit 107; }
echo "$base_url $script" >> "${FAKE_K6_LOG:-/dev/null}"
if [ "${FAKE_K6_SLOW:-0}" = 1 ]; then p95=312.5; failed=true; code=99; else p95=7.3; failed=false; code=0; fi
cat > "$export_file" <<JSON
{
  "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": {}, "checks": {}},
  "metrics": {
    "http_reqs": {"count": 1587, "rate": 528.93},
    "http_req_duration": {"avg": 3.7, "min": 1.44, "med": 3.43, "max": 20.9, "p(90)": 5.08, "p(95)": $p95, "p(99)": 12.1,
                          "thresholds": {"p(95)<200": $failed}},
    "http_req_failed": {"passes": 0, "fails": 1587, "value": 0, "thresholds": {"rate<0.01": false}},
    "vus_max": {"value": 10, "min": 10, "max": 10},
    "iterations": {"count": 1587, "rate": 528.93}
  }
}
JSON
exit $code
