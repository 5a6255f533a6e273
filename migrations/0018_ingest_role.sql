-- 0018_ingest_role: sentinel_ingest, the role `sentinel ingest` (the HTTP
-- gateway of integrations) connects as. It reads credentials (by the hash
-- of a token) and the repository-to-installation map, and writes a
-- credential's last-used time; nothing else, in no workspace's data.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sentinel_ingest') THEN
        CREATE ROLE sentinel_ingest NOLOGIN NOBYPASSRLS;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO sentinel_ingest;

-- Credentials: which workspace (and installation) a token publishes for,
-- and whether it is revoked. Not their names, never anything to write but
-- the last-used time.
GRANT SELECT (id, workspace_id, installation_id, token_sha256, revoked_at)
    ON ingest_credentials TO sentinel_ingest;
GRANT UPDATE (last_used_at) ON ingest_credentials TO sentinel_ingest;
CREATE POLICY ingest_gateway ON ingest_credentials TO sentinel_ingest
    USING (true) WITH CHECK (true);

-- Which installation a repository belongs to, in every workspace (a token
-- bound to an installation publishes for its repositories only).
GRANT SELECT (id, workspace_id, installation_id) ON repositories TO sentinel_ingest;
CREATE POLICY ingest_gateway ON repositories FOR SELECT TO sentinel_ingest USING (true);
