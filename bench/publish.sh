#!/usr/bin/env bash
# publish.sh -- publish throughput: `sentinel publish` of N generated events
# (default 1,000,000) beside kcat producing the same Avro records (same keys,
# same bytes, same producer settings) in the same run.
#   bench/publish.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

input="$OUT/publish-$EVENTS.ndjson"
[[ -f "$input" ]] || "$SENTINEL" gen --events "$EVENTS" --seed 42 -o "$input"
records="$OUT/publish-$EVENTS.records"
[[ -f "$records" ]] || "$ROOT/build/release/bench_encode_avro" <"$input" >"$records"
bytes=$(stat -c %s "$input")

stamp=$(date +%s)
t_sentinel="bench.publish.sentinel.$stamp"
t_kcat="bench.publish.kcat.$stamp"
t_kcat_h="bench.publish.kcat-headers.$stamp"
delete_at_exit "$t_sentinel" "$t_kcat" "$t_kcat_h" "bench.publish.api.$stamp"
producer=(-X enable.idempotence=true -X acks=all -X compression.type=lz4 -X linger.ms=20
          -X batch.num.messages=10000 -X batch.size=1000000
          -X queue.buffering.max.messages=200000 -X queue.buffering.max.kbytes=131072
          -X partitioner=murmur2_random)

# Both topics created the same way (12 partitions) before timing.
printf '' | "$SENTINEL" publish --quiet --topic "$t_kcat" - >/dev/null 2>&1 || true
printf '' | "$SENTINEL" publish --quiet --topic "$t_sentinel" - >/dev/null 2>&1 || true
printf '' | "$SENTINEL" publish --quiet --topic "$t_kcat_h" - >/dev/null 2>&1 || true

run_timed "$OUT/time.sentinel" "$SENTINEL" publish --quiet --topic "$t_sentinel" "$input"
run_timed "$OUT/time.kcat" kcat -P -b "$SENTINEL_KAFKA_BROKERS" -t "$t_kcat" \
    -K '\x1e\x1fK\x1f\x1e' -D '\x1e\x1fM\x1f\x1e' "${producer[@]}" -l "$records"
# kcat again with two headers of the sizes sentinel's carry (event_type, a
# type name of 15 characters; event_id, a UUID's 36), the same on every
# message: what the headers alone cost the producer and the broker.
run_timed "$OUT/time.kcat-headers" kcat -P -b "$SENTINEL_KAFKA_BROKERS" -t "$t_kcat_h" \
    -H event_type=FindingRecorded -H event_id=d99a2743-ebe6-4087-82e9-6e726e97647e \
    -K '\x1e\x1fK\x1f\x1e' -D '\x1e\x1fM\x1f\x1e' "${producer[@]}" -l "$records"

read -r s_sec s_rss <"$OUT/time.sentinel"
read -r k_sec k_rss <"$OUT/time.kcat"
read -r h_sec h_rss <"$OUT/time.kcat-headers"
h_rate=$(rate "$EVENTS" "$h_sec")
s_rate=$(rate "$EVENTS" "$s_sec")
k_rate=$(rate "$EVENTS" "$k_sec")
echo "publish benchmark: $EVENTS events, $(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB of NDJSON in, Avro out"
printf '%-18s %10s %12s %10s %12s\n' "" seconds events/s "MB/s in" "peak RSS MB"
printf '%-18s %10s %12s %10s %12s\n' "sentinel publish" "$s_sec" "$s_rate" \
    "$(awk -v b="$bytes" -v s="$s_sec" 'BEGIN{printf "%.1f", b/1e6/s}')" "$((s_rss / 1024))"
printf '%-18s %10s %12s %10s %12s\n' "kcat (reference)" "$k_sec" "$k_rate" "-" "$((k_rss / 1024))"
printf '%-18s %10s %12s %10s %12s\n' "kcat, 2 headers" "$h_sec" "$h_rate" "-" "$((h_rss / 1024))"
echo "ratio sentinel/kcat: $(ratio "$s_rate" "$k_rate")  (validation + JSON parse + Avro encode on top of producing)"
echo "ratio sentinel/kcat with the two headers: $(ratio "$s_rate" "$h_rate")  (kcat with headers/kcat: $(ratio "$h_rate" "$k_rate"))"

# The C API from memory (bench/publish_api.c): JSON strings through the
# one-pass path, then events already built; same producer settings.
t_api="bench.publish.api.$stamp"
for suffix in json event; do
    printf '' | "$SENTINEL" publish --quiet --topic "$t_api.$suffix" - >/dev/null 2>&1 || true
done
echo
echo "C API, $EVENTS events from memory (20,000 distinct lines, sent in turn):"
printf '%-30s %10s %12s\n' "" seconds events/s
"$ROOT/build/release/bench_publish_api" "$input" "$EVENTS" "$t_api" | while read -r line; do
    echo "$line"
    rate_api=$(awk '{print $NF}' <<<"$line")
    echo "  ratio to kcat: $(ratio "$rate_api" "$k_rate")"
done
