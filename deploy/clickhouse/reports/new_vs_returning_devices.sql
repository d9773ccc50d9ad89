-- New vs returning devices per day: the last 30 days (UTC days, today included).
-- Counts devices with a non-bot partner click that day (device_clicks); a
-- device is new on the day of its first such click ever, returning after.
SELECT
    day,
    toInt64(countIf(first_day = day)) AS new_devices,
    toInt64(countIf(first_day < day)) AS returning_devices
FROM
(
    SELECT device_token, toDate(at) AS day
    FROM device_clicks
    WHERE toDate(at) >= toDate(now(), 'UTC') - 29
    GROUP BY device_token, day
) AS l
ALL INNER JOIN
(
    SELECT device_token, toDate(min(at)) AS first_day
    FROM device_clicks
    WHERE device_token IN (SELECT device_token FROM device_clicks WHERE toDate(at) >= toDate(now(), 'UTC') - 29)
    GROUP BY device_token
) AS r USING device_token
GROUP BY day
ORDER BY day
