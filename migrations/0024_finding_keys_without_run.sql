-- 0024_finding_keys_without_run: a finding's key row holds its id, its
-- workspace and its month, as a run's does; the finding row references its
-- key by (id, workspace_id) and its run in run_keys by (run_id,
-- workspace_id), the two foreign keys of 0003 again.
--
-- 0021 had the key row name the run too, and the finding reference the key
-- by (id, workspace_id, run_id): one check a finding instead of two, for a
-- third unique index on the key table and a check of the key's own run.
-- Measured on the runs projector's rows of a 1M-event backlog (bench/keys.sh's
-- "as written" COPY), an index insert of random ids costs more than a key
-- lookup: the same rows took 11.0-11.4 s this way against 13.6-15.6 s
-- that way, alternating. The guarantees are the same: a finding has its
-- key row, the key is unique by id, and the finding's run is a run of its
-- workspace. The key's copy of the run, which only 0021's reference kept
-- equal to the finding's, goes.
ALTER TABLE findings
    ADD CONSTRAINT findings_id_workspace_id_fkey FOREIGN KEY (id, workspace_id)
        REFERENCES finding_keys (id, workspace_id),
    ADD CONSTRAINT findings_run_id_workspace_id_fkey FOREIGN KEY (run_id, workspace_id)
        REFERENCES run_keys (id, workspace_id);
ALTER TABLE findings DROP CONSTRAINT findings_id_workspace_id_run_id_fkey;
ALTER TABLE finding_keys DROP CONSTRAINT finding_keys_id_workspace_id_run_id_key;
ALTER TABLE finding_keys DROP COLUMN run_id;
