#!/usr/bin/env bash
# rolling.sh -- freshness while a fleet rolls: three `sentinel project`
# processes in one group on the 12-partition topic under a steady 5,000
# events/s with five markers a second (bench_freshness); every ROUND
# seconds one is stopped with SIGTERM and started again, in turn, then one
# is killed with -9 and started again. Prints the markers' p50, p99 and max
# over the whole run, beside the same load with no roll.
#   bench/rolling.sh [ROUND]   (default 15 s between steps)
# ROLLING_KILL=0 leaves the kill out (SIGTERM only), to tell the causes apart;
# ROLLING_STATIC=0 runs the fleet without --instance-id (dynamic members).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ROUND="${1:-15}"
RUN=$((ROUND * 6))
live_input="$(generated "live-300000.ndjson" --events 300000 --seed 7)"
cmake --build "$ROOT/build/release" --target bench_freshness >/dev/null
FRESH="$ROOT/build/release/bench_freshness"
make_template >/dev/null

# run_fleet NAME ROLL: the fleet under the load for RUN seconds, rolled or
# not; leaves bench_freshness's line ("rate markers p50 p90 p99 max lost").
run_fleet() {
    local name="$1" roll="$2" stamp topic db i pids=() fresh
    stamp="$(date +%s)"
    topic="bench.rolling.$name.$stamp"
    delete_at_exit "$topic"
    fresh_db "bench_rolling_$name" >/dev/null
    db="$(engine_url "bench_rolling_$name")"
    head -1 "$live_input" | "$SENTINEL" publish --quiet --topic "$topic" - # 12 partitions
    start_one() {
        local member=()
        [[ "${ROLLING_STATIC:-1}" != 0 ]] && member=(--instance-id "fleet-$1")
        "$SENTINEL" project --topic "$topic" --db "$db" --group-prefix "roll$name$stamp" \
            -X session.timeout.ms=6000 "${member[@]}" >>"$OUT/rolling-$name-$1.log" 2>&1 &
        pids[$1]=$!
    }
    for i in 0 1 2; do start_one "$i"; done
    sleep 5
    "$FRESH" "$SENTINEL_KAFKA_BROKERS" "$topic" "$db" "$live_input" 5000 "$RUN" 5 \
        >"$OUT/rolling-$name.fresh" &
    fresh=$!
    if [[ "$roll" == roll ]]; then
        for i in 0 1 2; do
            sleep "$ROUND"
            kill -TERM "${pids[$i]}"
            wait "${pids[$i]}" || true
            start_one "$i"
        done
        if [[ "${ROLLING_KILL:-1}" != 0 ]]; then
            sleep "$ROUND"
            kill -KILL "${pids[0]}"
            wait "${pids[0]}" 2>/dev/null || true
            start_one 0
        fi
    fi
    wait "$fresh" || true
    for i in 0 1 2; do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
    wait || true
}

run_fleet steady none
run_fleet rolled roll
echo "rolling benchmark: 3 processes$([[ "${ROLLING_STATIC:-1}" != 0 ]] && echo " (static members, --instance-id)"), 12 partitions,"
echo "5,000 events/s and five markers a second for $RUN s;"
echo "rolled: each stopped (SIGTERM) and started in turn$([[ "${ROLLING_KILL:-1}" != 0 ]] && echo ", then one killed (-9)"), ${ROUND} s apart"
printf '%-22s %8s %8s %8s %8s %6s\n' "" markers "p50 ms" "p99 ms" "max ms" lost
for name in steady rolled; do
    read -r _ markers p50 _ p99 max lost <"$OUT/rolling-$name.fresh"
    printf '%-22s %8s %8s %8s %8s %6s\n' "$name" "$markers" "$p50" "$p99" "$max" "$lost"
done
echo "(target: p99 under 2,000 ms while rolling; without instance ids a kill waits for session.timeout.ms, 6 s here)"
