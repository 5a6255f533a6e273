-- 0014_billing_history: the billing period of an instant, recomputed from a
-- workspace's subscription history, for `sentinel verify`, which so checks
-- the stored periods against the subscriptions instead of trusting them.
-- The engine computes the same in C (src/billing_period.c); the two are
-- written apart on purpose, so each checks the other.
--
-- In force at t: the latest-started subscription with started_at <= t and
-- (ends_at IS NULL OR t < ends_at). The period of t is the monthly period
-- anchored on the day of month of its start (clamped to the month's last
-- day; the calendar month with none in force), cut to the stretch of time
-- in which that same subscription is in force. Periods never overlap.

CREATE FUNCTION sentinel_subscription_in_force(ws uuid, t timestamptz) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT id FROM subscriptions
     WHERE workspace_id = ws AND started_at <= t AND (ends_at IS NULL OR t < ends_at)
     ORDER BY started_at DESC, id LIMIT 1
$$;

CREATE FUNCTION sentinel_billing_period_of(ws uuid, at timestamptz,
                                           OUT period_start timestamptz,
                                           OUT period_end timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    current_sub  uuid := sentinel_subscription_in_force(ws, at);
    anchor       int := 1;
    day_utc      date := (at AT TIME ZONE 'UTC')::date;
    month_first  date := date_trunc('month', day_utc)::date;
    start_day    date;
    lo           timestamptz;
    hi           timestamptz;
BEGIN
    IF current_sub IS NOT NULL THEN
        SELECT extract(day FROM started_at AT TIME ZONE 'UTC')::int INTO anchor
          FROM subscriptions WHERE id = current_sub;
    END IF;
    -- This month's anchor, clamped; before it, the period began last month.
    start_day := month_first + (least(anchor, extract(day FROM
                   (month_first + interval '1 month - 1 day'))::int) - 1);
    IF day_utc < start_day THEN
        month_first := (month_first - interval '1 month')::date;
        start_day := month_first + (least(anchor, extract(day FROM
                       (month_first + interval '1 month - 1 day'))::int) - 1);
    END IF;
    month_first := (month_first + interval '1 month')::date;
    period_start := start_day::timestamp AT TIME ZONE 'UTC';
    period_end := (month_first + (least(anchor, extract(day FROM
                     (month_first + interval '1 month - 1 day'))::int) - 1))::timestamp
                  AT TIME ZONE 'UTC';
    -- Cut to the stretch in which the same subscription is in force.
    SELECT max(b) INTO lo FROM (
        SELECT started_at AS b FROM subscriptions WHERE workspace_id = ws
        UNION SELECT ends_at FROM subscriptions WHERE workspace_id = ws AND ends_at IS NOT NULL) s
     WHERE b <= at AND sentinel_subscription_in_force(ws, b - interval '1 microsecond')
                       IS DISTINCT FROM current_sub;
    SELECT min(b) INTO hi FROM (
        SELECT started_at AS b FROM subscriptions WHERE workspace_id = ws
        UNION SELECT ends_at FROM subscriptions WHERE workspace_id = ws AND ends_at IS NOT NULL) s
     WHERE b > at AND sentinel_subscription_in_force(ws, b) IS DISTINCT FROM current_sub;
    IF lo IS NOT NULL AND lo > period_start THEN
        period_start := lo;
    END IF;
    IF hi IS NOT NULL AND hi < period_end THEN
        period_end := hi;
    END IF;
END
$$;
GRANT EXECUTE ON FUNCTION sentinel_subscription_in_force(uuid, timestamptz),
    sentinel_billing_period_of(uuid, timestamptz) TO sentinel_projector;

-- A ledger row belongs to the period of usage_records that starts at its
-- period_start; that period's end moves when a subscription change cuts it
-- short, and lives in usage_records alone (the ledger is append-only).
ALTER TABLE usage_ledger DROP COLUMN period_end;
