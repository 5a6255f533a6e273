-- 0011_rebuild: what replays and rebuilds need from the database.
--
-- A rebuild projects the whole log into shadow copies of a projection's
-- tables, in a schema of their own, while the live tables keep serving;
-- then it compares the two and swaps them in one transaction. The
-- functions below make the copies (same columns, constraints, indexes,
-- triggers, row security, grants and partitioning, under the same names),
-- compare tables, and swap. The engine runs them; nothing here is called
-- by the application.

-- Partitions are made in the schema of the parent that `parent` names on
-- the search path: public for the live projection, the shadow schema for
-- a rebuild, which puts its own schema first.
CREATE OR REPLACE FUNCTION sentinel_ensure_month_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_utc  timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lower_at   timestamptz := month_utc AT TIME ZONE 'UTC';
    upper_at   timestamptz := (month_utc + interval '1 month') AT TIME ZONE 'UTC';
    part       text := format('%s_y%sm%s', parent, to_char(month_utc, 'YYYY'), to_char(month_utc, 'MM'));
    schema     text;
BEGIN
    IF parent NOT IN ('runs', 'findings') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is not partitioned by month', parent;
    END IF;
    SELECT n.nspname INTO schema
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass(parent);
    IF to_regclass(format('%I.%I', schema, part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('sentinel.partition.' || schema || '.' || part));
    -- The lock does not refresh this session's view of the catalog: a
    -- partition another session has just made can still look missing.
    BEGIN
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                       schema, part, schema, parent, lower_at, upper_at);
    EXCEPTION WHEN duplicate_table THEN
        NULL;
    END;
    RETURN part;
END
$$;

-- Applied event ids, one partition per projector, so a rebuild swaps a
-- projector's ids by exchanging partitions instead of rewriting rows.
-- Names the registry does not know land in the default partition.
ALTER TABLE applied_events RENAME TO applied_events_0008;
ALTER INDEX applied_events_pkey RENAME TO applied_events_0008_pkey;
CREATE TABLE applied_events (
    projector     text NOT NULL,
    event_id      uuid NOT NULL,
    workspace_id  uuid,
    PRIMARY KEY (projector, event_id)
) PARTITION BY LIST (projector);
CREATE TABLE applied_events_runs PARTITION OF applied_events FOR VALUES IN ('runs');
CREATE TABLE applied_events_commands PARTITION OF applied_events FOR VALUES IN ('commands');
CREATE TABLE applied_events_briefings PARTITION OF applied_events FOR VALUES IN ('briefings');
CREATE TABLE applied_events_activities PARTITION OF applied_events FOR VALUES IN ('activities');
CREATE TABLE applied_events_usage PARTITION OF applied_events FOR VALUES IN ('usage');
CREATE TABLE applied_events_other PARTITION OF applied_events DEFAULT;
INSERT INTO applied_events SELECT projector, event_id, workspace_id FROM applied_events_0008;
DROP TABLE applied_events_0008;
ALTER TABLE applied_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE applied_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON applied_events
    USING (workspace_id = sentinel_current_workspace())
    WITH CHECK (workspace_id = sentinel_current_workspace());
GRANT SELECT ON applied_events TO sentinel_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON applied_events TO sentinel_projector;

-- Replays and rebuilds, running and past: what `sentinel status` shows.
-- A running job refreshes heartbeat_at every few seconds; a rebuild whose
-- process died stays `building` and resumes when run again.
CREATE TABLE projection_jobs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('replay', 'rebuild')),
    projectors     text[] NOT NULL,
    topic          text NOT NULL,
    shadow_schema  text,  -- rebuilds: where the shadow tables are
    state          text NOT NULL
        CHECK (state IN ('running', 'building', 'done', 'swapped', 'compared', 'aborted', 'failed')),
    range_from     text,
    range_to       text,
    events_done    bigint NOT NULL DEFAULT 0,
    events_total   bigint NOT NULL DEFAULT 0,
    pid            integer,
    host           text,
    detail         text,  -- the outcome: counts, differences, the error
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE UNIQUE INDEX projection_jobs_one_rebuild_idx ON projection_jobs (shadow_schema)
    WHERE state = 'building';
CREATE INDEX projection_jobs_started_at_idx ON projection_jobs (started_at);
GRANT SELECT ON projection_jobs TO sentinel_app, sentinel_projector;

