-- 0008_engine: the projectors' own bookkeeping. Offsets, applied event ids,
-- dead letters and the usage ledger are written in the same transaction as
-- the projected rows they account for.

-- The next Kafka offset each projector will apply, per topic partition.
-- Advanced by compare-and-set: UPDATE ... WHERE next_offset = <batch's first>.
CREATE TABLE projector_offsets (
    projector    text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL CHECK (partition >= 0),
    next_offset  bigint NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projector, topic, partition)
);

-- Event ids each projector has applied (or dead-lettered): a redelivered id
-- (an integration's retry, a replay) is recognised and applied once.
CREATE TABLE applied_events (
    projector     text NOT NULL,
    event_id      uuid NOT NULL,
    workspace_id  uuid,
    PRIMARY KEY (projector, event_id)
);

-- Rejected events, never dropped: where they were in the log, what they
-- were, why they were rejected, and their raw bytes for a later retry.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    projector     text NOT NULL,
    topic         text NOT NULL,
    partition     integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    event_id      uuid,         -- NULL when the payload did not decode
    workspace_id  uuid,
    event_type    text,
    reason        text NOT NULL,
    payload       bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    retried_at    timestamptz,
    retry_count   integer NOT NULL DEFAULT 0,
    resolved_at   timestamptz,  -- set when a retry applied it
    UNIQUE (projector, topic, partition, kafka_offset)
);
CREATE INDEX dead_letters_workspace_id_idx ON dead_letters (workspace_id, created_at);
CREATE INDEX dead_letters_unresolved_idx ON dead_letters (projector) WHERE resolved_at IS NULL;

-- The auditable ledger of applied UsageIncremented events: one row per
-- event id, forever; usage_records are its sums per billing period.
CREATE TABLE usage_ledger (
    event_id      uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    metric        text NOT NULL
        CHECK (metric IN ('runs', 'commands', 'briefings', 'findings', 'annotations', 'tokens')),
    amount        bigint NOT NULL CHECK (amount > 0),
    subject_type  text,
    subject_id    uuid,
    occurred_at   timestamptz NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    topic         text NOT NULL,
    partition     integer NOT NULL,
    kafka_offset  bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_ledger_workspace_id_period_start_idx ON usage_ledger (workspace_id, period_start);
CREATE TRIGGER usage_ledger_append_only BEFORE UPDATE OR DELETE ON usage_ledger
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();
