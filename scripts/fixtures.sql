-- fixtures.sql -- demo control-plane data: users, workspaces with their team
-- and members, subscriptions, provider installations and connections,
-- repositories and system briefing templates. Idempotent (ON CONFLICT DO
-- NOTHING), deterministic ids, so the event generator can name them:
--   workspace w        a0000000-0000-4000-8000-<w, 12 digits>
--   repository (w, r)  b0000000-0000-4000-8000-<w, 6 digits><r, 6 digits>
--   user u             c0000000-0000-4000-8000-<u, 12 digits>
--   template t         d0000000-0000-4000-8000-<t, 12 digits>
-- Variables: workspaces (count), repositories (per workspace).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
BEGIN;

CREATE TEMP TABLE fx_ws ON COMMIT DROP AS
SELECT w,
       ('a0000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS id,
       ('a1000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS team_id,
       ('a2000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS installation_id,
       ('a3000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS subscription_id,
       ('c0000000-0000-4000-8000-' || lpad(w::text, 12, '0'))::uuid AS owner_id,
       (ARRAY['foundation', 'illuminate', 'orchestrate', 'sanctum'])[1 + (w - 1) % 4] AS tier
FROM generate_series(1, :workspaces) AS w;

-- Owners are users 1..N; users N+1..N+3 are members of every workspace.
INSERT INTO users (id, name, email, avatar_url)
SELECT ('c0000000-0000-4000-8000-' || lpad(u::text, 12, '0'))::uuid,
       'User ' || u, 'user' || u || '@example.com',
       'https://avatars.example.com/u/' || u
FROM generate_series(1, :workspaces + 3) AS u
ON CONFLICT (id) DO NOTHING;

INSERT INTO workspaces (id, name, owner_user_id, plan_id, subscription_status, trial_ends_at)
SELECT fx.id, 'Workspace ' || fx.w, fx.owner_id, p.id,
       CASE WHEN fx.w % 2 = 0 THEN 'active' ELSE 'trialing' END,
       CASE WHEN fx.w % 2 = 0 THEN NULL ELSE timestamptz '2027-01-31 00:00:00+00' END
FROM fx_ws fx JOIN plans p ON p.tier = fx.tier
ON CONFLICT (id) DO NOTHING;

INSERT INTO teams (id, workspace_id, name)
SELECT team_id, id, 'Team ' || w FROM fx_ws
ON CONFLICT (id) DO NOTHING;

INSERT INTO team_members (workspace_id, team_id, user_id, role)
SELECT fx.id, fx.team_id, fx.owner_id, 'owner' FROM fx_ws fx
UNION ALL
SELECT fx.id, fx.team_id,
       ('c0000000-0000-4000-8000-' || lpad((:workspaces + m)::text, 12, '0'))::uuid,
       (ARRAY['admin', 'member', 'viewer'])[m]
FROM fx_ws fx CROSS JOIN generate_series(1, 3) AS m
ON CONFLICT (team_id, user_id) DO NOTHING;

-- Even workspaces pay: a subscription anchored on varied days of the month
-- (the 31st among them, to exercise clamped billing periods). Odd
-- workspaces have none and bill by calendar month.
INSERT INTO subscriptions (id, workspace_id, plan_id, status, started_at, stripe_customer_id,
                           stripe_subscription_id)
SELECT fx.subscription_id, fx.id, p.id, 'active',
       timestamptz '2025-01-01 00:00:00+00'
           + make_interval(days => (ARRAY[30, 14, 0, 27])[1 + (fx.w / 2 - 1) % 4]),
       'cus_demo' || fx.w, 'sub_demo' || fx.w
FROM fx_ws fx JOIN plans p ON p.tier = fx.tier
WHERE fx.w % 2 = 0
ON CONFLICT (id) DO NOTHING;

INSERT INTO connections (workspace_id, provider_id, status, metadata)
SELECT fx.id, pr.id, 'active', jsonb_build_object('account', 'org-' || fx.w)
FROM fx_ws fx JOIN providers pr ON pr.slug = 'github'
ON CONFLICT (workspace_id, provider_id) DO NOTHING;

INSERT INTO installations (id, workspace_id, provider_id, external_id, metadata)
SELECT fx.installation_id, fx.id, pr.id, (1000000 + fx.w)::text,
       jsonb_build_object('account', 'org-' || fx.w)
FROM fx_ws fx JOIN providers pr ON pr.slug = 'github'
ON CONFLICT (id) DO NOTHING;

INSERT INTO repositories (id, workspace_id, installation_id, external_id, name, default_branch)
SELECT ('b0000000-0000-4000-8000-' || lpad(fx.w::text, 6, '0') || lpad(r::text, 6, '0'))::uuid,
       fx.id, fx.installation_id, (5000000 + fx.w * 1000 + r)::text,
       'org-' || fx.w || '/' || (ARRAY['api', 'web', 'worker', 'infra', 'mobile', 'docs'])[1 + (r - 1) % 6]
           || CASE WHEN r > 6 THEN '-' || r ELSE '' END,
       'main'
FROM fx_ws fx CROSS JOIN generate_series(1, :repositories) AS r
ON CONFLICT (id) DO NOTHING;

INSERT INTO repository_settings (workspace_id, repository_id, settings)
SELECT r.workspace_id, r.id, '{"auto_review": true, "min_severity": "warning"}'
FROM repositories r JOIN fx_ws fx ON fx.id = r.workspace_id
ON CONFLICT (repository_id) DO NOTHING;

INSERT INTO briefings (id, workspace_id, title, slug, description, target_roles, requires_ai,
                       output_formats, is_schedulable, is_system, sort_order)
VALUES
    ('d0000000-0000-4000-8000-000000000001', NULL, 'Weekly engineering digest', 'weekly-digest',
     'What changed, what was found, what was fixed', '["admin", "member"]', true,
     '["html", "pdf", "markdown"]', true, true, 1),
    ('d0000000-0000-4000-8000-000000000002', NULL, 'Security posture', 'security-posture',
     'Critical findings and their trend', '["admin"]', true, '["html", "pdf", "slides"]', true,
     true, 2),
    ('d0000000-0000-4000-8000-000000000003', NULL, 'Release readiness', 'release-readiness',
     'Open findings on the default branch', '["member"]', false, '["html", "markdown"]', false,
     true, 3)
ON CONFLICT (id) DO NOTHING;

COMMIT;
