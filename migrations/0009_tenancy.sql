-- 0009_tenancy: row-level security on every table that stores user or
-- operational data. The application role sees and writes only the rows of
-- the workspace named by the session's sentinel.workspace_id setting, and
-- nothing when it is unset. Only sentinel_projector (BYPASSRLS) and
-- superusers bypass it. FORCE makes it apply to table owners too.

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'teams', 'team_members', 'invitations',
        'connections', 'installations', 'repositories', 'repository_settings',
        'run_keys', 'runs', 'finding_keys', 'findings', 'annotations',
        'command_runs',
        'briefing_generations', 'briefing_subscriptions', 'briefing_shares', 'briefing_downloads',
        'activities', 'policies',
        'subscriptions', 'usage_records', 'provider_keys', 'workspace_daily_metrics',
        'usage_ledger', 'dead_letters', 'applied_events'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I
                            USING (workspace_id = sentinel_current_workspace())
                            WITH CHECK (workspace_id = sentinel_current_workspace())', t);
    END LOOP;
END
$$;

-- The tenant itself: a session sees its own workspace row only.
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspaces FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON workspaces
    USING (id = sentinel_current_workspace())
    WITH CHECK (id = sentinel_current_workspace());

-- Templates: everyone reads the system ones (workspace_id NULL); a workspace
-- reads and writes its own custom ones only.
ALTER TABLE briefings ENABLE ROW LEVEL SECURITY;
ALTER TABLE briefings FORCE ROW LEVEL SECURITY;
CREATE POLICY system_templates_read ON briefings FOR SELECT
    USING (workspace_id IS NULL);
CREATE POLICY tenant_isolation ON briefings
    USING (workspace_id = sentinel_current_workspace())
    WITH CHECK (workspace_id = sentinel_current_workspace());

GRANT USAGE ON SCHEMA public TO sentinel_app, sentinel_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
    TO sentinel_app, sentinel_projector;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sentinel_app, sentinel_projector;
-- Reference data: the application reads it, only migrations write it.
REVOKE INSERT, UPDATE, DELETE ON plans, providers, provider_models FROM sentinel_app;
-- Engine bookkeeping is the projectors' alone to write.
REVOKE INSERT, UPDATE, DELETE ON projector_offsets, applied_events, dead_letters, usage_ledger
    FROM sentinel_app;
