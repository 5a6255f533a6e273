# common.sh -- shared by the benchmark scripts: build, services, helpers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
"$ROOT/scripts/build" release >&2
"$ROOT/scripts/services" up >&2
eval "$("$ROOT/scripts/services" env)"
# SENTINEL_BIN: another build's binary, to set two builds side by side.
SENTINEL="${SENTINEL_BIN:-$ROOT/build/release/sentinel}"
export SENTINEL_LOG_LEVEL="${SENTINEL_LOG_LEVEL:-warn}"

# The topics a benchmark makes go when it ends, their dead-letter topics
# with them: delete_at_exit PREFIX... registers them (BENCH_KEEP_TOPICS=1
# keeps them). A broker that kept every run's topics, thousands of
# partitions, starts slowly and answers unevenly.
bench_topics=()
delete_at_exit() { bench_topics+=("$@"); }
bench_cleanup() {
    if [[ ${#bench_topics[@]} -gt 0 && "${BENCH_KEEP_TOPICS:-0}" == 0 ]]; then
        "$ROOT/build/release/bench_topics" "$SENTINEL_KAFKA_BROKERS" "${bench_topics[@]}" >/dev/null ||
            echo "some topics of this run were not deleted: ${bench_topics[*]}" >&2
    fi
}
trap bench_cleanup EXIT

# generated FILE ARGS...: $OUT/FILE, the events `sentinel gen ARGS` writes,
# generated once and kept for later runs (the same seed, the same events).
# BENCH_IDS=time-ordered makes every benchmark's ids version 7, minted in
# time order as many producers mint them (`sentinel gen --ids`), in files of
# their own (FILE with ".time-ordered" before its extension).
BENCH_IDS="${BENCH_IDS:-random}"
generated() {
    local file="$OUT/$1"
    shift
    if [[ "$BENCH_IDS" != random ]]; then
        file="${file%.*}.$BENCH_IDS.${file##*.}"
        set -- "$@" --ids "$BENCH_IDS"
    fi
    [[ -f "$file" ]] || "$SENTINEL" gen "$@" -o "$file" >&2
    echo "$file"
}

# run_timed OUTFILE CMD...: run CMD, leave "seconds peak_rss_kb" in OUTFILE.
run_timed() {
    local outfile="$1"
    shift
    /usr/bin/time -f "%e %M" -o "$outfile" "$@"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "n/a" }'; }

# Where the local PostgreSQL keeps its shared memory: "huge pages" or
# "normal pages" (scripts/services reserves huge pages only as root), or
# "pages unknown" when its process cannot be read. A backlog's CPU differs
# by about a tenth between the two, so the figures say which.
server_pages() {
    local state pid
    if [[ $EUID -eq 0 ]]; then
        state="${SENTINEL_STATE_DIR:-/var/lib/sentinel-dev}"
    else
        state="${SENTINEL_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/sentinel}"
    fi
    pid="$(head -1 "$state/postgres/data/postmaster.pid" 2>/dev/null || true)"
    if [[ -z "$pid" || ! -r "/proc/$pid/smaps" ]]; then
        echo "pages unknown"
    elif grep -q "^KernelPageSize: *2048 kB" "/proc/$pid/smaps"; then
        echo "huge pages"
    else
        echo "normal pages"
    fi
}

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}
# The machine's busy and total jiffies so far ("busy total").
machine_jiffies() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }

# The owner makes databases, migrates and rebuilds; the engine projects as
# sentinel_projector, as a deployment runs it.
db_url() { echo "${SENTINEL_OWNER_URL%/*}/$1"; }
engine_url() { echo "${SENTINEL_DATABASE_URL%/*}/$1"; }

# make_template: a migrated database with the fixtures, for fresh_db to copy,
# so every database of a run agrees on control-plane ids (providers' too).
make_template() {
    psql -X -q "$SENTINEL_OWNER_URL" -c "DROP DATABASE IF EXISTS bench_template WITH (FORCE)" \
        -c "CREATE DATABASE bench_template"
    "$SENTINEL" migrate --db "$(db_url bench_template)" >/dev/null
    "$ROOT/scripts/fixtures" --db "$(db_url bench_template)"
}

# fresh_db NAME: a new copy of the template.
fresh_db() {
    psql -X -q "$SENTINEL_OWNER_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        -c "CREATE DATABASE $1 TEMPLATE bench_template"
}

# copy_reference FROM TO TIMEFILE TABLE...: the reference every projection
# benchmark stands beside: the rows of TABLEs in database FROM, loaded with
# raw binary COPY into the same (empty) tables of database TO in one
# transaction, timed into TIMEFILE. Leaves the row count in $rows.
# COPY_PRELOAD="run_keys finding_keys": tables loaded first, untimed (what
# the timed tables' foreign keys reference).
copy_reference() {
    local from="$1" to="$2" timefile="$3" t m
    shift 3
    rows=0
    for t in ${COPY_PRELOAD:-} "$@"; do
        psql -X -q "$(db_url "$from")" -c "\\copy (SELECT * FROM $t) TO '$OUT/$t.copy' WITH (FORMAT binary)"
    done
    for t in "$@"; do
        rows=$((rows + $(psql -X -At "$(db_url "$from")" -c "SELECT count(*) FROM $t")))
    done
    for m in $(psql -X -At "$(db_url "$from")" -c \
        "SELECT DISTINCT to_char(date_trunc('month', created_at), 'YYYY-MM-DD') FROM run_keys UNION SELECT DISTINCT to_char(date_trunc('month', created_at), 'YYYY-MM-DD') FROM finding_keys"); do
        psql -X -q "$(db_url "$to")" -c "SELECT sentinel_ensure_partitions('${m}T00:00:00Z')" >/dev/null
    done
    for t in ${COPY_PRELOAD:-}; do
        psql -X -q -v ON_ERROR_STOP=1 "$(db_url "$to")" -c "\\copy $t FROM '$OUT/$t.copy' WITH (FORMAT binary)"
    done
    {
        echo "BEGIN;"
        for t in "$@"; do echo "\\copy $t FROM '$OUT/$t.copy' WITH (FORMAT binary)"; done
        echo "COMMIT;"
    } >"$OUT/copy.sql"
    run_timed "$timefile" psql -X -q -v ON_ERROR_STOP=1 "$(db_url "$to")" -f "$OUT/copy.sql"
}
