#!/usr/bin/env bash
# soak.sh -- one `sentinel project` through a backlog of N events (default
# 5,000,000), then a steady live load (5,000 events/s for LIVE seconds,
# default 120, with a marker a second for freshness). Sampled every second:
# events applied per second, lag, RSS and the vacuums and analyzes at work,
# into bench/out/soak.csv, drawn by
# gnuplot into bench/out/soak.png (soak.time-ordered.* with
# BENCH_IDS=time-ordered). Prints whether throughput held (the
# backlog's last tenth against its first) and the peak RSS.
#   bench/soak.sh [EVENTS] [LIVE]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-5000000}"
LIVE="${2:-120}"
command -v gnuplot >/dev/null || "$ROOT/scripts/setup" >&2
input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"
live_input="$(generated "live-300000.ndjson" --events 300000 --seed 7)"
name=soak
[[ "$BENCH_IDS" == random ]] || name="soak.$BENCH_IDS"
cmake --build "$ROOT/build/release" --target bench_freshness >/dev/null
FRESH="$ROOT/build/release/bench_freshness"

stamp=$(date +%s)
topic="bench.soak.$stamp"
delete_at_exit "$topic"
make_template >/dev/null
fresh_db bench_soak >/dev/null
echo "publishing $EVENTS events to $topic ..." >&2
"$SENTINEL" publish --quiet --topic "$topic" "$input"
db="$(engine_url bench_soak)"

SENTINEL_LOG_LEVEL=info "$SENTINEL" project --topic "$topic" --db "$db" \
    --group-prefix "soak$stamp" >"$OUT/$name.log" 2>&1 &
project=$!
trap 'kill $project 2>/dev/null || true; bench_cleanup' EXIT

# The sampler: seconds, events applied by the runs projector (all of the
# topic's messages go through it), its lag, RSS in MB, the phase, and the
# vacuums and analyzes at work in the database (autovacuum's and the
# engine's analyzer's), which take their share of the cores.
csv="$OUT/$name.csv"
echo "seconds,applied,events_per_s,lag,rss_mb,phase,maintenance" >"$csv"
maintenance_sql="SELECT (SELECT count(*) FROM pg_stat_progress_vacuum WHERE datname = 'bench_soak')
    + (SELECT count(*) FROM pg_stat_progress_analyze WHERE datname = 'bench_soak')"
sample() { # PHASE
    local applied lag rss now busy
    applied=$(psql -X -At "$db" -c \
        "SELECT coalesce(sum(next_offset), 0) FROM projector_offsets WHERE projector = 'runs'")
    lag=$("$SENTINEL" status --json --projector runs --topic "$topic" --db "$db" 2>/dev/null |
        jq '.projectors[0].lag // 0')
    rss=$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$project/status" 2>/dev/null || echo 0)
    busy=$(psql -X -At "$SENTINEL_PG_ADMIN_URL" -c "$maintenance_sql" 2>/dev/null || echo 0)
    now=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - s}')
    awk -v t="$now" -v a="$applied" -v pt="$prev_t" -v pa="$prev_a" -v l="$lag" -v r="$rss" \
        -v p="$1" -v m="$busy" 'BEGIN {printf "%s,%s,%.0f,%s,%s,%s,%s\n", t, a, (t > pt ? (a - pa) / (t - pt) : 0), l, r, p, m}' >>"$csv"
    prev_t=$now
    prev_a=$applied
    last_lag=$lag
}
start=$(date +%s.%N)
prev_t=0
prev_a=0
last_lag=1
# The backlog, until the lag is gone.
while ((last_lag > 0)); do
    sleep 1
    sample backlog
done
backlog_seconds=$(tail -1 "$csv" | cut -d, -f1)
# The live load: 5,000 events/s and a freshness marker a second.
"$FRESH" "$SENTINEL_KAFKA_BROKERS" "$topic" "$db" "$live_input" 5000 "$LIVE" >"$OUT/$name.fresh" &
fresh=$!
while kill -0 "$fresh" 2>/dev/null; do
    sleep 1
    sample live
done
wait "$fresh" || true
kill -TERM "$project"
wait "$project" || true
trap bench_cleanup EXIT

# The picture: events/s, lag, RSS and maintenance over time, the live load
# shaded.
gnuplot <<EOF
set terminal pngcairo size 1000,1100 noenhanced font ",10"
set output "$OUT/$name.png"
set datafile separator ","
set multiplot layout 4,1 title "sentinel project: $EVENTS-event backlog ($BENCH_IDS ids), then 5,000 events/s live"
set grid
set key off
set lmargin 12
set xrange [0:*]
set object 1 rectangle from $backlog_seconds, graph 0 to graph 1, graph 1 behind fc rgb "#eeeeee" fs solid 1.0 noborder
set ylabel "events/s applied"
plot "$csv" using 1:3 every ::1 with lines lw 2 lc rgb "#1f77b4"
set ylabel "lag (events)"
plot "$csv" using 1:4 every ::1 with lines lw 2 lc rgb "#d62728"
set ylabel "RSS (MB)"
set yrange [0:*]
plot "$csv" using 1:5 every ::1 with lines lw 2 lc rgb "#2ca02c"
set ylabel "vacuums + analyzes at work"
set xlabel "seconds (shaded: the live load)"
set yrange [0:4.5]
set ytics 1
plot "$csv" using 1:7 every ::1 with steps lw 2 lc rgb "#9467bd"
unset multiplot
EOF

# Throughput held: the backlog's last tenth against its first (the first
# and last samples are partial seconds, left out).
read -r first last < <(awk -F, 'NR > 1 && $6 == "backlog" {r[n++] = $3} END {
    k = int((n - 2) / 10); if (k < 1) k = 1; f = 0; l = 0
    for (i = 1; i <= k; i++) f += r[i]; for (i = n - 1 - k; i < n - 1; i++) l += r[i]
    printf "%.0f %.0f\n", f / k, l / k}' "$csv")
peak=$(awk -F, 'NR > 1 && $5 > m {m = $5} END {print m}' "$csv")
backlog_peak=$(awk -F, 'NR > 1 && $6 == "backlog" && $5 > m {m = $5} END {print m}' "$csv")
read -r rate markers p50 _ p99 max lost <"$OUT/$name.fresh"
echo "soak benchmark: $EVENTS events ($BENCH_IDS ids) of backlog in ${backlog_seconds} s ($(rate "$EVENTS" "$backlog_seconds") ev/s), then ${LIVE} s at 5,000 ev/s (PostgreSQL in $(server_pages))"
echo "throughput, backlog's first tenth: $first ev/s; last tenth: $last ev/s; last/first $(ratio "$last" "$first") (target within 0.8..1.2)"
echo "peak RSS MB: $peak (backlog $backlog_peak; target < 200, flat)"
echo "live freshness: $markers markers, p50 $p50 ms, p99 $p99 ms, max $max ms, lost $lost"
echo "figure: $OUT/$name.png (data: $csv)"
