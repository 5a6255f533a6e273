-- 0001_identity: roles, shared functions, and the identity tables
-- (users, workspaces, teams, team_members, invitations).

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Roles are cluster-wide, so create them only when missing.
--   sentinel_app        the product's application role: row-level security applies
--   sentinel_projector  the engine's projectors: the only role that bypasses it
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sentinel_app') THEN
        CREATE ROLE sentinel_app NOLOGIN NOBYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sentinel_projector') THEN
        CREATE ROLE sentinel_projector NOLOGIN BYPASSRLS;
    END IF;
END
$$;

-- The workspace of the current session, from the sentinel.workspace_id
-- setting; NULL when unset or empty, so a tenant policy then matches nothing.
CREATE FUNCTION sentinel_current_workspace() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT NULLIF(current_setting('sentinel.workspace_id', true), '')::uuid
$$;

CREATE FUNCTION sentinel_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- Rejects UPDATE and DELETE on append-only tables.
CREATE FUNCTION sentinel_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: rows are append-only; % is not allowed', TG_TABLE_NAME, lower(TG_OP)
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TABLE users (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL,
    email       text NOT NULL,
    avatar_url  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE deleted_at IS NULL;

CREATE TABLE workspaces (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL,
    owner_user_id        uuid NOT NULL REFERENCES users (id),
    plan_id              uuid,  -- REFERENCES plans (id), added with the plans table
    subscription_status  text NOT NULL DEFAULT 'trialing'
        CHECK (subscription_status IN ('trialing', 'active', 'past_due', 'cancelled', 'none')),
    trial_ends_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);
CREATE INDEX workspaces_owner_user_id_idx ON workspaces (owner_user_id);

CREATE TABLE teams (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- Each workspace has exactly one team.
    CONSTRAINT teams_workspace_id_key UNIQUE (workspace_id),
    CONSTRAINT teams_id_workspace_key UNIQUE (id, workspace_id)
);

CREATE TABLE team_members (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL,
    team_id       uuid NOT NULL,
    user_id       uuid NOT NULL REFERENCES users (id),
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- The member's workspace is its team's workspace.
    FOREIGN KEY (team_id, workspace_id) REFERENCES teams (id, workspace_id),
    UNIQUE (team_id, user_id)
);
CREATE INDEX team_members_workspace_id_idx ON team_members (workspace_id);
CREATE INDEX team_members_user_id_idx ON team_members (user_id);

CREATE TABLE invitations (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL,
    team_id       uuid NOT NULL,
    email         text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
    token         text NOT NULL UNIQUE,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (team_id, workspace_id) REFERENCES teams (id, workspace_id)
);
CREATE INDEX invitations_workspace_id_idx ON invitations (workspace_id, created_at);

CREATE TRIGGER users_touch BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER workspaces_touch BEFORE UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER teams_touch BEFORE UPDATE ON teams
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER team_members_touch BEFORE UPDATE ON team_members
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
