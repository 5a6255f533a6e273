#!/usr/bin/env bash
# freshness.sh -- end-to-end freshness: produce acknowledged -> row
# committed, for a RunStarted marker published once a second while a
# steady background load runs, with `sentinel project` (all projectors,
# default settings) consuming; idle, at 5,000 and at 10,000 events/s.
#   bench/freshness.sh [SECONDS]   (default 30 per rate)
# FRESHNESS_RATES="0 5000" picks the background rates (default 0 5000 10000);
# FRESHNESS_ALL=1 prints every marker's latency too.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
RUN_SECONDS="${1:-60}"
MARKERS="${FRESHNESS_MARKERS:-5}"
input="$(generated "publish-300000.ndjson" --events 300000 --seed 42)"
cmake --build "$ROOT/build/release" --target bench_freshness >/dev/null
FRESH="$ROOT/build/release/bench_freshness"

stamp=$(date +%s)
delete_at_exit "bench.fresh.$stamp."
make_template
results=()
for rate in ${FRESHNESS_RATES:-0 5000 10000}; do
    topic="bench.fresh.$stamp.$rate"
    fresh_db bench_fresh
    head -1 "$input" | "$SENTINEL" publish --quiet --topic "$topic" - # makes the topic
    "$SENTINEL" project --topic "$topic" --db "$(engine_url bench_fresh)" \
        --group-prefix "fresh$stamp$rate" ${FRESHNESS_PROJECT_ARGS:-} >"$OUT/freshness-$rate.log" 2>&1 &
    project=$!
    sleep 3
    cpu0=$(cpu_seconds "$project")
    read -r busy0 total0 < <(machine_jiffies)
    t0=$(date +%s.%N)
    line=$("$FRESH" "$SENTINEL_KAFKA_BROKERS" "$topic" "$(engine_url bench_fresh)" "$input" \
        "$rate" "$RUN_SECONDS" "$MARKERS")
    read -r busy1 total1 < <(machine_jiffies)
    cpu1=$(cpu_seconds "$project")
    t1=$(date +%s.%N)
    # The projector's share of one core, and the machine's busy share.
    results+=("$line $(awk -v a="$cpu0" -v b="$cpu1" -v s="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
        'BEGIN { printf "%.0f", (b - a) / s * 100 }') \
$(awk -v b0="$busy0" -v b1="$busy1" -v t0="$total0" -v t1="$total1" 'BEGIN { printf "%.0f", (b1 - b0) / (t1 - t0) * 100 }')")
    kill -TERM "$project"
    wait "$project" || true
done

echo "freshness benchmark: produce acknowledged -> run row committed, $MARKERS markers a second,"
echo "$RUN_SECONDS s per rate, sentinel project ${FRESHNESS_PROJECT_ARGS:-with its defaults}"
printf '%-22s %8s %8s %8s %8s %8s %6s %14s %10s\n' "background events/s" markers "p50 ms" \
    "p90 ms" "p99 ms" "max ms" lost "projector cpu" "machine"
for r in "${results[@]}"; do
    read -r rate n p50 p90 p99 max lost cpu busy <<<"$r"
    printf '%-22s %8s %8s %8s %8s %8s %6s %13s%% %9s%%\n' "$rate" "$n" "$p50" "$p90" "$p99" "$max" \
        "$lost" "$cpu" "$busy"
done
echo "(targets: p99 under 50 ms at 5,000 events/s, under 100 ms at 10,000; projector cpu is the"
echo "share of one core \`sentinel project\` used, machine the share of all cores busy)"
