-- Rows of every kind the engine writes, in the schema of any version from
-- 0010 on (the first with the reference data the fixtures need), so an
-- upgrade from that version runs its data migrations over real rows. What
-- differs between versions is decided by what the catalog holds.
DO $$
DECLARE
    ws  constant uuid := 'a0000000-0000-4000-8000-000000000001';
    at  constant timestamptz := '2026-11-20T10:00:00Z';
    has_ledger_end boolean := EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'usage_ledger' AND column_name = 'period_end');
    keyless_allowed boolean := EXISTS (SELECT 1 FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'applied_events'
          AND column_name = 'workspace_id' AND is_nullable = 'YES');
BEGIN
    PERFORM sentinel_ensure_partitions(at);
    INSERT INTO run_keys (id, workspace_id, created_at)
    VALUES ('e9100000-0000-4000-8000-000000000001', ws, at);
    INSERT INTO runs (id, workspace_id, repository_id, external_reference, status, event_id,
                      started_at, created_at)
    VALUES ('e9100000-0000-4000-8000-000000000001', ws, 'b0000000-0000-4000-8000-000001000001',
            'pr-upgrade', 'running', 'e9000000-0000-4000-8000-000000000001', at, at);
    -- a finding of that run, so 0021's foreign key is added over a row
    INSERT INTO finding_keys (id, workspace_id, run_id, created_at)
    VALUES ('e9200000-0000-4000-8000-000000000001', ws, 'e9100000-0000-4000-8000-000000000001', at);
    INSERT INTO findings (id, run_id, finding_hash, workspace_id, severity, category, title,
                          event_id, created_at)
    VALUES ('e9200000-0000-4000-8000-000000000001', 'e9100000-0000-4000-8000-000000000001',
            'h-upgrade', ws, 'warning', 'style', 'upgraded', 'e9000000-0000-4000-8000-000000000004',
            at);
    INSERT INTO applied_events (projector, event_id, workspace_id)
    VALUES ('usage', 'e9000000-0000-4000-8000-000000000002', ws);
    IF keyless_allowed THEN
        -- a row of the days before the idempotency key: 0012 drops it
        INSERT INTO applied_events (projector, event_id, workspace_id)
        VALUES ('usage', 'e9000000-0000-4000-8000-000000000003', NULL);
    END IF;
    IF has_ledger_end THEN
        INSERT INTO usage_ledger (event_id, workspace_id, metric, amount, occurred_at,
                                  period_start, period_end, topic, partition, kafka_offset)
        VALUES ('e9000000-0000-4000-8000-000000000002', ws, 'tokens', 7, at,
                '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', 'upgrade', 0, 1);
    ELSE
        INSERT INTO usage_ledger (event_id, workspace_id, metric, amount, occurred_at,
                                  period_start, topic, partition, kafka_offset)
        VALUES ('e9000000-0000-4000-8000-000000000002', ws, 'tokens', 7, at,
                '2026-11-01T00:00:00Z', 'upgrade', 0, 1);
    END IF;
    INSERT INTO usage_records (workspace_id, period_start, period_end, tokens_estimated)
    VALUES (ws, '2026-11-01T00:00:00Z', '2026-12-01T00:00:00Z', 7);
    INSERT INTO projector_offsets (projector, topic, partition, next_offset)
    VALUES ('usage', 'upgrade', 0, 2), ('runs', 'upgrade', 0, 1);
    INSERT INTO dead_letters (projector, topic, partition, kafka_offset, workspace_id, reason)
    VALUES ('runs', 'upgrade', 0, 0, ws, 'seeded before the upgrade');
END
$$;
