#!/usr/bin/env bash
# keys.sh -- what the key tables cost PostgreSQL. Runs and findings are
# partitioned by month, so their ids are unique, and referenced, through
# run_keys and finding_keys, written with every run and finding. The rows one
# projection of N generated events (default 1,000,000) wrote for the runs
# projector are COPY'd (binary, one transaction) three ways, each into an
# empty database, in KEYS_ROUNDS alternating rounds (default 2):
#   - as the engine writes them: run_keys, runs, finding_keys, findings,
#     annotations;
#   - the entity rows alone, the key tables loaded first and untimed: the
#     share of bench/project.sh's entity reference;
#   - the same rows into runs, findings and annotations made without
#     partitions, so without key tables, under the same guarantees (ids
#     unique; a run's repository, a finding's run and an annotation's finding
#     in its own workspace): a measurement for the schema's choice, not the
#     schema.
#   bench/keys.sh [EVENTS]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
EVENTS="${1:-1000000}"
ROUNDS="${KEYS_ROUNDS:-2}"
input="$(generated "publish-$EVENTS.ndjson" --events "$EVENTS" --seed 42)"

stamp=$(date +%s)
topic="bench.keys.$stamp"
delete_at_exit "$topic"
make_template >/dev/null
echo "publishing $EVENTS events to $topic and projecting them ..." >&2
"$SENTINEL" publish --quiet --topic "$topic" "$input"
fresh_db bench_keys >/dev/null
"$SENTINEL" project --until-caught-up --topic "$topic" --db "$(engine_url bench_keys)" \
    --group-prefix "keys$stamp" --projector runs

# The layout without partitions: the same columns, checks and indexes; the
# primary keys on id alone, (id, workspace_id) unique where a foreign key
# names it, and the foreign keys straight to the rows.
flat_ddl='
CREATE SCHEMA flat;
CREATE TABLE flat.runs (LIKE public.runs INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE flat.runs ADD PRIMARY KEY (id), ADD UNIQUE (id, workspace_id),
    ADD FOREIGN KEY (workspace_id) REFERENCES public.workspaces (id),
    ADD FOREIGN KEY (repository_id, workspace_id) REFERENCES public.repositories (id, workspace_id);
CREATE INDEX ON flat.runs (workspace_id, created_at);
CREATE INDEX ON flat.runs (repository_id, created_at);
CREATE TABLE flat.findings (LIKE public.findings INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE flat.findings ADD PRIMARY KEY (id), ADD UNIQUE (id, workspace_id),
    ADD FOREIGN KEY (run_id, workspace_id) REFERENCES flat.runs (id, workspace_id);
CREATE INDEX ON flat.findings (workspace_id, created_at);
CREATE INDEX ON flat.findings (run_id);
CREATE INDEX ON flat.findings (workspace_id, finding_hash);
CREATE TABLE flat.annotations (LIKE public.annotations INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE flat.annotations ADD PRIMARY KEY (id),
    ADD FOREIGN KEY (provider_id) REFERENCES public.providers (id),
    ADD FOREIGN KEY (finding_id, workspace_id) REFERENCES flat.findings (id, workspace_id);
CREATE INDEX ON flat.annotations (workspace_id, created_at);
CREATE INDEX ON flat.annotations (finding_id);'

# flat_once TIMEFILE: the rows exported by copy_reference, into the flat
# layout of a new database.
flat_once() {
    fresh_db bench_keys_flat >/dev/null
    psql -X -q -v ON_ERROR_STOP=1 "$(db_url bench_keys_flat)" -c "$flat_ddl"
    {
        echo "BEGIN;"
        for t in runs findings annotations; do
            echo "\\copy flat.$t FROM '$OUT/$t.copy' WITH (FORMAT binary)"
        done
        echo "COMMIT;"
    } >"$OUT/keys_flat.sql"
    run_timed "$1" psql -X -q -v ON_ERROR_STOP=1 "$(db_url bench_keys_flat)" -f "$OUT/keys_flat.sql"
}

for ((r = 0; r < ROUNDS; r++)); do
    fresh_db bench_keys_copy >/dev/null
    copy_reference bench_keys bench_keys_copy "$OUT/time.keys.written.$r" \
        run_keys runs finding_keys findings annotations
    fresh_db bench_keys_copy >/dev/null
    COPY_PRELOAD="run_keys finding_keys" copy_reference bench_keys bench_keys_copy \
        "$OUT/time.keys.entity.$r" runs findings annotations
    entity_rows=$rows
    flat_once "$OUT/time.keys.flat.$r"
done
# seconds NAME: each round's seconds, and their median.
seconds() {
    cut -d' ' -f1 "$OUT/time.keys.$1."* | sort -n | awk '{ s[NR] = $1; all = all (NR > 1 ? " " : "") $1 }
        END { printf "%s %.2f\n", all, NR % 2 ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2 }'
}
read -r -a written < <(seconds written)
read -r -a entity < <(seconds entity)
read -r -a flat < <(seconds flat)
rm -f "$OUT/time.keys."*
echo "key tables benchmark: the runs projector's rows of $EVENTS events ($BENCH_IDS ids; $entity_rows entity rows), COPY'd, $ROUNDS rounds"
printf '%-58s %8s   %s\n' "" median rounds
printf '%-58s %8s   %s\n' "as written: key tables and entity rows" "${written[-1]}" "${written[*]:0:${#written[@]}-1}"
printf '%-58s %8s   %s\n' "entity rows, key tables loaded first (the reference)" "${entity[-1]}" "${entity[*]:0:${#entity[@]}-1}"
printf '%-58s %8s   %s\n' "entity rows, no partitions, no key tables" "${flat[-1]}" "${flat[*]:0:${#flat[@]}-1}"
echo "ratio reference/as written: $(ratio "${entity[-1]}" "${written[-1]}")  (the most a projection writing key tables can reach on these tables)"
echo "ratio reference/no key tables: $(ratio "${entity[-1]}" "${flat[-1]}")"
