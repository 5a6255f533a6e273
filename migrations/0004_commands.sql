-- 0004_commands: command_runs, one per @sentinel command execution.

CREATE TABLE command_runs (
    id                  uuid PRIMARY KEY,
    workspace_id        uuid NOT NULL,
    repository_id       uuid NOT NULL,
    external_reference  text NOT NULL,
    github_comment_id   bigint,
    issue_number        integer,
    is_pull_request     boolean,
    command_type        text NOT NULL,
    query               text,
    status              text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'completed', 'failed')),
    started_at          timestamptz,
    completed_at        timestamptz,
    duration_seconds    double precision CHECK (duration_seconds >= 0),
    response            jsonb,
    context_snapshot    jsonb,
    metrics             jsonb,
    metadata            jsonb,
    event_id            uuid NOT NULL,
    completed_event_id  uuid,
    created_at          timestamptz NOT NULL,
    FOREIGN KEY (repository_id, workspace_id) REFERENCES repositories (id, workspace_id),
    CONSTRAINT command_runs_workspace_id_external_reference_key
        UNIQUE (workspace_id, external_reference),
    CHECK ((status = 'running') = (completed_event_id IS NULL))
);
CREATE INDEX command_runs_workspace_id_created_at_idx ON command_runs (workspace_id, created_at);
CREATE INDEX command_runs_repository_id_created_at_idx ON command_runs (repository_id, created_at);
CREATE INDEX command_runs_status_idx ON command_runs (status);
CREATE INDEX command_runs_command_type_idx ON command_runs (command_type);
CREATE INDEX command_runs_github_comment_id_idx ON command_runs (github_comment_id);
