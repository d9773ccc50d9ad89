-- Conversion rate per partner: the last 30 days (UTC days, today included).
--   clicks: non-bot clicks; orders: distinct attributed orders (any state:
--   a cancelled order was still a conversion) whose commission appeared in
--   the window, counted for the partner of the order's current decision (not
--   for one an admin moved it away from); conversion_percent = 100 * orders / clicks, 2 decimals
--   (0 when there were no clicks).
SELECT
    partner_id,
    clicks,
    orders,
    if(clicks = 0, 0, round(100 * orders / clicks, 2)) AS conversion_percent
FROM
(
    SELECT partner_id, toInt64(uniqExactIfMerge(clicks)) AS clicks
    FROM daily_clicks
    WHERE day >= toDate(now(), 'UTC') - 29 AND partner_id != ''
    GROUP BY partner_id
) AS l
ALL FULL OUTER JOIN
(
    SELECT partner_id, toInt64(uniqExact(oid)) AS orders
    FROM
    (
        SELECT partner_id, commission_id, minMerge(first_at) AS first, argMaxMerge(order_id) AS oid,
            argMaxMerge(line_id) AS lid, toUInt32OrZero(arrayElement(splitByChar('/', commission_id), -1)) AS version
        FROM commission_states
        GROUP BY partner_id, commission_id
    )
    WHERE toDate(first) >= toDate(now(), 'UTC') - 29
        AND (oid, lid, version) IN
        (
            -- The current decision's commission of each order line: an admin's
            -- re-attribution reverses the earlier version's (commission ids end
            -- in the decision's version, order/line/version), which is no refund.
            SELECT oid, lid, max(version)
            FROM
            (
                SELECT commission_id, argMaxMerge(order_id) AS oid, argMaxMerge(line_id) AS lid,
                    toUInt32OrZero(arrayElement(splitByChar('/', commission_id), -1)) AS version
                FROM commission_states
                GROUP BY commission_id
            )
            GROUP BY oid, lid
        )
    GROUP BY partner_id
) AS r USING partner_id
ORDER BY conversion_percent DESC, partner_id
