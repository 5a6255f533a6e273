#!/usr/bin/env bash
# publish.sh -- publish throughput: `sentinel publish` of N generated events
# (default 1,000,000) beside kcat producing the same Avro records (same keys,
# same bytes, same producer settings) in the same run, in alternating
# rounds (PUBLISH_ROUNDS, default 5), their medians compared.
#   bench/publish.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null

input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"
records="${input%.ndjson}.records"
[[ -f "$records" ]] || "$ROOT/build/release/bench_encode_avro" <"$input" >"$records"
bytes=$(stat -c %s "$input")

stamp=$(date +%s)
delete_at_exit "bench.publish.$stamp."
producer=(-X enable.idempotence=true -X acks=all -X compression.type=lz4 -X linger.ms=20
          -X batch.num.messages=10000 -X batch.size=1000000
          -X queue.buffering.max.messages=200000 -X queue.buffering.max.kbytes=131072
          -X partitioner=murmur2_random)

# One timed publish of the input by NAME into a topic of its own, created
# the same way (12 partitions) before timing: "seconds peak_rss_kb" in
# $OUT/time.NAME.ROUND.
publish_once() {
    local name="$1" round="$2" topic="bench.publish.$stamp.$1.$2"
    printf '' | "$SENTINEL" publish --quiet --topic "$topic" - >/dev/null 2>&1 || true
    case "$name" in
    sentinel) run_timed "$OUT/time.$name.$round" "$SENTINEL" publish --quiet --topic "$topic" "$input" ;;
    kcat)
        run_timed "$OUT/time.$name.$round" kcat -P -b "$SENTINEL_KAFKA_BROKERS" -t "$topic" \
            -K '\x1e\x1fK\x1f\x1e' -D '\x1e\x1fM\x1f\x1e' "${producer[@]}" -l "$records" ;;
    # kcat again with two headers of the sizes sentinel's carry (event_type,
    # a type name of 15 characters; event_id, a UUID's 36), the same on
    # every message: what the headers alone cost the producer and broker.
    kcat-headers)
        run_timed "$OUT/time.$name.$round" kcat -P -b "$SENTINEL_KAFKA_BROKERS" -t "$topic" \
            -H event_type=FindingRecorded -H event_id=d99a2743-ebe6-4087-82e9-6e726e97647e \
            -K '\x1e\x1fK\x1f\x1e' -D '\x1e\x1fM\x1f\x1e' "${producer[@]}" -l "$records" ;;
    esac
}

# PUBLISH_ROUNDS rounds (default 5), each running the three in another
# order, so none always goes first (after the broker's idle time) or last;
# a round's three run back to back. On this machine one run of each varies
# by half its time from round to round, so the figures are the medians.
ROUNDS="${PUBLISH_ROUNDS:-5}"
names=(sentinel kcat kcat-headers)
for ((r = 0; r < ROUNDS; r++)); do
    for k in 0 1 2; do publish_once "${names[(r + k) % 3]}" "$r"; done
done
# median NAME: the median seconds, the range and the largest peak RSS.
median() {
    cat "$OUT/time.$1."* | sort -n | awk '{ s[NR] = $1; if ($2 > rss) rss = $2 }
        END { m = NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2
              printf "%.2f %s-%s %d\n", m, s[1], s[NR], rss / 1024 }'
}
read -r s_sec s_range s_rss < <(median sentinel)
read -r k_sec k_range k_rss < <(median kcat)
read -r h_sec h_range h_rss < <(median kcat-headers)
rm -f "$OUT/time.sentinel."* "$OUT/time.kcat."* "$OUT/time.kcat-headers."*
h_rate=$(rate "$EVENTS" "$h_sec")
s_rate=$(rate "$EVENTS" "$s_sec")
k_rate=$(rate "$EVENTS" "$k_sec")
echo "publish benchmark: $EVENTS events, $(awk -v b="$bytes" 'BEGIN{printf "%.1f", b/1e6}') MB of NDJSON in, Avro out; median of $ROUNDS rounds"
printf '%-18s %10s %12s %12s %10s %12s\n' "" seconds range events/s "MB/s in" "peak RSS MB"
printf '%-18s %10s %12s %12s %10s %12s\n' "sentinel publish" "$s_sec" "$s_range" "$s_rate" \
    "$(awk -v b="$bytes" -v s="$s_sec" 'BEGIN{printf "%.1f", b/1e6/s}')" "$s_rss"
printf '%-18s %10s %12s %12s %10s %12s\n' "kcat (reference)" "$k_sec" "$k_range" "$k_rate" "-" "$k_rss"
printf '%-18s %10s %12s %12s %10s %12s\n' "kcat, 2 headers" "$h_sec" "$h_range" "$h_rate" "-" "$h_rss"
echo "ratio sentinel/kcat: $(ratio "$s_rate" "$k_rate")  (validation + JSON parse + Avro encode on top of producing)"
echo "ratio sentinel/kcat with the two headers: $(ratio "$s_rate" "$h_rate")  (kcat with headers/kcat: $(ratio "$h_rate" "$k_rate"))"

# The C API from memory (bench/publish_api.c): JSON strings through the
# one-pass path, then events already built; same producer settings.
t_api="bench.publish.$stamp.api"
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
