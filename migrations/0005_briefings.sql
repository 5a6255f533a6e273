-- 0005_briefings: briefing templates, generations, subscriptions, share
-- links and downloads.

CREATE TABLE briefings (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid REFERENCES workspaces (id),  -- NULL: a system template
    title              text NOT NULL,
    slug               text NOT NULL UNIQUE,
    description        text,
    icon               text,
    target_roles       jsonb NOT NULL DEFAULT '[]',
    parameter_schema   jsonb NOT NULL DEFAULT '{}',
    prompt_path        text,
    requires_ai        boolean NOT NULL DEFAULT true,
    eligible_plan_ids  jsonb NOT NULL DEFAULT '[]',
    output_formats     jsonb NOT NULL DEFAULT '["html"]',
    is_schedulable     boolean NOT NULL DEFAULT false,
    is_system          boolean NOT NULL DEFAULT false,
    sort_order         integer NOT NULL DEFAULT 0,
    is_active          boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (is_system = (workspace_id IS NULL))
);
CREATE INDEX briefings_workspace_id_idx ON briefings (workspace_id);

CREATE TABLE briefing_generations (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces (id),
    briefing_id       uuid NOT NULL REFERENCES briefings (id),
    generated_by_id   uuid REFERENCES users (id),
    parameters        jsonb,
    status            text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    progress          integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    progress_message  text,
    started_at        timestamptz,
    completed_at      timestamptz,
    narrative         text,
    structured_data   jsonb,
    achievements      jsonb,
    excerpts          jsonb,
    output_paths      jsonb,
    metadata          jsonb,
    error_message     text,
    expires_at        timestamptz,
    event_id          uuid NOT NULL,   -- the BriefingRequested that wrote the row
    last_event_id     uuid NOT NULL,   -- the newest event applied to it
    ignored_events    integer NOT NULL DEFAULT 0,  -- late progress after a final state
    created_at        timestamptz NOT NULL,
    UNIQUE (id, workspace_id)
);
CREATE INDEX briefing_generations_workspace_id_created_at_idx
    ON briefing_generations (workspace_id, created_at DESC);
CREATE INDEX briefing_generations_workspace_id_briefing_id_created_at_idx
    ON briefing_generations (workspace_id, briefing_id, created_at DESC);
CREATE INDEX briefing_generations_status_idx ON briefing_generations (status);
CREATE INDEX briefing_generations_expires_at_idx ON briefing_generations (expires_at);

-- Generations move pending -> processing -> completed | failed; the last two are final.
CREATE FUNCTION sentinel_briefing_generations_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status IN ('completed', 'failed') AND NEW.status IS DISTINCT FROM OLD.status THEN
        RAISE EXCEPTION 'briefing_generations: generation % is % (final); cannot move to %',
            OLD.id, OLD.status, NEW.status USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status = 'processing' AND NEW.status = 'pending' THEN
        RAISE EXCEPTION 'briefing_generations: generation % cannot go back to pending', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER briefing_generations_guard BEFORE UPDATE ON briefing_generations
    FOR EACH ROW EXECUTE FUNCTION sentinel_briefing_generations_guard();

CREATE TABLE briefing_subscriptions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces (id),
    user_id            uuid NOT NULL REFERENCES users (id),
    briefing_id        uuid NOT NULL REFERENCES briefings (id),
    schedule_preset    text NOT NULL CHECK (schedule_preset IN ('daily', 'weekly', 'monthly')),
    schedule_day       integer CHECK (schedule_day BETWEEN 0 AND 31),
    schedule_hour      integer NOT NULL DEFAULT 8 CHECK (schedule_hour BETWEEN 0 AND 23),
    parameters         jsonb NOT NULL DEFAULT '{}',
    delivery_channels  jsonb NOT NULL DEFAULT '["email"]',
    slack_webhook_url  bytea,  -- encrypted: sentinel_encrypt(url, key)
    last_generated_at  timestamptz,
    next_scheduled_at  timestamptz,
    is_active          boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX briefing_subscriptions_workspace_id_idx ON briefing_subscriptions (workspace_id);
CREATE INDEX briefing_subscriptions_next_scheduled_at_idx
    ON briefing_subscriptions (next_scheduled_at) WHERE is_active;

CREATE TABLE briefing_shares (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    briefing_generation_id  uuid NOT NULL,
    workspace_id            uuid NOT NULL,
    created_by_id           uuid REFERENCES users (id),
    token                   char(64) NOT NULL UNIQUE CHECK (token ~ '^[A-Za-z0-9_-]{64}$'),
    password_hash           text,
    access_count            integer NOT NULL DEFAULT 0 CHECK (access_count >= 0),
    max_accesses            integer CHECK (max_accesses > 0),
    expires_at              timestamptz,
    is_active               boolean NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (briefing_generation_id, workspace_id)
        REFERENCES briefing_generations (id, workspace_id)
);
CREATE INDEX briefing_shares_workspace_id_idx ON briefing_shares (workspace_id, created_at);

CREATE TABLE briefing_downloads (
    id                      uuid PRIMARY KEY,
    briefing_generation_id  uuid NOT NULL,
    workspace_id            uuid NOT NULL,
    user_id                 uuid REFERENCES users (id),  -- NULL for external shares
    format                  text NOT NULL CHECK (format IN ('html', 'pdf', 'markdown', 'slides')),
    source                  text NOT NULL CHECK (source IN ('dashboard', 'share_link', 'api', 'email')),
    ip_address              inet,
    user_agent              text,
    downloaded_at           timestamptz NOT NULL,
    event_id                uuid NOT NULL,
    created_at              timestamptz NOT NULL,
    FOREIGN KEY (briefing_generation_id, workspace_id)
        REFERENCES briefing_generations (id, workspace_id)
);
CREATE INDEX briefing_downloads_workspace_id_downloaded_at_idx
    ON briefing_downloads (workspace_id, downloaded_at);
CREATE INDEX briefing_downloads_briefing_generation_id_idx
    ON briefing_downloads (briefing_generation_id);

CREATE TRIGGER briefings_touch BEFORE UPDATE ON briefings
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER briefing_subscriptions_touch BEFORE UPDATE ON briefing_subscriptions
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER briefing_downloads_append_only BEFORE UPDATE OR DELETE ON briefing_downloads
    FOR EACH ROW EXECUTE FUNCTION sentinel_reject_change();
