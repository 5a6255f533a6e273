-- 0021_findings_key_reference: a finding references its key row by
-- (id, workspace_id, run_id), so its run is the one the key names, and
-- the key's own foreign key keeps that run in run_keys. The two foreign keys
-- it replaces (findings -> finding_keys by id and workspace, findings ->
-- run_keys) let a finding name another run of its workspace than its key
-- did, and cost two checks per finding where this costs one.
ALTER TABLE finding_keys
    ADD CONSTRAINT finding_keys_id_workspace_id_run_id_key UNIQUE (id, workspace_id, run_id);
ALTER TABLE findings
    ADD CONSTRAINT findings_id_workspace_id_run_id_fkey FOREIGN KEY (id, workspace_id, run_id)
        REFERENCES finding_keys (id, workspace_id, run_id);
ALTER TABLE findings DROP CONSTRAINT findings_id_workspace_id_fkey;
ALTER TABLE findings DROP CONSTRAINT findings_run_id_workspace_id_fkey;
