-- Click-to-order delay: orders placed in the last 30 days (UTC, today
-- included) on a device with a non-bot partner click at or before the order
-- and within 365 days (the default attribution window), bucketed by the time
-- from that device's last such click to the order.
SELECT
    bucket,
    toInt64(count()) AS orders
FROM
(
    SELECT
        order_id,
        any(order_at) - max(click_at) AS delay_seconds,
        multiIf(delay_seconds < 3600, '1 under 1 hour',
                delay_seconds < 86400, '2 1 hour to 1 day',
                delay_seconds < 7 * 86400, '3 1 to 7 days',
                delay_seconds < 30 * 86400, '4 7 to 30 days',
                '5 over 30 days') AS bucket
    FROM
    (
        SELECT order_id, device_token, at AS order_at
        FROM order_events
        WHERE type = 'order.placed' AND device_token != '' AND toDate(at) >= toDate(now(), 'UTC') - 29
        GROUP BY order_id, device_token, at
    ) AS l
    ALL INNER JOIN
    (
        SELECT device_token, at AS click_at
        FROM device_clicks
        WHERE device_token IN
        (
            SELECT device_token FROM order_events
            WHERE type = 'order.placed' AND device_token != '' AND toDate(at) >= toDate(now(), 'UTC') - 29
        )
    ) AS r USING device_token
    WHERE click_at <= order_at AND click_at >= order_at - 365 * 86400
    GROUP BY order_id
)
GROUP BY bucket
ORDER BY bucket
