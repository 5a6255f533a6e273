#!/usr/bin/env bash
# services.sh -- scripts/services as a user drives it: `up` twice is a
# no-op, `down` then `up` works, a broker killed with kill -9 is recovered by
# `up`, a server running with other settings than the script's is restarted
# with them, its shared memory goes in huge pages, `status` and `env`
# report, and the services answer afterwards.
# Runs alone (RUN_SERIAL): it kills the shared broker.
set -euo pipefail
ROOT="$1"
SENTINEL="$2"
services="$ROOT/scripts/services"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$services" up 2>/tmp/services-up.log || fail "up: $(cat /tmp/services-up.log)"
"$services" up 2>/tmp/services-up.log || fail "second up: $(cat /tmp/services-up.log)"
grep -q "kafka already running" /tmp/services-up.log || fail "second up did not see the running broker"
grep -q "postgres already running" /tmp/services-up.log || fail "second up did not see the running server"
"$services" status >/dev/null || fail "status after up"
eval "$("$services" env)"
[[ "$SENTINEL_KAFKA_BROKERS" == 127.0.0.1:19092 ]] || fail "env: brokers $SENTINEL_KAFKA_BROKERS"
[[ "$SENTINEL_INGEST_URL" == postgresql://sentinel_ingest@* ]] || fail "env: no SENTINEL_INGEST_URL"

# down stops both; up brings them back.
"$services" down 2>/tmp/services-down.log || fail "down: $(cat /tmp/services-down.log)"
if "$services" status >/dev/null; then fail "status says up after down"; fi
"$services" up 2>/tmp/services-up.log || fail "up after down: $(cat /tmp/services-up.log)"
"$services" status >/dev/null || fail "status after down and up"

state="${SENTINEL_STATE_DIR:-/var/lib/sentinel-dev}"
[[ $EUID -eq 0 ]] || state="${SENTINEL_STATE_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/sentinel}"
pid="$(cat "$state/kafka/kafka.pid")"
kill -9 "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if "$services" status >/dev/null; then fail "status says up with the broker killed"; fi
"$services" up 2>/tmp/services-up.log || fail "up after kill -9: $(cat /tmp/services-up.log)"
grep -q "stale kafka pid file" /tmp/services-up.log || fail "up did not notice the stale pid file"
"$services" status >/dev/null || fail "status after recovery"
"$SENTINEL" doctor >/dev/null || fail "doctor after recovery"

# The server's shared memory in huge pages: up reserves them (as root) for
# a server it starts, and restarts one that started without them.
pg_data="$state/postgres/data"
pg_bin="${SENTINEL_PG_BIN:-/usr/lib/postgresql/15/bin}"
in_huge_pages() { # the postmaster maps 2 MB pages
    grep -q "^KernelPageSize: *2048 kB" "/proc/$(head -1 "$pg_data/postmaster.pid")/smaps"
}
if [[ $EUID -eq 0 ]]; then
    "$services" stop-postgres 2>/dev/null || fail "stop-postgres before the huge pages check"
    echo 0 >/proc/sys/vm/nr_hugepages
    "$services" up 2>/tmp/services-up.log || fail "up without huge pages: $(cat /tmp/services-up.log)"
    grep -q "reserved [0-9]* huge pages" /tmp/services-up.log ||
        fail "up did not reserve huge pages: $(cat /tmp/services-up.log)"
    in_huge_pages || fail "the server up started is not in huge pages"
    "$services" stop-postgres 2>/dev/null || fail "stop-postgres before the running server's check"
    echo 0 >/proc/sys/vm/nr_hugepages
    runuser -u "${SENTINEL_PG_OS_USER:-postgres}" -- "$pg_bin/pg_ctl" -D "$pg_data" \
        -l "$state/postgres/postgres.log" -w -t 60 start >/dev/null || fail "pg_ctl start by hand"
    if in_huge_pages; then fail "a server started with no huge pages reserved is in huge pages"; fi
    "$services" up 2>/tmp/services-up.log || fail "up with a server in normal pages: $(cat /tmp/services-up.log)"
    grep -q "restarting postgres to move its shared memory into huge pages" /tmp/services-up.log ||
        fail "up did not restart the server into huge pages: $(cat /tmp/services-up.log)"
    in_huge_pages || fail "the server up restarted is not in huge pages"
    "$SENTINEL" doctor >/dev/null || fail "doctor after the huge pages restart"
else
    echo "not root: up cannot reserve huge pages, so they are not checked"
fi

# A server started with other settings (as one made by an older script
# runs) is restarted with the script's by `up`: shared_buffers here.
admin() { psql -X -q -tA "$SENTINEL_PG_ADMIN_URL" -c "$1"; }
# Whatever happens below, the server is not left at 128MB by this test.
trap 'admin "ALTER SYSTEM RESET shared_buffers" >/dev/null 2>&1; "$services" up >/dev/null 2>&1' EXIT
admin "ALTER SYSTEM SET shared_buffers = '128MB'"
"$services" down 2>/dev/null || fail "down before the settings check"
"$services" up 2>/dev/null || fail "up with 128MB"
[[ "$(admin "SHOW shared_buffers")" == 128MB ]] || fail "the server did not start with 128MB"
admin "ALTER SYSTEM RESET shared_buffers"
"$services" up 2>/tmp/services-up.log || fail "up to apply the settings: $(cat /tmp/services-up.log)"
grep -q "restarting postgres to apply shared_buffers" /tmp/services-up.log ||
    fail "up did not restart the server for its settings: $(cat /tmp/services-up.log)"
[[ "$(admin "SHOW shared_buffers")" == 2GB ]] || fail "shared_buffers $(admin "SHOW shared_buffers") after up"
"$SENTINEL" doctor >/dev/null || fail "doctor after the settings restart"
echo "1 passed, 0 failed"
