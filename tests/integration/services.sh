#!/usr/bin/env bash
# services.sh -- scripts/services as a user drives it: `up` twice is a
# no-op, `down` then `up` works, a broker killed with kill -9 is recovered by
# `up`, `status` and `env` report, and the services answer afterwards. Runs alone (RUN_SERIAL):
# it kills the shared broker.
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
echo "1 passed, 0 failed"
