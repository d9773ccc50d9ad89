-- Bot share per partner: the last 30 days (UTC days, today included). Clicks the
-- tracker flagged as bots against all clicks; bot_percent has 2 decimals.
SELECT
    partner_id,
    toInt64(uniqExactIfMerge(clicks)) AS human_clicks,
    toInt64(uniqExactIfMerge(bot_clicks)) AS bot_clicks,
    if(human_clicks + bot_clicks = 0, 0, round(100 * bot_clicks / (human_clicks + bot_clicks), 2)) AS bot_percent
FROM daily_clicks
WHERE day >= toDate(now(), 'UTC') - 29 AND partner_id != ''
GROUP BY partner_id
ORDER BY bot_percent DESC, partner_id