-- The columns compared between a live table and its rebuild: all but
-- those the wall clock or chance fills (updated_at, DEFAULT now(),
-- DEFAULT gen_random_uuid()).
CREATE FUNCTION sentinel_compared_columns(rel regclass) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> 'updated_at'
       AND coalesce(pg_get_expr(d.adbin, d.adrelid), '') NOT IN ('now()', 'gen_random_uuid()')
$$;

-- The columns that identify a row for listing differences: the primary
-- key, else the first unique key, made of compared columns only; else
-- every compared column.
CREATE FUNCTION sentinel_key_columns(rel regclass) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
           FROM (SELECT i.indexrelid, i.indkey FROM pg_index i
                  WHERE i.indrelid = rel AND i.indisunique
                    AND NOT EXISTS (
                        SELECT 1 FROM unnest(i.indkey) AS c(attnum)
                          JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = c.attnum
                          LEFT JOIN pg_attrdef d ON d.adrelid = rel AND d.adnum = a.attnum
                         WHERE a.attname = 'updated_at'
                            OR coalesce(pg_get_expr(d.adbin, d.adrelid), '') IN ('now()', 'gen_random_uuid()')
                            OR c.attnum = 0)
                  ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1) i
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = rel AND a.attnum = k.attnum),
        sentinel_compared_columns(rel))
$$;

