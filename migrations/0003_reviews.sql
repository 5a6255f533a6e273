-- 0003_reviews: runs and findings, range-partitioned by month of created_at,
-- and annotations. Runs are immutable once completed; findings and
-- annotations are never updated or deleted.

-- A partitioned table's unique keys must include the partition key, so the
-- global uniqueness of run and finding ids, and the foreign keys that point
-- at them, live in these narrow key tables, written with each row.
CREATE TABLE run_keys (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    created_at    timestamptz NOT NULL,
    UNIQUE (id, workspace_id)
);

CREATE TABLE runs (
    id                  uuid NOT NULL,
    workspace_id        uuid NOT NULL,
    repository_id       uuid NOT NULL,
    external_reference  text NOT NULL,
    status              text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    started_at          timestamptz,
    completed_at        timestamptz,
    metrics             jsonb,
    policy_snapshot     jsonb,
    metadata            jsonb,
    event_id            uuid NOT NULL,  -- the RunStarted that wrote the row
    completed_event_id  uuid,           -- the RunCompleted that closed it
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (id, created_at),
    FOREIGN KEY (id, workspace_id) REFERENCES run_keys (id, workspace_id),
    FOREIGN KEY (repository_id, workspace_id) REFERENCES repositories (id, workspace_id),
    CHECK ((status = 'running') = (completed_event_id IS NULL))
) PARTITION BY RANGE (created_at);
CREATE INDEX runs_workspace_id_created_at_idx ON runs (workspace_id, created_at);
CREATE INDEX runs_repository_id_created_at_idx ON runs (repository_id, created_at);

CREATE TABLE finding_keys (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    run_id        uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (id, workspace_id),
    FOREIGN KEY (run_id, workspace_id) REFERENCES run_keys (id, workspace_id)
);

CREATE TABLE findings (
    id            uuid NOT NULL,
    run_id        uuid NOT NULL,
    finding_hash  text NOT NULL,
    workspace_id  uuid NOT NULL,
    severity      text NOT NULL CHECK (severity IN ('critical', 'warning', 'info')),
    category      text NOT NULL,
    title         text NOT NULL,
    description   text,
    file_path     text,
    line_start    integer CHECK (line_start >= 0),
    line_end      integer CHECK (line_end >= 0),
    confidence    double precision CHECK (confidence BETWEEN 0 AND 1),
    metadata      jsonb,
    event_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (id, created_at),
    FOREIGN KEY (id, workspace_id) REFERENCES finding_keys (id, workspace_id),
    FOREIGN KEY (run_id, workspace_id) REFERENCES run_keys (id, workspace_id),
    CHECK (line_end IS NULL OR line_start IS NULL OR line_end >= line_start)
) PARTITION BY RANGE (created_at);
CREATE INDEX findings_workspace_id_created_at_idx ON findings (workspace_id, created_at);
CREATE INDEX findings_run_id_idx ON findings (run_id);
CREATE INDEX findings_workspace_id_finding_hash_idx ON findings (workspace_id, finding_hash);

CREATE TABLE annotations (
    id            uuid PRIMARY KEY,
    finding_id    uuid NOT NULL,
    workspace_id  uuid NOT NULL,
    provider_id   uuid NOT NULL REFERENCES providers (id),
    external_id   text NOT NULL,
    type          text NOT NULL,
    event_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    FOREIGN KEY (finding_id, workspace_id) REFERENCES finding_keys (id, workspace_id)
);
CREATE INDEX annotations_workspace_id_created_at_idx ON annotations (workspace_id, created_at);
CREATE INDEX annotations_finding_id_idx ON annotations (finding_id);

-- Runs: delete never; update only while running, and only the completion.
CREATE FUNCTION sentinel_runs_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'runs: rows are append-only; delete is not allowed'
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'running' THEN
        RAISE EXCEPTION 'runs: run % is % and immutable', OLD.id, OLD.status
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.id, NEW.workspace_id, NEW.repository_id, NEW.external_reference, NEW.started_at,
        NEW.policy_snapshot, NEW.metadata, NEW.event_id, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.workspace_id, OLD.repository_id, OLD.external_reference, OLD.started_at,
        OLD.policy_snapshot, OLD.metadata, OLD.event_id, OLD.created_at) THEN
        RAISE EXCEPTION 'runs: run %: only status, completed_at, metrics and completed_event_id may change', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER runs_guard BEFORE UPDATE OR DELETE ON runs
    FOR EACH ROW EXECUTE FUNCTION sentinel_runs_guard();

CREATE TRIGGER findings_append_only BEFORE UPDATE OR DELETE ON findings
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();
CREATE TRIGGER annotations_append_only BEFORE UPDATE OR DELETE ON annotations
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();
CREATE TRIGGER run_keys_append_only BEFORE UPDATE OR DELETE ON run_keys
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();
CREATE TRIGGER finding_keys_append_only BEFORE UPDATE OR DELETE ON finding_keys
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();

-- The monthly partition of `parent` holding `at` (UTC months), created when
-- missing, for any month: backfills bring history. Safe to call concurrently.
-- Returns the partition's name, for example runs_y2026m11.
CREATE FUNCTION sentinel_ensure_month_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_utc  timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lower_at   timestamptz := month_utc AT TIME ZONE 'UTC';
    upper_at   timestamptz := (month_utc + interval '1 month') AT TIME ZONE 'UTC';
    part       text := format('%s_y%sm%s', parent, to_char(month_utc, 'YYYY'), to_char(month_utc, 'MM'));
BEGIN
    IF parent NOT IN ('runs', 'findings') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is not partitioned by month', parent;
    END IF;
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('sentinel.partition.' || part));
    IF to_regclass(part) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       part, parent, lower_at, upper_at);
    END IF;
    RETURN part;
END
$$;

-- Both partitioned tables at once: what a projector calls for each month it
-- is about to write.
CREATE FUNCTION sentinel_ensure_partitions(at timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT sentinel_ensure_month_partition('runs', at);
    SELECT sentinel_ensure_month_partition('findings', at);
$$;
