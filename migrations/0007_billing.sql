-- 0007_billing: plans, subscriptions, usage_records, BYOK provider keys and
-- models, daily metric rollups, and the encryption of sensitive fields.

CREATE TABLE plans (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tier                    text NOT NULL UNIQUE
        CHECK (tier IN ('foundation', 'illuminate', 'orchestrate', 'sanctum')),
    description             text,
    monthly_runs_limit      integer CHECK (monthly_runs_limit >= 0),     -- NULL: unlimited
    monthly_commands_limit  integer CHECK (monthly_commands_limit >= 0), -- NULL: unlimited
    team_size_limit         integer CHECK (team_size_limit > 0),         -- NULL: unlimited
    features                jsonb NOT NULL DEFAULT '{}',
    limits                  jsonb NOT NULL DEFAULT '{}',
    price_monthly           integer NOT NULL CHECK (price_monthly >= 0),  -- cents
    price_yearly            integer NOT NULL CHECK (price_yearly >= 0),   -- cents
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE workspaces ADD FOREIGN KEY (plan_id) REFERENCES plans (id);

CREATE TABLE subscriptions (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id            uuid NOT NULL REFERENCES workspaces (id),
    plan_id                 uuid NOT NULL REFERENCES plans (id),
    status                  text NOT NULL
        CHECK (status IN ('trialing', 'active', 'past_due', 'cancelled')),
    started_at              timestamptz NOT NULL,
    ends_at                 timestamptz,
    stripe_customer_id      text,
    stripe_subscription_id  text UNIQUE,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > started_at)
);
CREATE INDEX subscriptions_workspace_id_started_at_idx ON subscriptions (workspace_id, started_at DESC);

CREATE TABLE usage_records (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       uuid NOT NULL REFERENCES workspaces (id),
    period_start       timestamptz NOT NULL,
    period_end         timestamptz NOT NULL,  -- exclusive
    runs_count         bigint NOT NULL DEFAULT 0 CHECK (runs_count >= 0),
    commands_count     bigint NOT NULL DEFAULT 0 CHECK (commands_count >= 0),
    briefings_count    bigint NOT NULL DEFAULT 0 CHECK (briefings_count >= 0),
    findings_count     bigint NOT NULL DEFAULT 0 CHECK (findings_count >= 0),
    annotations_count  bigint NOT NULL DEFAULT 0 CHECK (annotations_count >= 0),
    tokens_estimated   bigint NOT NULL DEFAULT 0 CHECK (tokens_estimated >= 0),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_records_workspace_id_period_start_key UNIQUE (workspace_id, period_start),
    CHECK (period_end > period_start)
);

CREATE TABLE provider_keys (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   uuid NOT NULL REFERENCES workspaces (id),
    provider       text NOT NULL,
    encrypted_key  bytea NOT NULL,  -- sentinel_encrypt(key, encryption key)
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, provider)
);

-- Reference data managed by Sentinel: not workspace-scoped.
CREATE TABLE provider_models (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider               text NOT NULL,
    identifier             text NOT NULL,
    name                   text NOT NULL,
    description            text,
    is_default             boolean NOT NULL DEFAULT false,
    is_active              boolean NOT NULL DEFAULT true,
    sort_order             integer NOT NULL DEFAULT 0,
    context_window_tokens  integer CHECK (context_window_tokens > 0),
    max_output_tokens      integer CHECK (max_output_tokens > 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider, identifier)
);

CREATE TABLE workspace_daily_metrics (
    workspace_id      uuid NOT NULL REFERENCES workspaces (id),
    date              date NOT NULL,  -- UTC date of the events' occurred_at
    runs_count        bigint NOT NULL DEFAULT 0 CHECK (runs_count >= 0),
    findings_count    bigint NOT NULL DEFAULT 0 CHECK (findings_count >= 0),
    critical_count    bigint NOT NULL DEFAULT 0 CHECK (critical_count >= 0),
    warning_count     bigint NOT NULL DEFAULT 0 CHECK (warning_count >= 0),
    tokens_estimated  bigint NOT NULL DEFAULT 0 CHECK (tokens_estimated >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, date)
);

CREATE TRIGGER plans_touch BEFORE UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER subscriptions_touch BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER usage_records_touch BEFORE UPDATE ON usage_records
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER provider_keys_touch BEFORE UPDATE ON provider_keys
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();
CREATE TRIGGER provider_models_touch BEFORE UPDATE ON provider_models
    FOR EACH ROW EXECUTE FUNCTION sentinel_touch_updated_at();

-- Sensitive fields are encrypted at rest with OpenPGP symmetric encryption
-- (AES-256, salted and iterated key derivation). The key is a parameter of
-- each call, supplied by the application from its own secret store; it is
-- never stored in the database.
CREATE FUNCTION sentinel_encrypt(plaintext text, key text) RETURNS bytea
LANGUAGE sql STRICT VOLATILE AS $$
    SELECT pgp_sym_encrypt(plaintext, key, 'cipher-algo=aes256, s2k-mode=3')
$$;

CREATE FUNCTION sentinel_decrypt(ciphertext bytea, key text) RETURNS text
LANGUAGE sql STRICT IMMUTABLE AS $$
    SELECT pgp_sym_decrypt(ciphertext, key)
$$;
