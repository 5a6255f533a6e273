-- 0013_roles: least privilege for the two roles that are not the owner.
--
--   sentinel_app        the product's tenant sessions. A session sets
--                       sentinel.workspace_id and sees and changes only that
--                       workspace's rows; it sees the users who belong to
--                       the workspace (its owner, its team's members, its
--                       invitations' inviters) and writes none; it cannot
--                       write what billing and the engine own.
--   sentinel_projector  the engine (project, replay, verify, status,
--                       dead-letters): reads the control plane, writes the
--                       projections and its own bookkeeping, nothing else.
--   the owner           runs sentinel migrate and rebuild swaps; owns
--                       everything below.

-- The inviter of an invitation, one of the users its workspace sees.
ALTER TABLE invitations ADD COLUMN invited_by_id uuid REFERENCES users (id);
CREATE INDEX invitations_invited_by_id_idx ON invitations (invited_by_id);
-- The inviter is one of the workspace's own people; else naming any user
-- as the inviter would show that user to the tenant.
CREATE FUNCTION sentinel_invitations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.invited_by_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM workspaces
                        WHERE id = NEW.workspace_id AND owner_user_id = NEW.invited_by_id)
       AND NOT EXISTS (SELECT 1 FROM team_members
                        WHERE workspace_id = NEW.workspace_id AND user_id = NEW.invited_by_id) THEN
        RAISE EXCEPTION 'invitations: inviter % is not a member of workspace %',
            NEW.invited_by_id, NEW.workspace_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER invitations_guard BEFORE INSERT OR UPDATE OF invited_by_id, workspace_id
    ON invitations FOR EACH ROW EXECUTE FUNCTION sentinel_invitations_guard();

---------------------------------------------------------------- sentinel_app

-- Users: read the workspace's own people only, write nobody.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_people ON users FOR SELECT USING (
    id IN (SELECT owner_user_id FROM workspaces WHERE id = sentinel_current_workspace())
    OR id IN (SELECT user_id FROM team_members WHERE workspace_id = sentinel_current_workspace())
    OR id IN (SELECT invited_by_id FROM invitations
              WHERE workspace_id = sentinel_current_workspace()));
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON users FROM sentinel_app;

-- Billing's and the engine's: readable where the tenant may know them,
-- never writable.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON plans, providers, provider_models, subscriptions,
    usage_records, usage_ledger, workspace_daily_metrics, applied_events, dead_letters
    FROM sentinel_app;
-- No workspace in them: none of a tenant's business.
REVOKE ALL ON schema_migrations, projector_offsets, projection_jobs FROM sentinel_app;

-- The workspace row: its name, owner and soft delete are the tenant's; the
-- plan and subscription columns are billing's.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON workspaces FROM sentinel_app;
GRANT INSERT (id, name, owner_user_id) ON workspaces TO sentinel_app;
GRANT UPDATE (name, owner_user_id, deleted_at) ON workspaces TO sentinel_app;

---------------------------------------------------------------- sentinel_projector

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM sentinel_projector;
-- The control plane it checks events against, and what status, verify and
-- usage report from.
GRANT SELECT ON workspaces, users, repositories, providers, briefings, plans, subscriptions,
    schema_migrations TO sentinel_projector;
-- The projections.
GRANT SELECT, INSERT ON run_keys, finding_keys, findings, annotations, briefing_downloads,
    activities, usage_ledger TO sentinel_projector;
GRANT SELECT, INSERT, UPDATE ON runs, command_runs, briefing_generations, usage_records,
    workspace_daily_metrics TO sentinel_projector;
-- Its bookkeeping: offsets by compare-and-set, applied ids (a dead letter
-- retry forgets some), dead letters, replay and rebuild jobs.
GRANT SELECT, INSERT, UPDATE ON projector_offsets, dead_letters, projection_jobs
    TO sentinel_projector;
GRANT SELECT, INSERT, DELETE ON applied_events TO sentinel_projector;

-- Monthly partitions are made on demand by the projector, which does not
-- own the partitioned tables: the function runs as its owner, only for the
-- live schema or a rebuild's shadow, and only inside the window events'
-- timestamps lie in, so no producer can make partitions for year 1.
CREATE OR REPLACE FUNCTION sentinel_ensure_month_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    month_utc  timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lower_at   timestamptz := month_utc AT TIME ZONE 'UTC';
    upper_at   timestamptz := (month_utc + interval '1 month') AT TIME ZONE 'UTC';
    part       text := format('%s_y%sm%s', parent, to_char(month_utc, 'YYYY'), to_char(month_utc, 'MM'));
    schema     text;
BEGIN
    IF parent NOT IN ('runs', 'findings') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is not partitioned by month', parent;
    END IF;
    IF at IS NULL OR at < '2000-01-01T00:00:00Z' OR at >= '2100-01-01T00:00:00Z' THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is outside [2000-01-01, 2100-01-01)', at
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    SELECT n.nspname INTO schema
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass(parent);
    IF schema IS NULL OR (schema <> 'public' AND schema NOT LIKE 'rebuild\_%') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % resolves to schema %, not public or a rebuild',
            parent, schema USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I.%I', schema, part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('sentinel.partition.' || schema || '.' || part));
    -- The lock does not refresh this session's view of the catalog: a
    -- partition another session has just made can still look missing.
    BEGIN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                       schema, part, schema, parent, lower_at, upper_at);
    EXCEPTION WHEN duplicate_table THEN
        NULL;
    END;
    RETURN part;
END
$$;
REVOKE EXECUTE ON FUNCTION sentinel_ensure_month_partition(text, timestamptz) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION sentinel_ensure_partitions(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sentinel_ensure_month_partition(text, timestamptz) TO sentinel_projector;
GRANT EXECUTE ON FUNCTION sentinel_ensure_partitions(timestamptz) TO sentinel_projector;
