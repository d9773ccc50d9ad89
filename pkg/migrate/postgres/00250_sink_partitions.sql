-- +goose Up
-- The sink's progress per Kafka partition (tracker sink): max_at is the
-- latest event time committed from that partition, next_offset the offset
-- after the last committed message. The sink derives each topic's
-- sink_watermarks row (00009) from these and the group's committed offsets:
-- a partition caught up to its high-water mark counts as "now", so an idle
-- partition never holds the watermark back. topic is the short name.
CREATE TABLE sink_partitions (
    topic       text NOT NULL CHECK (length(topic) BETWEEN 1 AND 200),
    partition   integer NOT NULL CHECK (partition >= 0),
    max_at      timestamptz NOT NULL,
    next_offset bigint NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- +goose Down
DROP TABLE sink_partitions;
