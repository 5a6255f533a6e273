#!/usr/bin/env bash
# project.sh -- projection throughput: N generated events (default 1,000,000)
# already in the topic, projected by `sentinel project --until-caught-up` into
# empty tables; beside raw COPY of the same resulting rows into the same
# tables of another empty database, in the same run.
#   bench/project.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
input="$OUT/publish-$EVENTS.ndjson"
[[ -f "$input" ]] || "$SENTINEL" gen --events "$EVENTS" --seed 42 -o "$input"

stamp=$(date +%s)
topic="bench.project.$stamp"
make_template

echo "publishing $EVENTS events to $topic ..." >&2
"$SENTINEL" publish --quiet --topic "$topic" "$input"
fresh_db bench_project
fresh_db bench_copy

run_timed "$OUT/time.project" "$SENTINEL" project --until-caught-up --topic "$topic" \
    --db "$(engine_url bench_project)" --group-prefix "bench$stamp"

# The reference: the same rows, COPY'd (binary) into the same tables: every
# table of every projector, as the registry lists them (`sentinel
# projectors --tables`: the key tables too, which runs and findings
# reference, and the usage ledger).
mapfile -t tables < <("$SENTINEL" projectors --tables)
copy_reference bench_project bench_copy "$OUT/time.copy" "${tables[@]}"

read -r p_sec p_rss <"$OUT/time.project"
read -r c_sec c_rss <"$OUT/time.copy"
p_rate=$(rate "$EVENTS" "$p_sec")
c_rate=$(rate "$EVENTS" "$c_sec")
echo "projection benchmark: $EVENTS events in the topic -> $rows rows in ${#tables[@]} tables"
printf '%-26s %10s %12s %12s\n' "" seconds "events/s" "peak RSS MB"
printf '%-26s %10s %12s %12s\n' "sentinel project (5 proj.)" "$p_sec" "$p_rate" "$((p_rss / 1024))"
printf '%-26s %10s %12s %12s\n' "raw COPY of the same rows" "$c_sec" "$c_rate" "-"
echo "ratio project/COPY: $(ratio "$c_sec" "$p_sec")  (1.0 = as fast as loading the final rows with COPY)"
