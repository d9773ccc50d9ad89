package settle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/settler/internal/produce"
)

// factNamespace derives commission fact ids from ledger keys, so a pass run
// again enqueues the same ids (the outbox drops them) and the sink can
// dedupe a republished fact.
var factNamespace = uuid.MustParse("0b6f4f1e-8f3c-4d55-a0a9-7c9d2e4b1f60")

// fact is one commission fact waiting to go on the outbox.
type fact struct {
	eventID, key string
	payload      []byte
}

// addFact queues the commission fact of c's new state; flushFacts writes
// the queue to the outbox in the transaction that changed c.
func (b *batch) addFact(orderID string, c *commissionRow, key string) {
	cur, err := money.ParseCurrency(c.Currency)
	if err != nil {
		panic("BUG: stored currency " + c.Currency + " does not parse")
	}
	f := events.Commission{
		EventID: uuid.NewSHA1(factNamespace, []byte(key)).String(), At: b.now.UTC(),
		CommissionID: *c.LedgerRef, OrderID: orderID, LineID: c.LineID,
		PartnerID: strconv.FormatInt(c.PartnerID, 10), Currency: cur,
		AmountMinor: c.Amount - c.Voided - c.Clawed, State: events.CommissionState(c.State), BaseMinor: c.Base,
	}
	b.facts = append(b.facts, fact{eventID: f.EventID, key: f.PartnerID, payload: events.AppendCommission(nil, &f)})
}

// flushFacts inserts the queued facts; a fact already enqueued is skipped.
// The usual case, where none is, is a COPY (several times cheaper than an
// INSERT ... ON CONFLICT per row) in a savepoint; when the COPY meets a
// fact already there, the savepoint is rolled back and the facts go through
// the INSERT that skips repeats.
func flushFacts(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.facts) == 0 {
		return nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("cannot enqueue commission facts: %w", err)
	}
	_, err = sp.CopyFrom(ctx, pgx.Identifier{"outbox"}, []string{"topic", "event_id", "key", "payload", "created_at"},
		pgx.CopyFromSlice(len(b.facts), func(i int) ([]any, error) {
			f := b.facts[i]
			return []any{"commissions", f.eventID, f.key, json.RawMessage(f.payload), b.now}, nil
		}))
	if err == nil {
		if err := sp.Commit(ctx); err != nil {
			return fmt.Errorf("cannot enqueue commission facts: %w", err)
		}
		return nil
	}
	if rerr := sp.Rollback(ctx); rerr != nil {
		return fmt.Errorf("cannot enqueue commission facts: %w (rollback: %v)", err, rerr)
	}
	if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != "23505" { // unique_violation
		return fmt.Errorf("cannot enqueue commission facts: %w", err)
	}
	ids := make([]string, len(b.facts))
	keys := make([]string, len(b.facts))
	payloads := make([]string, len(b.facts))
	for i, f := range b.facts {
		ids[i], keys[i], payloads[i] = f.eventID, f.key, string(f.payload)
	}
	_, err = tx.Exec(ctx, `INSERT INTO outbox (topic, event_id, key, payload, created_at)
SELECT 'commissions', f.event_id, f.key, f.payload::jsonb, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS f(event_id, key, payload)
ON CONFLICT (event_id) DO NOTHING`, ids, keys, payloads, b.now)
	if err != nil {
		return fmt.Errorf("cannot enqueue commission facts: %w", err)
	}
	return nil
}

type outboxRow struct {
	ID                  int64
	Topic, EventID, Key string
	Payload             []byte
}

// Relay publishes up to limit unpublished outbox rows, oldest first, to
// their topics (prefix + topic) and marks them published, in one
// transaction that holds them locked (a second relay skips them). A crash
// after the produce and before the commit publishes them again: consumers
// drop repeats by event_id. It returns how many rows it published.
func (s *Settler) Relay(ctx context.Context, w *kafka.Writer, prefix string, limit int) (int, error) {
	n := 0
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, topic, event_id, key, payload::text::bytea FROM outbox
WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("cannot read outbox: %w", err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
		if err != nil || len(out) == 0 {
			return err
		}
		msgs := make([]kafka.Message, len(out))
		ids := make([]int64, len(out))
		for i, r := range out {
			msgs[i] = kafka.Message{Topic: prefix + r.Topic, Key: []byte(r.Key), Value: r.Payload}
			ids[i] = r.ID
		}
		if err := produce.Write(ctx, w, msgs...); err != nil {
			return fmt.Errorf("cannot publish %d outbox rows: %w", len(msgs), err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = $2 WHERE id = ANY($1)`, ids, time.Now()); err != nil {
			return fmt.Errorf("cannot mark outbox rows published: %w", err)
		}
		n = len(out)
		return nil
	})
	return n, err
}

// NewOutboxWriter returns the Kafka writer Relay needs: every message names
// its topic, acks from all in-sync replicas, short batching.
func NewOutboxWriter(brokers []string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           10 * time.Millisecond,
		BatchSize:              1000,
		MaxAttempts:            5,
		AllowAutoTopicCreation: true,
	}
}
