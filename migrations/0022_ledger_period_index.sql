-- 0022_ledger_period_index: the ledger's index for a billing period leads
-- with period_start. Its key (workspace_id, event_id) is how the usage
-- projector finds a redelivered event; an index leading with workspace_id
-- beside it let a generic plan made on a young ledger look each event up
-- by its workspace alone, reading every row of the workspace for every
-- event, a cost that grew with the ledger until the next analyze. A
-- period of one workspace is still found by this index, and all of a
-- workspace's rows by the key.
DROP INDEX usage_ledger_workspace_id_period_start_idx;
CREATE INDEX usage_ledger_period_start_workspace_id_idx ON usage_ledger (period_start, workspace_id);
