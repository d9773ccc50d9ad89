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
-- partner ids); messages = the number of lines; payload is NULL on such a
-- row. Compressed with LZ4 like payload (00330).
--
-- Written to run with the previous release (deploy/OPERATIONS.md, upgrades):
-- rows of the 00320 form (payload.messages) stay valid, are not rewritten
-- (the outbox keeps its history: converting it would rewrite every batch
-- row under the table's lock) and are still listed by outbox_messages and
-- published by the relay; a settler of the previous release may go on
-- writing them until it is rolled. The new CHECKs are NOT VALID: the rows
-- already there satisfy them by the constraint they replace, and
-- validating would read every batch row's payload out of TOAST.

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
ALTER TABLE outbox ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_messages_shape;
-- A row is one message (payload), or a batch: bytes (batch, no payload) or,
-- as before 00370, payload.messages.
ALTER TABLE outbox ADD CONSTRAINT outbox_batch_shape CHECK (
    CASE WHEN batch IS NOT NULL THEN payload IS NULL AND messages IS NOT NULL
         ELSE payload IS NOT NULL
              AND (messages IS NULL OR COALESCE(jsonb_typeof(payload -> 'messages') = 'array', false))
    END) NOT VALID;

DROP VIEW outbox_messages;
CREATE VIEW outbox_messages AS
SELECT o.id AS outbox_id,
       m.n AS n,
       o.topic,
       COALESCE(m.key, o.key) AS key,
       COALESCE(m.value, o.payload) AS payload,
       COALESCE(m.value ->> 'event_id', o.event_id) AS event_id,
       o.created_at,
       o.published_at
FROM outbox o
LEFT JOIN LATERAL (
    SELECT e.v ->> 'key' AS key, e.v -> 'value' AS value, e.n
    FROM jsonb_array_elements(CASE WHEN o.messages IS NOT NULL AND o.batch IS NULL THEN o.payload -> 'messages' END)
        WITH ORDINALITY AS e(v, n)
    UNION ALL
    -- A line without its tab fails the cast: the view raises rather than
    -- list a broken message.
    SELECT split_part(l.line, E'\t', 1), substr(l.line, strpos(l.line, E'\t') + 1)::jsonb, l.n
    FROM unnest(string_to_array(rtrim(convert_from(o.batch, 'UTF8'), E'\n'), E'\n')) WITH ORDINALITY AS l(line, n)
) m ON true;

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
