#!/usr/bin/env bash
# memory.sh -- memory against the backlog: N generated events (default
# 5,000,000) in the topic, `sentinel project` with its defaults working
# through them for SECONDS (default 120), then stopped with SIGTERM. Prints
# its peak RSS and how far it got; beside bench/project.sh's figure for
# 1,000,000, it shows whether memory grows with the backlog.
#   bench/memory.sh [EVENTS] [SECONDS]   (MEMORY_TOPIC=T: a topic published before)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-5000000}"
RUN_SECONDS="${2:-120}"
input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"

stamp=$(date +%s)
topic="${MEMORY_TOPIC:-bench.memory.$stamp}"
[[ -n "${MEMORY_TOPIC:-}" ]] || delete_at_exit "$topic"
make_template
if [[ -z "${MEMORY_TOPIC:-}" ]]; then
    echo "publishing $EVENTS events to $topic ..." >&2
    "$SENTINEL" publish --quiet --topic "$topic" "$input"
fi
fresh_db bench_memory

SENTINEL_LOG_LEVEL=info /usr/bin/time -f "%e %M" -o "$OUT/time.memory" "$SENTINEL" project \
    --topic "$topic" --db "$(engine_url bench_memory)" --group-prefix "mem$stamp" \
    >"$OUT/memory.log" 2>&1 &
sleep "$RUN_SECONDS"
pkill -TERM -f "^$SENTINEL project .*mem$stamp" || true
wait || true
read -r sec rss < <(tail -1 "$OUT/time.memory")
applied=$(psql -X -At "$(db_url bench_memory)" -c \
    "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE projector = 'runs'")
echo "memory benchmark: a backlog of $EVENTS events, sentinel project with its defaults for $sec s"
printf '%-34s %12s\n' "events gone through (runs)" "$applied"
printf '%-34s %12s\n' "peak RSS MB" "$((rss / 1024))"
grep -o "peak in flight [0-9]* bytes of [0-9]*" "$OUT/memory.log" || true
