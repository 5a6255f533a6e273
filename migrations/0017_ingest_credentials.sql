-- 0017_ingest_credentials: the credentials integrations publish with over
-- HTTP (sentinel ingest). A token is shown once, when made, and kept only
-- as its SHA-256; a credential publishes for its workspace, and when bound
-- to an installation, for that installation's repositories only. Revoking
-- sets revoked_at; rows are never deleted, so the record stays.
CREATE TABLE ingest_credentials (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid NOT NULL REFERENCES workspaces (id),
    installation_id uuid,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    token_sha256    bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    FOREIGN KEY (installation_id, workspace_id) REFERENCES installations (id, workspace_id)
);
CREATE INDEX ingest_credentials_workspace_id_idx ON ingest_credentials (workspace_id);

-- A tenant table like every other: the product sees its own workspace's
-- credentials (never a token: only its hash is stored) and writes none.
ALTER TABLE ingest_credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE ingest_credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ingest_credentials
    USING (workspace_id = sentinel_current_workspace())
    WITH CHECK (workspace_id = sentinel_current_workspace());
GRANT SELECT ON ingest_credentials TO sentinel_app;
