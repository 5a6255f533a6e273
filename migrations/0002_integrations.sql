-- 0002_integrations: providers, connections, installations, repositories,
-- repository_settings.

CREATE TABLE providers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE connections (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    provider_id   uuid NOT NULL REFERENCES providers (id),
    status        text NOT NULL CHECK (status IN ('pending', 'active', 'revoked', 'error')),
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, provider_id)
);

CREATE TABLE installations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    provider_id   uuid NOT NULL REFERENCES providers (id),
    external_id   text NOT NULL,
    metadata      jsonb NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, external_id),
    UNIQUE (id, workspace_id)
);
CREATE INDEX installations_workspace_id_idx ON installations (workspace_id);

CREATE TABLE repositories (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces (id),
    installation_id  uuid NOT NULL,
    external_id      text NOT NULL,
    name             text NOT NULL,
    default_branch   text NOT NULL DEFAULT 'main',
    is_enabled       boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz,
    FOREIGN KEY (installation_id, workspace_id) REFERENCES installations (id, workspace_id),
    UNIQUE (installation_id, external_id),
    UNIQUE (id, workspace_id)
);
CREATE INDEX repositories_workspace_id_idx ON repositories (workspace_id, created_at);

CREATE TABLE repository_settings (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL,
    repository_id  uuid NOT NULL UNIQUE,
    settings       jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (repository_id, workspace_id) REFERENCES repositories (id, workspace_id)
);
CREATE INDEX repository_settings_workspace_id_idx ON repository_settings (workspace_id);

CREATE TRIGGER connections_touch BEFORE UPDATE ON connections
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER installations_touch BEFORE UPDATE ON installations
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER repositories_touch BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER repository_settings_touch BEFORE UPDATE ON repository_settings
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
