#!/usr/bin/env bash
# ingest.sh -- `sentinel ingest` under a real HTTP load generator (wrk with
# Lua scripts), beside `sentinel publish` of the same lines in the same run:
#   1. batches of 500 events over 4 keep-alive connections (events/s);
#   2. single-event requests over keep-alive connections (requests/s);
#   3. acknowledgement latency at about 1,000 requests/s of 10-event
#      batches (p50, p90, p99, max: the producer's linger included);
#   4. the gateway's peak RSS over all of it.
#   bench/ingest.sh [EVENTS] [SECONDS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-200000}"
SECONDS_EACH="${2:-20}"
command -v wrk >/dev/null || "$ROOT/scripts/setup" >&2

make_template >/dev/null
fresh_db bench_ingest >/dev/null
WS1=a0000000-0000-4000-8000-000000000001
token="$("$SENTINEL" credentials create --workspace "$WS1" --name bench --json \
    --db "$(db_url bench_ingest)" | grep -o '"token": *"[^"]*"' | sed 's/.*"\(snt_[^"]*\)"/\1/')"

# The lines: generated events, all moved to workspace 1 (the token's).
input="$OUT/ingest-$EVENTS.ndjson"
[[ "$BENCH_IDS" == random ]] || input="$OUT/ingest-$EVENTS.$BENCH_IDS.ndjson"
if [[ ! -f "$input" ]]; then
    "$SENTINEL" gen --events "$EVENTS" --seed 43 --ids "$BENCH_IDS" -o "$input.tmp"
    sed -E "s/\"workspace_id\":\"[0-9a-f-]{36}\"/\"workspace_id\":\"$WS1\"/" "$input.tmp" >"$input"
    rm -f "$input.tmp"
fi
stamp=$(date +%s)

# The reference: sentinel publish of the same lines.
t_pub="bench.ingest.publish.$stamp"
delete_at_exit "bench.ingest.publish.$stamp" "bench.ingest.http.$stamp"
printf '' | "$SENTINEL" publish --quiet --topic "$t_pub" - >/dev/null 2>&1 || true
run_timed "$OUT/time.publish" "$SENTINEL" publish --quiet --topic "$t_pub" "$input"
read -r p_sec p_rss <"$OUT/time.publish"
p_rate=$(rate "$EVENTS" "$p_sec")

# The gateway, as sentinel_ingest.
t_http="bench.ingest.http.$stamp"
log="$OUT/ingest.log"
SENTINEL_INGEST_URL="${SENTINEL_INGEST_URL%/*}/bench_ingest" "$SENTINEL" ingest \
    --listen 127.0.0.1:0 --topic "$t_http" 2>"$log" &
gw=$!
trap 'kill $gw 2>/dev/null || true; bench_cleanup' EXIT
for _ in $(seq 200); do grep -q "listening on" "$log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$log" | head -1)"
[[ -n "$url" ]] || { cat "$log"; exit 1; }

# One Lua script for the three loads: BATCH events a request, taken in turn
# from the file; DELAY_MS between a connection's requests (0: none).
lua="$OUT/ingest.lua"
cat >"$lua" <<'LUA'
local batch = tonumber(os.getenv("BATCH"))
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local lines = {}
for line in io.lines(os.getenv("INPUT")) do lines[#lines + 1] = line end
local bodies = {}
for i = 1, math.min(#lines, batch * 400), batch do
  bodies[#bodies + 1] = table.concat(lines, "\n", i, math.min(i + batch - 1, #lines)) .. "\n"
end
local headers = {["Authorization"] = "Bearer " .. os.getenv("TOKEN"),
                 ["Content-Type"] = "application/x-ndjson"}
local n = 0
local bad = 0
function request()
  n = n + 1
  return wrk.format("POST", "/v1/events", headers, bodies[(n % #bodies) + 1])
end
function response(status, hdrs, body)
  if status ~= 200 then bad = bad + 1 end
end
function delay() return delay_ms end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d seconds=%.3f errors=%d non200=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
LUA
load() { # BATCH DELAY_MS THREADS CONNECTIONS
    BATCH="$1" DELAY_MS="$2" INPUT="$input" TOKEN="$token" \
        wrk -t"$3" -c"$4" -d"${SECONDS_EACH}s" --timeout 30s -s "$lua" "$url" | grep '^RESULT'
}
field() { sed -E "s/.* $1=([^ ]*).*/\1/" <<<"$2"; }

r_batch="$(load 500 0 2 4)"
r_single="$(load 1 0 2 64)"
# About 1,000 requests/s: 30 connections, each a request every 27 ms
# (and its answer's few), once the broker has settled after the loads above.
sleep 5
r_latency="$(load 10 27 2 30)"
hwm_kb=$(awk '/VmHWM/ {print $2}' "/proc/$gw/status")
kill -TERM "$gw"
wait "$gw" || true
trap bench_cleanup EXIT

b_rate=$(awk -v r="$(field requests "$r_batch")" -v s="$(field seconds "$r_batch")" \
    'BEGIN { printf "%.0f", r * 500 / s }')
s_rate=$(awk -v r="$(field requests "$r_single")" -v s="$(field seconds "$r_single")" \
    'BEGIN { printf "%.0f", r / s }')
l_rate=$(awk -v r="$(field requests "$r_latency")" -v s="$(field seconds "$r_latency")" \
    'BEGIN { printf "%.0f", r / s }')
echo "ingest benchmark: $EVENTS generated events ($BENCH_IDS ids), ${SECONDS_EACH} s a load, wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}')"
printf '%-44s %12s %10s %8s\n' "" events/s requests/s non-200
printf '%-44s %12s %10s %8s\n' "sentinel publish (reference), whole file" "$p_rate" "-" "-"
printf '%-44s %12s %10s %8s\n' "ingest: batches of 500, 4 connections" "$b_rate" \
    "$(awk -v e="$b_rate" 'BEGIN{printf "%.0f", e/500}')" "$(field non200 "$r_batch")"
printf '%-44s %12s %10s %8s\n' "ingest: single events, 64 connections" "$s_rate" "$s_rate" \
    "$(field non200 "$r_single")"
printf '%-44s %12s %10s %8s\n' "ingest: 10-event batches at ~1,000 req/s" \
    "$((l_rate * 10))" "$l_rate" "$(field non200 "$r_latency")"
echo "ratio batches/publish: $(ratio "$b_rate" "$p_rate")  (target 0.5)"
echo "single-event requests/s: $s_rate  (target 10,000)"
echo "acknowledgement latency at $l_rate req/s, ms: p50 $(field p50 "$r_latency"), p90 $(field p90 "$r_latency"), p99 $(field p99 "$r_latency") (target < 50), max $(field max "$r_latency")"
echo "peak RSS MB: gateway $((hwm_kb / 1024)) (target < 150), sentinel publish $((p_rss / 1024))"
