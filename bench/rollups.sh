#!/usr/bin/env bash
# rollups.sh -- rollup throughput on hot keys: N generated events (default
# 1,000,000) with 90% of the traffic on two workspaces, through the usage
# projector (usage ledger, usage_records, daily tokens) beside the runs
# projector (runs, findings, annotations and the daily run and finding
# counts), each from the same topic into an empty database, in the same run.
#   bench/rollups.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
input="$(generated "rollups-$EVENTS.ndjson" --events "$EVENTS" --hot 2 --seed 7)"
stamp=$(date +%s)
topic="bench.rollups.$stamp"
delete_at_exit "$topic"
db_url() { echo "${SENTINEL_OWNER_URL%/*}/$1"; }
psql -X -q "$SENTINEL_OWNER_URL" -c "DROP DATABASE IF EXISTS bench_rollups WITH (FORCE)" \
    -c "CREATE DATABASE bench_rollups"
"$SENTINEL" migrate --db "$(db_url bench_rollups)" >/dev/null
"$ROOT/scripts/fixtures" --db "$(db_url bench_rollups)"
"$SENTINEL" publish --quiet --topic "$topic" "$input"

count() { grep -c "\"type\":\"$1\"" "$input"; }
usage_events=$(count UsageIncremented)
run_events=$(( $(count RunStarted) + $(count RunCompleted) + $(count FindingRecorded) + $(count AnnotationPosted) ))

for p in usage runs; do
    run_timed "$OUT/time.$p" "$SENTINEL" project --projector "$p" --until-caught-up --topic "$topic" \
        --db "$(db_url bench_rollups)" --group-prefix "bench$stamp"
done
read -r u_sec u_rss <"$OUT/time.usage"
read -r r_sec r_rss <"$OUT/time.runs"
echo "rollup benchmark: $EVENTS events in the topic, 90% on 2 workspaces"
printf '%-34s %10s %10s %14s %14s %12s\n' "" events seconds "its events/s" "topic events/s" "peak RSS MB"
printf '%-34s %10s %10s %14s %14s %12s\n' "usage (ledger, records, tokens)" "$usage_events" "$u_sec" \
    "$(rate "$usage_events" "$u_sec")" "$(rate "$EVENTS" "$u_sec")" "$((u_rss / 1024))"
printf '%-34s %10s %10s %14s %14s %12s\n' "runs (entities + daily counts)" "$run_events" "$r_sec" \
    "$(rate "$run_events" "$r_sec")" "$(rate "$EVENTS" "$r_sec")" "$((r_rss / 1024))"
"$SENTINEL" verify --db "$(db_url bench_rollups)"