-- Row count and an order-independent checksum of a table's compared
-- columns: a sum of 64-bit row hashes, each from the column types' own
-- hash functions (equal values hash equal, whatever their text form).
CREATE FUNCTION sentinel_table_checksum(rel regclass, columns text,
                                        OUT row_count bigint, OUT checksum text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    EXECUTE format('SELECT count(*), coalesce(sum(hash_record_extended(ROW(%s), 0)::numeric), 0)::text FROM %s',
                   columns, rel)
       INTO row_count, checksum;
END
$$;

-- Up to `max_rows` rows that differ between two tables, matched on
-- `keys`: the row in each (NULL where it is missing).
CREATE FUNCTION sentinel_table_differences(live regclass, shadow regclass, columns text,
                                           keys text, max_rows integer)
RETURNS TABLE (row_key text, live_row text, shadow_row text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT coalesce(l.k, s.k), l.r, s.r
           FROM (SELECT ROW(%2$s)::text AS k, ROW(%1$s)::text AS r FROM %3$s) l
           FULL JOIN (SELECT ROW(%2$s)::text AS k, ROW(%1$s)::text AS r FROM %4$s) s ON s.k = l.k
          WHERE l.r IS DISTINCT FROM s.r
          ORDER BY 1 LIMIT %5$s',
        columns, keys, live, shadow, max_rows);
END
$$;

-- Shadow copies of the public `tables` in the new schema `shadow`, plus
-- the bookkeeping a projector writes (offsets, applied event ids with a
-- partition per projector, dead letters). References between the copied
-- tables point at the copies; references to other tables stay.
--
-- A rebuild only inserts into empty tables, so it takes the bulk path:
-- foreign keys and the indexes no projector looks rows up by (neither
-- primary nor unique) are left out while the shadow fills, and listed in
-- <shadow>.shadow_deferred, one statement a row, in order, for the engine
-- to run once the bulk is in: an index built once, a reference checked by
-- one join instead of row by row. A foreign key of a plain table is added
-- NOT VALID, then validated, so checking it never blocks writes to the
-- table it references.
CREATE FUNCTION sentinel_shadow_create(shadow text, tables text[], projectors text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    ddl   text[] := '{}';
    later text[] := '{}';
    oids  oid[];
    t     text;
    p     text;
    r     record;
    stmt  text;
BEGIN
    SELECT array_agg(format('public.%I', x)::regclass::oid) INTO oids FROM unnest(tables) AS x;
    EXECUTE format('CREATE SCHEMA %I', shadow);
    -- Definitions are read with only public on the path, so the names they
    -- mention come out unqualified and, run with the shadow first on the
    -- path, resolve to the copies where there are copies.
    PERFORM set_config('search_path', 'public', true);
    FOR r IN SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
               FROM pg_class c WHERE c.oid = ANY (oids) ORDER BY array_position(oids, c.oid) LOOP
        ddl := ddl || format('CREATE TABLE %I.%I (LIKE public.%I INCLUDING DEFAULTS INCLUDING GENERATED '
                             'INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION)%s',
                             shadow, r.relname, r.relname,
                             CASE WHEN r.relkind = 'p' THEN ' PARTITION BY ' || pg_get_partkeydef(r.oid) ELSE '' END);
        IF r.relrowsecurity THEN
            ddl := ddl || format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', shadow, r.relname);
        END IF;
        IF r.relforcerowsecurity THEN
            ddl := ddl || format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', shadow, r.relname);
        END IF;
    END LOOP;
    FOR r IN SELECT cl.relname, cl.relkind, c.conname, c.contype, pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid
              WHERE c.conrelid = ANY (oids) AND c.contype IN ('p', 'u', 'c', 'x', 'f')
              ORDER BY c.contype = 'f', array_position(oids, c.conrelid), c.conname LOOP
        IF r.contype <> 'f' THEN
            ddl := ddl || format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', shadow, r.relname, r.conname, r.def);
        ELSIF r.relkind = 'p' THEN  -- a partitioned table's foreign key cannot be NOT VALID
            later := later || format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s', shadow, r.relname, r.conname, r.def);
        ELSE
            later := later || format('ALTER TABLE %I.%I ADD CONSTRAINT %I %s NOT VALID', shadow, r.relname, r.conname, r.def)
                           || format('ALTER TABLE %I.%I VALIDATE CONSTRAINT %I', shadow, r.relname, r.conname);
        END IF;
    END LOOP;
    FOR r IN SELECT cl.relname, i.indisunique, pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i JOIN pg_class cl ON cl.oid = i.indrelid
              WHERE i.indrelid = ANY (oids)
                AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                                   AND c.conrelid = i.indrelid) LOOP
        stmt := regexp_replace(r.def, ' ON (ONLY )?public\.' || quote_ident(r.relname) || ' ',
                               format(' ON %I.%I ', shadow, r.relname));
        IF r.indisunique THEN ddl := ddl || stmt; ELSE later := later || stmt; END IF;
    END LOOP;
    FOR r IN SELECT cl.relname, pg_get_triggerdef(tg.oid) AS def
               FROM pg_trigger tg JOIN pg_class cl ON cl.oid = tg.tgrelid
              WHERE tg.tgrelid = ANY (oids) AND NOT tg.tgisinternal LOOP
        ddl := ddl || regexp_replace(r.def, ' ON public\.' || quote_ident(r.relname) || ' ',
                                     format(' ON %I.%I ', shadow, r.relname));
    END LOOP;
    FOR r IN SELECT tablename, policyname, permissive, roles, cmd, qual, with_check
               FROM pg_policies WHERE schemaname = 'public' AND tablename = ANY (tables) LOOP
        ddl := ddl || format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s',
                             r.policyname, shadow, r.tablename, r.permissive, r.cmd,
                             (SELECT string_agg(CASE WHEN x = 'public' THEN 'PUBLIC' ELSE quote_ident(x) END, ', ')
                                FROM unnest(r.roles) AS x),
                             CASE WHEN r.qual IS NULL THEN '' ELSE ' USING (' || r.qual || ')' END,
                             CASE WHEN r.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || r.with_check || ')' END);
    END LOOP;
    FOR r IN SELECT c.relname, a.privilege_type,
                    CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END AS grantee
               FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) AS a
              WHERE c.oid = ANY (oids) AND a.grantee <> c.relowner LOOP
        ddl := ddl || format('GRANT %s ON %I.%I TO %s', r.privilege_type, shadow, r.relname, r.grantee);
    END LOOP;

    -- The bookkeeping of the shadow's projectors.
    ddl := ddl || format('CREATE TABLE %I.projector_offsets (LIKE public.projector_offsets INCLUDING ALL)', shadow);
    ddl := ddl || format('CREATE TABLE %I.dead_letters (LIKE public.dead_letters INCLUDING ALL)', shadow);
    ddl := ddl || format('CREATE TABLE %I.applied_events (LIKE public.applied_events INCLUDING ALL) '
                         'PARTITION BY LIST (projector)', shadow);
    FOREACH p IN ARRAY projectors LOOP
        -- The CHECK lets the swap attach it to public.applied_events without a scan.
        ddl := ddl || format('CREATE TABLE %I.%I PARTITION OF %I.applied_events '
                             '(CONSTRAINT %I CHECK (projector = %L)) FOR VALUES IN (%L)',
                             shadow, 'applied_events_' || p, shadow, 'applied_events_' || p || '_projector',
                             p, p);
    END LOOP;

    ddl := ddl || format('CREATE TABLE %I.shadow_deferred (seq integer PRIMARY KEY, stmt text NOT NULL)', shadow);

    PERFORM set_config('search_path', format('%I, public', shadow), true);
    FOREACH stmt IN ARRAY ddl LOOP
        EXECUTE stmt;
    END LOOP;
    EXECUTE format('INSERT INTO %I.shadow_deferred SELECT n, s FROM unnest($1) WITH ORDINALITY AS t(s, n)', shadow)
      USING later;
    PERFORM set_config('search_path', 'public', true);
