# common.sh -- shared by the benchmark scripts: build, services, helpers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
"$ROOT/scripts/build" release >&2
"$ROOT/scripts/services" up >&2
eval "$("$ROOT/scripts/services" env)"
SENTINEL="$ROOT/build/release/sentinel"
export SENTINEL_LOG_LEVEL="${SENTINEL_LOG_LEVEL:-warn}"

# run_timed OUTFILE CMD...: run CMD, leave "seconds peak_rss_kb" in OUTFILE.
run_timed() {
    local outfile="$1"
    shift
    /usr/bin/time -f "%e %M" -o "$outfile" "$@"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }'; }
