-- Partner leaderboard: the last 30 days (UTC days, today included), one row per
-- partner and currency, best earners first.
--   clicks, devices: non-bot clicks and distinct devices (daily_clicks)
--   orders: distinct attributed orders whose commission appeared in the window
--   revenue_minor, commission_minor: base and commission of those commissions
--     in their current state, voided and fully clawed-back ones excluded
-- Amounts are integers in the currency's minor unit (cents). Partners with
-- clicks but no commission have currency ''.
SELECT
    partner_id,
    currency,
    clicks,
    devices,
    orders,
    revenue_minor,
    commission_minor
FROM
(
    SELECT
        partner_id,
        toInt64(uniqExactIfMerge(clicks)) AS clicks,
        toInt64(uniqExactIfMerge(devices)) AS devices
    FROM daily_clicks
    WHERE day >= toDate(now(), 'UTC') - 29 AND partner_id != ''
    GROUP BY partner_id
) AS l
ALL FULL OUTER JOIN
(
    SELECT
        partner_id,
        cur AS currency,
        toInt64(uniqExactIf(oid, st NOT IN ('voided', 'clawed_back'))) AS orders,
        toInt64(sumIf(base, st NOT IN ('voided', 'clawed_back'))) AS revenue_minor,
        toInt64(sumIf(amount, st NOT IN ('voided', 'clawed_back'))) AS commission_minor
    FROM
    (
        SELECT
            partner_id,
            commission_id,
            minMerge(first_at) AS first,
            argMaxMerge(order_id) AS oid,
            argMaxMerge(currency) AS cur,
            argMaxMerge(current_state) AS st,
            argMaxMerge(current_amount_minor) AS amount,
            argMaxMerge(base_minor) AS base
        FROM commission_states
        GROUP BY partner_id, commission_id
    )
    WHERE toDate(first) >= toDate(now(), 'UTC') - 29
    GROUP BY partner_id, cur
) AS r USING partner_id
ORDER BY commission_minor DESC, clicks DESC, partner_id, currency
