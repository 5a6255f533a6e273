-- 0019_dead_letter_resolution: a dead letter that will never apply (a
-- producer's bug, data that will not come) is resolved by hand with a
-- note (`sentinel dead-letters resolve --id N --note TEXT`), so the open
-- count can return to 0. A rebuild's swap keeps each dead letter's id,
-- first time, retries and resolution when the rebuilt projection rejects
-- the same message again: operators' references to them stay good.
ALTER TABLE dead_letters ADD COLUMN resolution text;

CREATE OR REPLACE FUNCTION sentinel_shadow_swap(shadow text, tables text[], projectors text[]) RETURNS void
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
    -- The dead letters are the rebuild's; one the old projection had for
    -- the same message keeps its id, first time, retries and resolution.
    CREATE TEMPORARY TABLE sentinel_swap_dead_letters ON COMMIT DROP AS
        SELECT * FROM public.dead_letters WHERE projector = ANY (projectors);
    DELETE FROM public.dead_letters WHERE projector = ANY (projectors);
    EXECUTE format('INSERT INTO public.dead_letters (id, projector, topic, partition, kafka_offset, '
                   'event_id, workspace_id, event_type, reason, payload, created_at, retried_at, '
                   'retry_count, resolved_at, resolution) OVERRIDING SYSTEM VALUE '
                   'SELECT coalesce(o.id, nextval(pg_get_serial_sequence(''public.dead_letters'', ''id''))), '
                   's.projector, s.topic, s.partition, s.kafka_offset, s.event_id, s.workspace_id, '
                   's.event_type, s.reason, s.payload, coalesce(o.created_at, s.created_at), '
                   'coalesce(s.retried_at, o.retried_at), greatest(s.retry_count, o.retry_count), '
                   'coalesce(o.resolved_at, s.resolved_at), coalesce(o.resolution, s.resolution) '
                   'FROM %I.dead_letters s LEFT JOIN sentinel_swap_dead_letters o '
                   'USING (projector, topic, partition, kafka_offset)',
                   shadow);
    DROP TABLE sentinel_swap_dead_letters;

    FOREACH stmt IN ARRAY fks LOOP
        EXECUTE stmt;
    END LOOP;
    EXECUTE format('DROP SCHEMA %I CASCADE', retired);
    EXECUTE format('DROP SCHEMA %I CASCADE', shadow);
END
$$;
