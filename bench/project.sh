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
# The projection and the two COPYs run in PROJECT_ROUNDS rounds (default 3),
# each into new databases; the figures are the medians, each round's beside.
# On this 2-core machine one COPY of the entity rows took 7.8 s and 9.4 s on
# the same afternoon, so a single round's ratio says little.
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
mapfile -t tables < <("$SENTINEL" projectors --tables)
entities=(runs findings annotations command_runs briefing_generations briefing_downloads
    activities usage_records workspace_daily_metrics)
ROUNDS="${PROJECT_ROUNDS:-3}"
rm -f "$OUT/time.project."* "$OUT/time.copy."* "$OUT/time.copy-entities."* "$OUT/busy.project."*
for ((r = 0; r < ROUNDS; r++)); do
    echo "round $((r + 1)) of $ROUNDS: projecting, then the two COPYs ..." >&2
    fresh_db bench_project
    read -r busy0 total0 < <(machine_jiffies)
    run_timed "$OUT/time.project.$r" "$SENTINEL" project --until-caught-up --topic "$topic" \
        --db "$(engine_url bench_project)" --group-prefix "bench$stamp.$r" ${PROJECT_ARGS:-}
    read -r busy1 total1 < <(machine_jiffies)
    echo "$((busy1 - busy0)) $((total1 - total0))" >"$OUT/busy.project.$r"

    # The references: the same rows, COPY'd (binary) into the same tables:
    # every table of every projector, as the registry lists them (`sentinel
    # projectors --tables`: the key tables too, which runs and findings
    # reference, and the usage ledger); then the entity rows only.
    fresh_db bench_copy
    copy_reference bench_project bench_copy "$OUT/time.copy.$r" "${tables[@]}"
    all_rows=$rows
    fresh_db bench_copy
    COPY_PRELOAD="run_keys finding_keys" copy_reference bench_project bench_copy \
        "$OUT/time.copy-entities.$r" "${entities[@]}"
    entity_rows=$rows
done

peer_dir="$ROOT/../shared/peers/connect_jdbc"
peer_line=""
if [[ "${PROJECT_PEER:-1}" != 0 && -x "$peer_dir/run.sh" ]]; then
    echo "running the Debezium JDBC sink on ${PEER_RECORDS:-300000} records ..." >&2
    (cd "$ROOT" && TASKS="${PEER_TASKS:-4}" BATCH="${PEER_BATCH:-4000}" \
        "$peer_dir/run.sh" "${PEER_RECORDS:-300000}") >"$OUT/peer.log" 2>&1 ||
        echo "the peer failed: see $OUT/peer.log" >&2
    peer_line=$(grep '^connect-jdbc:' "$OUT/peer.log" | tail -1 || true)
fi

# median NAME: "median rounds... peak_rss_kb" of $OUT/time.NAME.*, the rounds in order.
median() {
    local f all=() rss=0 sec kb
    for ((f = 0; f < ROUNDS; f++)); do
        read -r sec kb <"$OUT/time.$1.$f"
        all+=("$sec")
        ((kb > rss)) && rss=$kb
    done
    printf '%s\n' "${all[@]}" | sort -n | awk -v all="${all[*]}" -v rss="$rss" '{ s[NR] = $1 }
        END { printf "%.2f %s %d\n", NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2, all, rss }'
}
read -r p_sec p_all < <(median project)
p_rss=${p_all##* } p_all=${p_all% *}
read -r c_sec c_all < <(median copy)
c_all=${c_all% *}
read -r e_sec e_all < <(median copy-entities)
e_all=${e_all% *}
p_rate=$(rate "$EVENTS" "$p_sec")
echo "projection benchmark: $EVENTS events ($BENCH_IDS ids) in the topic -> $all_rows rows in ${#tables[@]} tables (PostgreSQL in $(server_pages)); median of $ROUNDS rounds"
printf '%-40s %10s %10s %12s %12s   %s\n' "" seconds rows "events/s" "peak RSS MB" rounds
printf '%-40s %10s %10s %12s %12s   %s\n' "sentinel project (5 projectors)${PROJECT_ARGS:+ $PROJECT_ARGS}" \
    "$p_sec" "$all_rows" "$p_rate" "$((p_rss / 1024))" "$p_all"
printf '%-40s %10s %10s %12s %12s   %s\n' "raw COPY of every table's rows" "$c_sec" "$all_rows" \
    "$(rate "$EVENTS" "$c_sec")" "-" "$c_all"
printf '%-40s %10s %10s %12s %12s   %s\n' "raw COPY of the entity rows only" "$e_sec" "$entity_rows" \
    "$(rate "$EVENTS" "$e_sec")" "-" "$e_all"
# The whole machine during the projection (PostgreSQL's backends, the
# broker, the engine): on few cores a backlog's pace follows this.
cat "$OUT/busy.project."* | awk -v hz="$(getconf CLK_TCK)" -v cores="$(nproc)" '{ b += $1; t += $2 }
    END { printf "machine during the projections: %.1f CPU-s busy a round, %.0f %% of its %d cores\n",
        b / NR / hz, b / t * 100, cores }'
# round_ratios REFERENCE: each round's reference/projection, in round order.
round_ratios() {
    local f out=() ref sec
    for ((f = 0; f < ROUNDS; f++)); do
        read -r ref _ <"$OUT/time.$1.$f"
        read -r sec _ <"$OUT/time.project.$f"
        out+=("$(ratio "$ref" "$sec")")
    done
    echo "${out[*]}"
}
echo "ratio project/COPY of every table: $(ratio "$c_sec" "$p_sec")  (1.0 = as fast as loading the final rows with COPY; rounds $(round_ratios copy))"
echo "ratio project/COPY of the entity rows: $(ratio "$e_sec" "$p_sec")  (rounds $(round_ratios copy-entities))"
rm -f "$OUT/time.project."* "$OUT/time.copy."* "$OUT/time.copy-entities."* "$OUT/busy.project."*
if [[ -n "$peer_line" ]]; then
    peer_rate=$(sed -E 's/.* ([0-9,]+) rec\/s.*/\1/' <<<"$peer_line" | tr -d ,)
    echo "Debezium JDBC sink (tasks ${PEER_TASKS:-4}, batch ${PEER_BATCH:-4000}, upsert into one table): $peer_rate records/s"
    echo "  ($peer_line)"
    echo "ratio sentinel/Debezium: $(ratio "$p_rate" "$peer_rate")  (events/s over records/s)"
elif [[ "${PROJECT_PEER:-1}" != 0 ]]; then
    echo "Debezium JDBC sink: not measured (no $peer_dir/run.sh, or it failed: $OUT/peer.log)"
fi
