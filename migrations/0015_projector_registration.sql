-- 0015_projector_registration: what a new projector's migration calls once
-- its tables exist, so that adding a projector touches no other migration:
--
--     SELECT sentinel_register_projector('toys', ARRAY['toys']);
--
-- For the projector: its own partition of applied_events (a rebuild swaps
-- the partition). For each of its tables, which carry workspace_id: row
-- security forced, with the tenant policy every projection table has; the
-- application reads, the engine reads and writes, nobody else. Running it
-- again changes nothing.
CREATE FUNCTION sentinel_register_projector(projector text, tables text[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    IF projector !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'sentinel_register_projector: "%" is not a projector name', projector;
    END IF;
    IF to_regclass('public.applied_events_' || projector) IS NULL THEN
        EXECUTE format('CREATE TABLE public.%I PARTITION OF public.applied_events FOR VALUES IN (%L)',
                       'applied_events_' || projector, projector);
    END IF;
    FOREACH t IN ARRAY tables LOOP
        IF to_regclass(format('public.%I', t)) IS NULL THEN
            RAISE EXCEPTION 'sentinel_register_projector: % has no table %', projector, t;
        END IF;
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
        IF NOT EXISTS (SELECT 1 FROM pg_policies
                        WHERE schemaname = 'public' AND tablename = t
                          AND policyname = 'tenant_isolation') THEN
            EXECUTE format('CREATE POLICY tenant_isolation ON public.%I
                                USING (workspace_id = sentinel_current_workspace())
                                WITH CHECK (workspace_id = sentinel_current_workspace())', t);
        END IF;
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC, sentinel_app, sentinel_projector', t);
        EXECUTE format('GRANT SELECT ON public.%I TO sentinel_app', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON public.%I TO sentinel_projector', t);
    END LOOP;
END
$$;
REVOKE EXECUTE ON FUNCTION sentinel_register_projector(text, text[]) FROM PUBLIC;
