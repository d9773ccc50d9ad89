-- Outbox rows that carry many messages. A settlement batch enqueues one
-- commission fact per changed commission (a million orders of three lines:
-- three million facts); one outbox row each cost about as much Postgres CPU
-- as the commission row itself (heap tuple, three index entries, a jsonb
-- parse, the CHECKs). The settler now enqueues a batch's facts as one row:
--   payload  = {"messages": [{"key": <Kafka key>, "value": <message>}, ...]}
--   messages = how many there are; NULL for a row that is itself one message
--              (payload = the message, key = its key), as before.
-- The relay publishes every message of a row before it marks the row, and
-- sizes its transactions by messages. outbox_messages lists the messages of
-- every row, one per line, for the relay, the tests and anyone reading the
-- outbox by hand.

-- +goose Up
ALTER TABLE outbox ADD COLUMN messages integer CHECK (messages >= 1);
-- The count is what the relay sizes its transactions by; the array's length
-- is checked by the settler's tests, not per row (that would walk the array).
ALTER TABLE outbox ADD CONSTRAINT outbox_messages_shape
    CHECK (messages IS NULL OR COALESCE(jsonb_typeof(payload -> 'messages') = 'array', false));

CREATE VIEW outbox_messages AS
SELECT o.id AS outbox_id,
       m.n AS n,
       o.topic,
       COALESCE(m.v ->> 'key', o.key) AS key,
       COALESCE(m.v -> 'value', o.payload) AS payload,
       COALESCE(m.v -> 'value' ->> 'event_id', o.event_id) AS event_id,
       o.created_at,
       o.published_at
FROM outbox o
LEFT JOIN LATERAL jsonb_array_elements(CASE WHEN o.messages IS NOT NULL THEN o.payload -> 'messages' END)
    WITH ORDINALITY AS m(v, n) ON true;

-- +goose Down
DROP VIEW outbox_messages;
ALTER TABLE outbox DROP CONSTRAINT outbox_messages_shape, DROP COLUMN messages;
