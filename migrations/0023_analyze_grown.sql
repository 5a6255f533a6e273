-- 0023_analyze_grown: a projector's young tables analyzed as they grow.
--
-- PostgreSQL plans a projector's prepared statements, and the foreign key
-- checks of its writes, once per connection, and keeps each plan until a
-- table it reads is analyzed again. A plan made while a table was nearly
-- empty uses whatever index it liked then: checking each download's
-- generation through an index on (workspace_id, briefing_id, created_at)
-- read every generation of the workspace, 5.4M rows for the 17,000
-- downloads of a 1M-event backlog. Autovacuum analyzes a table once a tenth
-- of it has changed, but visits a database once a minute at best, and a new
-- deployment, a rebuild or a backfill grows its tables a hundredfold in
-- that time.
--
-- So the engine calls this every few seconds with its tables: each one
-- (each leaf partition of a partitioned one) that holds four times the
-- rows it held at its last analysis, and min_rows at least, is analyzed
-- now; a handful of analyses a table for a backlog of any size, none once
-- the tables have grown. Updates do not count: a small table updated all
-- day (a period's usage) keeps the plans it has. A table being vacuumed or
-- analyzed already is skipped, not waited for. Only tables this function's
-- owner owns and the caller may insert into; returns the names analyzed.
CREATE FUNCTION sentinel_analyze_grown(tables regclass[], min_rows bigint DEFAULT 100)
RETURNS SETOF text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    rel regclass;
BEGIN
    FOR rel IN
        -- A table that is not partitioned has no partition tree.
        SELECT DISTINCT c.oid
          FROM unnest(tables) AS given (relid)
          LEFT JOIN LATERAL pg_partition_tree(given.relid) AS t ON true
          JOIN pg_class c ON c.oid = coalesce(t.relid, given.relid)
         WHERE (t.relid IS NULL OR t.isleaf)
           AND c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
           AND has_table_privilege(session_user, given.relid, 'INSERT')
           AND pg_stat_get_live_tuples(c.oid) >= greatest(min_rows, 4 * c.reltuples)
    LOOP
        EXECUTE format('ANALYZE (SKIP_LOCKED) %s', rel);
        RETURN NEXT rel::text;
    END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION sentinel_analyze_grown(regclass[], bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sentinel_analyze_grown(regclass[], bigint) TO sentinel_projector;
