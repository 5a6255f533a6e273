-- 0006_activities_policies: the activity log (append-only) and named policies.

CREATE TABLE activities (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    user_id       uuid REFERENCES users (id),  -- NULL for system actions
    type          text NOT NULL,
    subject_type  text,
    subject_id    uuid,
    description   text,
    metadata      jsonb,
    event_id      uuid NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX activities_workspace_id_created_at_idx ON activities (workspace_id, created_at DESC);
CREATE INDEX activities_workspace_id_type_idx ON activities (workspace_id, type);
CREATE INDEX activities_subject_type_subject_id_idx ON activities (subject_type, subject_id);
CREATE TRIGGER activities_append_only BEFORE UPDATE OR DELETE ON activities
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();

CREATE TABLE policies (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces (id),
    name          text NOT NULL,
    config        jsonb NOT NULL DEFAULT '{}',
    version       integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name, version)
);
