-- 0010_reference_data: the four plans and the three source-control providers.
-- Idempotent: rows that exist are left as they are.

INSERT INTO plans (tier, description, monthly_runs_limit, monthly_commands_limit,
                   team_size_limit, features, limits, price_monthly, price_yearly)
VALUES
    ('foundation', 'For individuals and small teams getting started', 100, 50, 3,
     '{"briefings": false, "byok": false}', '{"repositories": 5}', 0, 0),
    ('illuminate', 'For growing teams that review every change', 1000, 500, 15,
     '{"briefings": true, "byok": false}', '{"repositories": 50}', 4900, 49000),
    ('orchestrate', 'For organisations running many repositories', 10000, 5000, 100,
     '{"briefings": true, "byok": true, "scheduled_briefings": true}', '{"repositories": 500}',
     19900, 199000),
    ('sanctum', 'For enterprises with compliance needs', NULL, NULL, NULL,
     '{"briefings": true, "byok": true, "scheduled_briefings": true, "sso": true}', '{}',
     99900, 999000)
ON CONFLICT (tier) DO NOTHING;

INSERT INTO providers (name, slug)
VALUES ('GitHub', 'github'), ('GitLab', 'gitlab'), ('Bitbucket', 'bitbucket')
ON CONFLICT (slug) DO NOTHING;
