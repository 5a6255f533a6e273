-- 0012_idempotency_key: an event is known by (workspace_id, event_id). An
-- event id that another workspace already used is a different event, so
-- one tenant can never make another's event a duplicate.

-- The engine has always written the workspace with the id; a row without
-- one cannot be matched to any event and is dropped.
DELETE FROM applied_events WHERE workspace_id IS NULL;
ALTER TABLE applied_events ALTER COLUMN workspace_id SET NOT NULL;
ALTER TABLE applied_events DROP CONSTRAINT applied_events_pkey;
ALTER TABLE applied_events ADD PRIMARY KEY (projector, workspace_id, event_id);

ALTER TABLE usage_ledger DROP CONSTRAINT usage_ledger_pkey;
ALTER TABLE usage_ledger ADD PRIMARY KEY (workspace_id, event_id);
