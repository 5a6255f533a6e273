#!/usr/bin/env bash
# fuzz.sh -- the long run of the differential fuzz target: the one-pass
# JSON -> Avro front end against the jansson reference (tests/fuzz/
# fuzz_json_avro.c) under ASan and UBSan, for MINUTES (default 10). The test
# suite runs it for seconds; this is the run to trust it by. The corpus is
# kept in bench/out/corpus-json-avro, so each run starts where the last one
# stopped. Prints executions, coverage and any difference found.
#   bench/fuzz.sh [MINUTES]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${1:-10}"
"$ROOT/scripts/build" asan >&2
corpus="$ROOT/bench/out/corpus-json-avro"
mkdir -p "$corpus"
cd "$ROOT/bench/out"
data="$ROOT/tests/data"
LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp" \
    "$ROOT/build/asan/tests/fuzz_json_avro" -max_total_time=$((MINUTES * 60)) -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -dict="$data/fuzz/json.dict" "$corpus" \
    "$data/events/valid" "$data/events/invalid" "$data/fuzz/json" 2>&1 |
    grep -E "^(Done|stat::|fuzz_json_avro:|SUMMARY|#[0-9]+ *DONE)|ERROR" || true
echo "corpus: $(find "$corpus" -type f | wc -l) inputs in $corpus"
