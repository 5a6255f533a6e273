#!/usr/bin/env bash
# project.sh -- projection throughput: N generated events (default 1,000,000)
# already in the topic, projected by `sentinel project --until-caught-up` into
# empty tables; beside, in the same run, two references:
#   - raw COPY of the same resulting rows into the same tables of another
#     empty database: every table (the key tables and the usage ledger too),
#     and the entity rows only (runs, findings, annotations, command runs,
#     briefing generations and downloads, activities, usage records, daily
#     metrics; the key tables their foreign keys reference loaded first,
#     untimed);
#   - Kafka Connect with the Debezium JDBC sink (../shared/peers/connect_jdbc)
#     sinking PEER_RECORDS (default 300,000) records into one flat table, at
#     its best tuning so far (PEER_TASKS=4, PEER_BATCH=4000); PROJECT_PEER=0
#     leaves it out.
#   bench/project.sh [EVENTS]
# PROJECT_ARGS passes settings to the projection (PROJECT_ARGS="--lanes 2").
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"

stamp=$(date +%s)
topic="bench.project.$stamp"
delete_at_exit "$topic"
make_template

echo "publishing $EVENTS events to $topic ..." >&2
"$SENTINEL" publish --quiet --topic "$topic" "$input"
fresh_db bench_project
fresh_db bench_copy

read -r busy0 total0 < <(machine_jiffies)
run_timed "$OUT/time.project" "$SENTINEL" project --until-caught-up --topic "$topic" \
    --db "$(engine_url bench_project)" --group-prefix "bench$stamp" ${PROJECT_ARGS:-}
read -r busy1 total1 < <(machine_jiffies)

# The reference: the same rows, COPY'd (binary) into the same tables: every
# table of every projector, as the registry lists them (`sentinel
# projectors --tables`: the key tables too, which runs and findings
# reference, and the usage ledger).
mapfile -t tables < <("$SENTINEL" projectors --tables)
copy_reference bench_project bench_copy "$OUT/time.copy" "${tables[@]}"
all_rows=$rows
entities=(runs findings annotations command_runs briefing_generations briefing_downloads
    activities usage_records workspace_daily_metrics)
fresh_db bench_copy
COPY_PRELOAD="run_keys finding_keys" copy_reference bench_project bench_copy \
    "$OUT/time.copy-entities" "${entities[@]}"
entity_rows=$rows

peer_dir="$ROOT/../shared/peers/connect_jdbc"
peer_line=""
if [[ "${PROJECT_PEER:-1}" != 0 && -x "$peer_dir/run.sh" ]]; then
    echo "running the Debezium JDBC sink on ${PEER_RECORDS:-300000} records ..." >&2
    (cd "$ROOT" && TASKS="${PEER_TASKS:-4}" BATCH="${PEER_BATCH:-4000}" \
        "$peer_dir/run.sh" "${PEER_RECORDS:-300000}") >"$OUT/peer.log" 2>&1 ||
        echo "the peer failed: see $OUT/peer.log" >&2
    peer_line=$(grep '^connect-jdbc:' "$OUT/peer.log" | tail -1 || true)
fi

read -r p_sec p_rss <"$OUT/time.project"
read -r c_sec c_rss <"$OUT/time.copy"
read -r e_sec e_rss <"$OUT/time.copy-entities"
p_rate=$(rate "$EVENTS" "$p_sec")
echo "projection benchmark: $EVENTS events ($BENCH_IDS ids) in the topic -> $all_rows rows in ${#tables[@]} tables (PostgreSQL in $(server_pages))"
printf '%-40s %10s %10s %12s %12s\n' "" seconds rows "events/s" "peak RSS MB"
printf '%-40s %10s %10s %12s %12s\n' "sentinel project (5 projectors)${PROJECT_ARGS:+ $PROJECT_ARGS}" \
    "$p_sec" "$all_rows" \
    "$p_rate" "$((p_rss / 1024))"
printf '%-40s %10s %10s %12s %12s\n' "raw COPY of every table's rows" "$c_sec" "$all_rows" \
    "$(rate "$EVENTS" "$c_sec")" "-"
printf '%-40s %10s %10s %12s %12s\n' "raw COPY of the entity rows only" "$e_sec" "$entity_rows" \
    "$(rate "$EVENTS" "$e_sec")" "-"
# The whole machine during the projection (PostgreSQL's backends, the
# broker, the engine): on few cores a backlog's pace follows this.
awk -v b0="$busy0" -v b1="$busy1" -v t0="$total0" -v t1="$total1" -v hz="$(getconf CLK_TCK)" \
    -v cores="$(nproc)" 'BEGIN { printf "machine during the projection: %.1f CPU-s busy, %.0f %% of its %d cores\n",
        (b1 - b0) / hz, (b1 - b0) / (t1 - t0) * 100, cores }'
echo "ratio project/COPY of every table: $(ratio "$c_sec" "$p_sec")  (1.0 = as fast as loading the final rows with COPY)"
echo "ratio project/COPY of the entity rows: $(ratio "$e_sec" "$p_sec")"
if [[ -n "$peer_line" ]]; then
    peer_rate=$(sed -E 's/.* ([0-9,]+) rec\/s.*/\1/' <<<"$peer_line" | tr -d ,)
    echo "Debezium JDBC sink (tasks ${PEER_TASKS:-4}, batch ${PEER_BATCH:-4000}, upsert into one table): $peer_rate records/s"
    echo "  ($peer_line)"
    echo "ratio sentinel/Debezium: $(ratio "$p_rate" "$peer_rate")  (events/s over records/s)"
elif [[ "${PROJECT_PEER:-1}" != 0 ]]; then
    echo "Debezium JDBC sink: not measured (no $peer_dir/run.sh, or it failed: $OUT/peer.log)"
fi
