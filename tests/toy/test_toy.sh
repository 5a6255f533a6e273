#!/usr/bin/env bash
# test_toy.sh -- adding a projector is one file, one migration and one
# registry line. On a copy of the source tree this adds the toy projector
# (tests/toy/toys.c into projectors/, tests/toy/9000_toys.sql into
# migrations/, a P(toys) line in projectors/registry.c), touches nothing
# else, builds, and checks against the real Kafka and PostgreSQL that the
# toy is a projector like the others: listed with its table, migrated with
# its ledger partition, row security and grants, projecting exactly once,
# reported by status and rebuilt by rebuild.
#   test_toy.sh SOURCE_DIR TOPICS_TOOL
# (TOPICS_TOOL: bench_topics, which deletes the test's topic at the end.)
set -euo pipefail
ROOT="$1"
topics_tool="$2"
: "${SENTINEL_KAFKA_BROKERS:?run under scripts/services env}"
fail() { echo "FAIL: $*" >&2; exit 1; }
work="$(mktemp -d)"
db="sentinel_toy_$$_$RANDOM"
topic="test.toy.$$.$RANDOM"
cleanup() {
    psql -X -q "$SENTINEL_OWNER_URL" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    "$topics_tool" "$SENTINEL_KAFKA_BROKERS" "$topic" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

# The copy, and the three additions.
tree="$work/tree"
mkdir -p "$tree"
tar -C "$ROOT" --exclude=./build --exclude=./.git -cf - . | tar -C "$tree" -xf -
cp "$ROOT/tests/toy/toys.c" "$tree/projectors/toys.c"
cp "$ROOT/tests/toy/9000_toys.sql" "$tree/migrations/9000_toys.sql"
sed -i 's|^    /\* end of the projectors \*/$|    P(toys) \\\n&|' "$tree/projectors/registry.c"
grep -q '^    P(toys) \\$' "$tree/projectors/registry.c" || fail "no registry line added"

cmake -S "$tree" -B "$tree/build" -DCMAKE_BUILD_TYPE=Release -DSENTINEL_TESTS=OFF \
    >"$work/configure.log" 2>&1 || fail "configure: $(cat "$work/configure.log")"
cmake --build "$tree/build" --target sentinel -j2 >"$work/build.log" 2>&1 ||
    fail "build: $(grep -E 'error|warning' "$work/build.log" | head -20)"
sentinel="$tree/build/sentinel"

# Listed, its table with the others'.
"$sentinel" projectors | grep -q '^toys: a toy' || fail "sentinel projectors does not list toys"
[[ "$("$sentinel" projectors --tables | tail -1)" == toys ]] || fail "toys is not in --tables"

# Migrated: the ledger partition, row security and the grants.
owner="${SENTINEL_OWNER_URL%/*}/$db"
engine="${SENTINEL_DATABASE_URL%/*}/$db"
app="${SENTINEL_APP_URL%/*}/$db"
psql -X -q "$SENTINEL_OWNER_URL" -c "CREATE DATABASE $db" >/dev/null
"$sentinel" migrate --db "$owner" >"$work/migrate.log" 2>&1 || fail "migrate: $(cat "$work/migrate.log")"
"$ROOT/scripts/fixtures" --db "$owner" --workspaces 4 >/dev/null
q() { psql -X -At "$1" -c "$2"; }
[[ "$(q "$owner" "SELECT relforcerowsecurity FROM pg_class WHERE oid = 'toys'::regclass")" == t ]] ||
    fail "toys has no forced row security"
[[ "$(q "$owner" "SELECT to_regclass('applied_events_toys') IS NOT NULL")" == t ]] ||
    fail "no applied_events_toys partition"
[[ "$(q "$owner" "SELECT has_table_privilege('sentinel_projector', 'toys', 'INSERT')
                    AND has_table_privilege('sentinel_app', 'toys', 'SELECT')
                    AND NOT has_table_privilege('sentinel_app', 'toys', 'INSERT')")" == t ]] ||
    fail "toys grants"

# Projected exactly once: each activity the activities projector takes is
# one toy row, and a second pass over the same log adds none.
"$sentinel" gen --events 3000 --workspaces 4 --duplicates 0.05 >"$work/events.ndjson" 2>/dev/null
"$sentinel" publish --quiet --topic "$topic" "$work/events.ndjson" >/dev/null 2>&1 ||
    fail "publish"
"$sentinel" project --projector toys --projector activities --until-caught-up --db "$engine" \
    --topic "$topic" --group-prefix "toy$$" >"$work/project.log" 2>&1 ||
    fail "project: $(cat "$work/project.log")"
toys="$(q "$owner" "SELECT count(*) FROM toys")"
activities="$(q "$owner" "SELECT count(*) FROM activities")"
((toys > 0)) || fail "no toy rows"
[[ "$toys" == "$activities" ]] || fail "$toys toy rows for $activities activities"
[[ "$(q "$owner" "SELECT count(*) FROM applied_events_toys")" == "$toys" ]] ||
    fail "the toys' applied ids are not in their partition"
# Each toy is the activity of its id, in its workspace.
[[ "$(q "$owner" "SELECT count(*) FROM toys t JOIN activities a ON a.event_id = t.event_id
                    AND a.workspace_id = t.workspace_id")" == "$toys" ]] ||
    fail "toy rows that are no activity's"
digest() { q "$owner" "SELECT md5(string_agg(t::text, '|' ORDER BY t.event_id)) FROM toys t"; }
before="$(digest)"
# A second pass over the same log, from the beginning in a new group (its
# stored offsets say where it is: nothing to apply), and a replay of all of
# it (every event a duplicate): neither adds or changes a row.
"$sentinel" project --projector toys --until-caught-up --db "$engine" --topic "$topic" \
    --group-prefix "toy2$$" >"$work/project2.log" 2>&1 || fail "second pass: $(cat "$work/project2.log")"
"$sentinel" replay --projector toys --from beginning --quiet --db "$engine" --topic "$topic" \
    --group-prefix "toy$$" >"$work/replay.log" 2>&1 || fail "replay: $(cat "$work/replay.log")"
[[ "$(digest)" == "$before" ]] || fail "a second pass changed the toys"
[[ "$(q "$owner" "SELECT count(*) FROM applied_events_toys")" == "$toys" ]] ||
    fail "a second pass added applied ids"

# Row security: a tenant sees its own toys only.
ws="$(q "$owner" "SELECT workspace_id FROM toys LIMIT 1")"
mine="$(q "$owner" "SELECT count(*) FROM toys WHERE workspace_id = '$ws'")"
seen="$(psql -X -At "$app" -c "SET sentinel.workspace_id = '$ws'" -c "SELECT count(*) FROM toys" | tail -1)"
[[ "$seen" == "$mine" ]] || fail "a tenant sees $seen toys, owns $mine"

# Status and rebuild know it by name; the rebuild compares and swaps it.
"$sentinel" status --projector toys --db "$engine" --topic "$topic" >"$work/status.log" 2>&1 ||
    fail "status: $(cat "$work/status.log")"
grep -q '^toys' "$work/status.log" || fail "status does not report toys: $(cat "$work/status.log")"
"$sentinel" rebuild --projector toys --quiet --db "$owner" --topic "$topic" \
    --group-prefix "toy$$" >"$work/rebuild.log" 2>&1 || fail "rebuild: $(cat "$work/rebuild.log")"
[[ "$(digest)" == "$before" ]] || fail "the rebuilt toys differ from the live ones, row by row"
echo "toy projector: built, migrated, $toys rows projected once, status and rebuild"