END
$$;

-- Swap the shadow copies of `tables` in for the live ones, with the
-- projectors' applied event ids, offsets and dead letters; then drop the
-- old tables and the shadow schema. Run by the engine inside its swap
-- transaction, after it has stopped the live projectors' writes and
-- compared. References from other tables to the swapped ones are moved to
-- the new tables and checked: a reference the rebuilt projection cannot
-- satisfy fails the swap.
CREATE FUNCTION sentinel_shadow_swap(shadow text, tables text[], projectors text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    retired  text := shadow || '_retired';
    oids     oid[];
    refs     record;
    fks      text[] := '{}';
    t        text;
    p        text;
    part     text;
    r        record;
    stmt     text;
BEGIN
    PERFORM set_config('search_path', 'public', true);
    SELECT array_agg(format('public.%I', x)::regclass::oid) INTO oids FROM unnest(tables) AS x;
    -- References into the projection from outside it follow the table they
    -- point at: drop them, re-create them on the new tables below.
    FOR refs IN SELECT c.conrelid::regclass AS rel, c.conname, pg_get_constraintdef(c.oid) AS def
                  FROM pg_constraint c
                 WHERE c.contype = 'f' AND c.confrelid = ANY (oids) AND NOT c.conrelid = ANY (oids)
                   AND c.conparentid = 0 LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', refs.rel, refs.conname);
        fks := fks || format('ALTER TABLE %s ADD CONSTRAINT %I %s', refs.rel, refs.conname, refs.def);
    END LOOP;

    EXECUTE format('CREATE SCHEMA %I', retired);
    FOREACH t IN ARRAY tables LOOP
        FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = format('public.%I', t)::regclass LOOP
            EXECUTE format('ALTER TABLE public.%I SET SCHEMA %I', r.relname, retired);
        END LOOP;
        EXECUTE format('ALTER TABLE public.%I SET SCHEMA %I', t, retired);
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        FOR r IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = format('%I.%I', shadow, t)::regclass LOOP
            EXECUTE format('ALTER TABLE %I.%I SET SCHEMA public', shadow, r.relname);
        END LOOP;
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA public', shadow, t);
    END LOOP;

    FOREACH p IN ARRAY projectors LOOP
        part := 'applied_events_' || p;
        IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE public.applied_events DETACH PARTITION public.%I', part);
            EXECUTE format('ALTER TABLE public.%I SET SCHEMA %I', part, retired);
        ELSE
            DELETE FROM public.applied_events WHERE projector = p;
        END IF;
        EXECUTE format('ALTER TABLE %I.applied_events DETACH PARTITION %I.%I', shadow, shadow, part);
        EXECUTE format('ALTER TABLE %I.%I SET SCHEMA public', shadow, part);
        EXECUTE format('ALTER TABLE public.applied_events ATTACH PARTITION public.%I FOR VALUES IN (%L)',
                       part, p);
        -- Attached, the partition bound says it: the CHECK has served.
        EXECUTE format('ALTER TABLE public.%I DROP CONSTRAINT %I', part, part || '_projector');
    END LOOP;

    DELETE FROM public.projector_offsets WHERE projector = ANY (projectors);
    EXECUTE format('INSERT INTO public.projector_offsets SELECT * FROM %I.projector_offsets', shadow);
    -- The dead letters are the rebuild's: those of the old projection,
    -- retried or not, described tables that are gone.
    DELETE FROM public.dead_letters WHERE projector = ANY (projectors);
    EXECUTE format('INSERT INTO public.dead_letters (projector, topic, partition, kafka_offset, event_id, '
                   'workspace_id, event_type, reason, payload, created_at, retried_at, retry_count, resolved_at) '
                   'SELECT projector, topic, partition, kafka_offset, event_id, workspace_id, event_type, '
                   'reason, payload, created_at, retried_at, retry_count, resolved_at FROM %I.dead_letters',
                   shadow);

    FOREACH stmt IN ARRAY fks LOOP
        EXECUTE stmt;
    END LOOP;
    EXECUTE format('DROP SCHEMA %I CASCADE', retired);
    EXECUTE format('DROP SCHEMA %I CASCADE', shadow);
END
$$;
