#!/usr/bin/env bash
# freshness.sh -- end-to-end freshness: produce acknowledged -> row
# committed, for a RunStarted marker published once a second while a
# steady background load runs, with `sentinel project` (all projectors,
# default settings) consuming; idle, at 5,000 and at 10,000 events/s.
#   bench/freshness.sh [SECONDS]   (default 30 per rate)
# FRESHNESS_RATES="0 5000" picks the background rates (default 0 5000 10000);
# FRESHNESS_ALL=1 prints every marker's latency too.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RUN_SECONDS="${1:-30}"
input="$OUT/publish-300000.ndjson"
[[ -f "$input" ]] || "$SENTINEL" gen --events 300000 --seed 42 -o "$input"
cmake --build "$ROOT/build/release" --target bench_freshness >/dev/null
FRESH="$ROOT/build/release/bench_freshness"

stamp=$(date +%s)
make_template
results=()
for rate in ${FRESHNESS_RATES:-0 5000 10000}; do
    topic="bench.fresh.$stamp.$rate"
    fresh_db bench_fresh
    head -1 "$input" | "$SENTINEL" publish --quiet --topic "$topic" - # makes the topic
    "$SENTINEL" project --topic "$topic" --db "$(engine_url bench_fresh)" \
        --group-prefix "fresh$stamp$rate" >"$OUT/freshness-$rate.log" 2>&1 &
    project=$!
    sleep 3
    results+=("$("$FRESH" "$SENTINEL_KAFKA_BROKERS" "$topic" "$(engine_url bench_fresh)" "$input" \
        "$rate" "$RUN_SECONDS")")
    kill -TERM "$project"
    wait "$project" || true
done

echo "freshness benchmark: produce acknowledged -> run row committed, one marker a second,"
echo "$RUN_SECONDS s per rate, sentinel project with its defaults"
printf '%-22s %8s %8s %8s %8s %6s\n' "background events/s" markers "p50 ms" "p99 ms" "max ms" lost
for r in "${results[@]}"; do
    read -r rate n p50 p99 max lost <<<"$r"
    printf '%-22s %8s %8s %8s %8s %6s\n' "$rate" "$n" "$p50" "$p99" "$max" "$lost"
done
