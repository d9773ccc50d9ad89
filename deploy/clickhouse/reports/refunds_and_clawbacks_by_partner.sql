-- Refunds and clawbacks per partner and currency: commissions that appeared
-- in the last 90 days (UTC days, today included). A void takes back a
-- commission before approval, a clawback after (DESIGN §5). Commissions of a
-- decision an admin replaced (the order moved to another partner) are not
-- refunds and are left out.
--   voided, clawed_back, partially_clawed_back: commissions in that state now
--   partially_voided: commissions partly voided before approval and not
--     voided in full since, whatever happened after (a partly voided
--     commission is approved as usual, by an admin or after delivery, and
--     may then be clawed back: it counts here and in that column too); their
--     current state no longer says so (commission_history, 00205, does)
--   lost_base_minor: base of fully voided or clawed-back commissions
--   taken_back_minor: commission taken back by voids and clawbacks, partial
--     or full: accrued minus current amount, summed
--   refunded_orders: distinct orders among all of these
SELECT
    partner_id,
    cur AS currency,
    toInt64(countIf(st = 'voided')) AS voided,
    toInt64(countIf(pv = 1 AND st != 'voided')) AS partially_voided,
    toInt64(countIf(st = 'clawed_back')) AS clawed_back,
    toInt64(countIf(st = 'partially_clawed_back')) AS partially_clawed_back,
    toInt64(sumIf(base, st IN ('voided', 'clawed_back'))) AS lost_base_minor,
    toInt64(sum(accrued - amt)) AS taken_back_minor,
    toInt64(uniqExactIf(oid, pv = 1 OR st IN ('voided', 'clawed_back', 'partially_clawed_back'))) AS refunded_orders
FROM
(
    SELECT
        partner_id,
        commission_id,
        minMerge(first_at) AS first,
        argMaxMerge(order_id) AS oid,
        argMaxMerge(line_id) AS lid,
        argMaxMerge(currency) AS cur,
        argMaxMerge(current_state) AS st,
        argMaxMerge(current_amount_minor) AS amt,
        argMaxMerge(base_minor) AS base,
        toUInt32OrZero(arrayElement(splitByChar('/', commission_id), -1)) AS version
    FROM commission_states
    GROUP BY partner_id, commission_id
) AS s
ANY INNER JOIN
(
    -- What each commission accrued (amounts only shrink) and whether it was
    -- ever partially voided.
    SELECT
        partner_id,
        commission_id,
        maxMerge(accrued_amount_minor) AS accrued,
        maxMerge(was_partially_voided) AS pv
    FROM commission_history
    GROUP BY partner_id, commission_id
) AS h USING partner_id, commission_id
WHERE toDate(first) >= toDate(now(), 'UTC') - 89
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
GROUP BY partner_id, cur
HAVING refunded_orders > 0
ORDER BY refunded_orders DESC, partner_id, currency
