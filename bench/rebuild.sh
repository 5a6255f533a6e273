#!/usr/bin/env bash
# rebuild.sh -- full rebuild throughput: N generated events (default
# 1,000,000) in the topic and already projected; `sentinel rebuild
# --projector all` rebuilds every projection from the beginning of the log
# into shadow tables, compares and swaps, timed end to end. Beside it, raw
# COPY of the same resulting rows into the same tables of an empty
# database, in the same run.
#   bench/rebuild.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"

stamp=$(date +%s)
topic="bench.rebuild.$stamp"
delete_at_exit "$topic"
make_template

echo "publishing $EVENTS events to $topic ..." >&2
"$SENTINEL" publish --quiet --topic "$topic" "$input"
fresh_db bench_rebuild
fresh_db bench_copy
echo "projecting them (the live projection the rebuild replaces) ..." >&2
"$SENTINEL" project --until-caught-up --topic "$topic" --db "$(engine_url bench_rebuild)" \
    --group-prefix "bench$stamp"
psql -X -q "$(db_url bench_rebuild)" -c "VACUUM ANALYZE"

run_timed "$OUT/time.rebuild" "$SENTINEL" rebuild --projector all --quiet --topic "$topic" \
    --db "$(db_url bench_rebuild)" --group-prefix "bench$stamp" >"$OUT/rebuild.out"

# The reference: the same rows, COPY'd (binary) into the same tables.
mapfile -t tables < <("$SENTINEL" projectors --tables)
copy_reference bench_rebuild bench_copy "$OUT/time.copy" "${tables[@]}"

read -r r_sec r_rss <"$OUT/time.rebuild"
read -r c_sec c_rss <"$OUT/time.copy"
echo "rebuild benchmark: $EVENTS events in the topic -> $rows rows in ${#tables[@]} tables"
grep -E "differed" "$OUT/rebuild.out" || true
printf '%-30s %10s %12s %12s\n' "" seconds "events/s" "peak RSS MB"
printf '%-30s %10s %12s %12s\n' "sentinel rebuild (5 proj.)" "$r_sec" "$(rate "$EVENTS" "$r_sec")" "$((r_rss / 1024))"
printf '%-30s %10s %12s %12s\n' "raw COPY of the same rows" "$c_sec" "$(rate "$EVENTS" "$c_sec")" "-"
echo "ratio rebuild/COPY: $(ratio "$c_sec" "$r_sec")  (1.0 = as fast as loading the final rows with COPY)"
