-- 0016_definer_search_path: no SECURITY DEFINER function resolves a name
-- through its caller's search_path (a caller could otherwise put its own
-- function or table first and run it with the owner's rights).
--
-- Making a month's partition needs the owner's rights and, for a rebuild,
-- the caller's search_path (its shadow schema first). So the two halves
-- part: sentinel_ensure_month_partition runs as the caller and only finds
-- which schema `parent` resolves to; sentinel_create_month_partition runs as
-- the owner with a fixed search_path, takes the schema as an argument and
-- checks it, and qualifies every name it uses.
CREATE FUNCTION sentinel_create_month_partition(schema text, parent text, at timestamptz)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    month_utc  timestamp := date_trunc('month', at AT TIME ZONE 'UTC');
    lower_at   timestamptz := month_utc AT TIME ZONE 'UTC';
    upper_at   timestamptz := (month_utc + interval '1 month') AT TIME ZONE 'UTC';
    part       text := format('%s_y%sm%s', parent, to_char(month_utc, 'YYYY'), to_char(month_utc, 'MM'));
BEGIN
    IF parent NOT IN ('runs', 'findings') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is not partitioned by month', parent;
    END IF;
    IF at IS NULL OR at < '2000-01-01T00:00:00Z' OR at >= '2100-01-01T00:00:00Z' THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % is outside [2000-01-01, 2100-01-01)', at
            USING ERRCODE = 'datetime_field_overflow';
    END IF;
    IF schema IS NULL OR (schema <> 'public' AND schema NOT LIKE 'rebuild\_%') THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: % resolves to schema %, not public or a rebuild',
            parent, schema USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I.%I', schema, parent)) IS NULL THEN
        RAISE EXCEPTION 'sentinel_ensure_month_partition: no table %.%', schema, parent;
    END IF;
    IF to_regclass(format('%I.%I', schema, part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sentinel.partition.' || schema || '.' || part));
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
REVOKE EXECUTE ON FUNCTION sentinel_create_month_partition(text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sentinel_create_month_partition(text, text, timestamptz) TO sentinel_projector;

CREATE OR REPLACE FUNCTION sentinel_ensure_month_partition(parent text, at timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY INVOKER AS $$
DECLARE
    schema text;
BEGIN
    SELECT n.nspname INTO schema
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = pg_catalog.to_regclass(parent);
    RETURN public.sentinel_create_month_partition(schema, parent, at);
END
$$;
