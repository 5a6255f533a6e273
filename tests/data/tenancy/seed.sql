-- One row of each workspace in the workspace-scoped tables the fixtures
-- and the generated events leave empty (or with one workspace only).
INSERT INTO briefings (workspace_id, title, slug, is_system)
SELECT w.id, 'custom ' || w.name, 'custom-' || w.id, false FROM workspaces w;
INSERT INTO briefing_shares (briefing_generation_id, workspace_id, token)
SELECT DISTINCT ON (g.workspace_id) g.id, g.workspace_id, rpad(replace(g.id::text, '-', ''), 64, 'x')
  FROM briefing_generations g ORDER BY g.workspace_id, g.id;
INSERT INTO briefing_subscriptions (workspace_id, user_id, briefing_id, schedule_preset)
SELECT w.id, w.owner_user_id, 'd0000000-0000-4000-8000-000000000001', 'weekly' FROM workspaces w;
INSERT INTO invitations (workspace_id, team_id, email, role, token, expires_at)
SELECT DISTINCT ON (t.workspace_id) t.workspace_id, t.id, 'new@' || t.workspace_id || '.example',
       'member', 'invite-' || t.id, now() + interval '7 days'
  FROM teams t ORDER BY t.workspace_id, t.id;
INSERT INTO policies (workspace_id, name) SELECT w.id, 'default' FROM workspaces w;
INSERT INTO provider_keys (workspace_id, provider, encrypted_key)
SELECT w.id, 'github', '\x00'::bytea FROM workspaces w;
INSERT INTO subscriptions (workspace_id, plan_id, status, started_at)
SELECT w.id, (SELECT id FROM plans ORDER BY id LIMIT 1), 'cancelled', '2020-01-01T00:00:00Z'
  FROM workspaces w;
INSERT INTO dead_letters (projector, topic, partition, kafka_offset, workspace_id, reason)
SELECT 'runs', 'seed', 0, row_number() OVER (), w.id, 'seeded' FROM workspaces w;
INSERT INTO ingest_credentials (workspace_id, name, token_sha256)
SELECT w.id, 'seeded', sha256(convert_to('token-' || w.id, 'UTF8')) FROM workspaces w;
