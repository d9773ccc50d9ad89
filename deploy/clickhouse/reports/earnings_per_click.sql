-- Earnings per click (EPC) per partner and currency: the last 30 days (UTC,
-- today included). commission_minor: commissions that appeared in the window,
-- current state, voided and fully clawed-back ones excluded; clicks: non-bot
-- clicks; epc_minor = commission_minor / clicks in minor units, 2 decimals.
SELECT
    partner_id,
    currency,
    clicks,
    commission_minor,
    if(clicks = 0, 0, round(commission_minor / clicks, 2)) AS epc_minor
FROM
(
    SELECT
        partner_id,
        cur AS currency,
        toInt64(sumIf(amount, st NOT IN ('voided', 'clawed_back'))) AS commission_minor
    FROM
    (
        SELECT
            partner_id,
            commission_id,
            minMerge(first_at) AS first,
            argMaxMerge(currency) AS cur,
            argMaxMerge(current_state) AS st,
            argMaxMerge(current_amount_minor) AS amount
        FROM commission_states
        GROUP BY partner_id, commission_id
    )
    WHERE toDate(first) >= toDate(now(), 'UTC') - 29
    GROUP BY partner_id, cur
) AS l
ALL LEFT JOIN
(
    SELECT partner_id, toInt64(uniqExactIfMerge(clicks)) AS clicks
    FROM daily_clicks
    WHERE day >= toDate(now(), 'UTC') - 29 AND partner_id != ''
    GROUP BY partner_id
) AS r USING partner_id
ORDER BY epc_minor DESC, partner_id, currency
