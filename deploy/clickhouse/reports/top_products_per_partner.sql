-- Top 3 products per partner by commission: the last 30 days (UTC, today
-- included). Commissions that appeared in the window, current state, voided
-- and fully clawed-back ones excluded, joined to the placed order line for
-- its product. orders: distinct orders; revenue_minor: line bases.
SELECT
    partner_id,
    product_id,
    currency,
    toInt64(uniqExact(oid)) AS orders,
    toInt64(sum(base)) AS revenue_minor,
    toInt64(sum(amount)) AS commission_minor
FROM
(
    SELECT
        partner_id,
        commission_id,
        minMerge(first_at) AS first,
        argMaxMerge(order_id) AS oid,
        argMaxMerge(line_id) AS lid,
        argMaxMerge(currency) AS currency,
        argMaxMerge(current_state) AS st,
        argMaxMerge(current_amount_minor) AS amount,
        argMaxMerge(base_minor) AS base
    FROM commission_states
    GROUP BY partner_id, commission_id
    HAVING toDate(first) >= toDate(now(), 'UTC') - 29 AND st NOT IN ('voided', 'clawed_back')
) AS l
ALL INNER JOIN
(
    SELECT order_id AS oid, line_id AS lid, any(product_id) AS product_id
    FROM order_lines
    WHERE type = 'order.placed'
    GROUP BY order_id, line_id
) AS r USING oid, lid
GROUP BY partner_id, product_id, currency
ORDER BY partner_id, commission_minor DESC, product_id, currency
LIMIT 3 BY partner_id
