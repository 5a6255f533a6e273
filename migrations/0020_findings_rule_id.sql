-- 0020_findings_rule_id: FindingRecorded v2 names the rule a finding broke
-- (rule_id); it was accepted and stored nowhere. A rebuild of the runs
-- projection fills it for the findings already in the log.
ALTER TABLE findings ADD COLUMN rule_id text;
