-- A settlement batch's outbox row carries its commission facts as bytes,
-- not jsonb. Since 00320 one row holds a batch's facts (about 4500 at 1500
-- orders of 3 lines, 1.5 MB of JSON) in payload.messages; Postgres parsed
-- that JSON into jsonb on every insert, in the bind step that
-- pg_stat_statements does not count: jsonb_in was 9 % of Postgres's CPU
-- samples in the settlement pass (perf, 100k orders). The settler wrote the
-- JSON itself (pkg/events) and the relay only splits it again, so nothing
-- needed it parsed.
--
-- batch: one line per message, "key TAB value NEWLINE", value a compact JSON
-- object (raw tabs and newlines never occur in compact JSON; keys are
-- partner ids). messages = the number of lines; payload is NULL on such a
-- row. The view outbox_messages still lists every message, its payload as
-- jsonb, parsed when read. Compressed with LZ4 like payload (00330).

-- +goose Up
ALTER TABLE outbox ADD COLUMN batch bytea;
-- +goose StatementBegin
DO $$
BEGIN
    ALTER TABLE outbox ALTER COLUMN batch SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'outbox.batch keeps pglz: this Postgres is built without LZ4';
END
$$;
-- +goose StatementEnd
ALTER TABLE outbox DROP CONSTRAINT outbox_messages_shape;
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
UPDATE outbox SET batch = convert_to((
        SELECT string_agg((m ->> 'key') || E'\t' || (m -> 'value')::text || E'\n', '' ORDER BY n)
        FROM jsonb_array_elements(payload -> 'messages') WITH ORDINALITY AS e(m, n)), 'UTF8'),
    payload = NULL
WHERE messages IS NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_batch_shape
    CHECK ((messages IS NULL) = (batch IS NULL) AND (payload IS NULL) = (batch IS NOT NULL));

DROP VIEW outbox_messages;
CREATE VIEW outbox_messages AS
SELECT o.id AS outbox_id,
       m.n AS n,
       o.topic,
       COALESCE(split_part(m.line, E'\t', 1), o.key) AS key,
       COALESCE(substr(m.line, strpos(m.line, E'\t') + 1)::jsonb, o.payload) AS payload,
       COALESCE(substr(m.line, strpos(m.line, E'\t') + 1)::jsonb ->> 'event_id', o.event_id) AS event_id,
       o.created_at,
       o.published_at
FROM outbox o
LEFT JOIN LATERAL unnest(string_to_array(rtrim(convert_from(o.batch, 'UTF8'), E'\n'), E'\n'))
    WITH ORDINALITY AS m(line, n) ON true;

-- +goose Down
DROP VIEW outbox_messages;
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
ALTER TABLE outbox DROP CONSTRAINT outbox_batch_shape;
UPDATE outbox SET payload = jsonb_build_object('messages', (
        SELECT jsonb_agg(jsonb_build_object('key', split_part(line, E'\t', 1),
                                            'value', substr(line, strpos(line, E'\t') + 1)::jsonb) ORDER BY n)
        FROM unnest(string_to_array(rtrim(convert_from(batch, 'UTF8'), E'\n'), E'\n')) WITH ORDINALITY AS m(line, n)))
WHERE batch IS NOT NULL;
ALTER TABLE outbox ALTER COLUMN payload SET NOT NULL;
ALTER TABLE outbox DROP COLUMN batch;
ALTER TABLE outbox ADD CONSTRAINT outbox_messages_shape
    CHECK (messages IS NULL OR COALESCE(jsonb_typeof(payload -> 'messages') = 'array', false));
