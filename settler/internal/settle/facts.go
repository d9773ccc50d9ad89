package settle

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/money"
	"github.com/openaff/affiliate/settler/internal/produce"
)

// factNamespace derives commission fact ids from the keys of the changes
// they report ("accrue:<ledger ref>" for an accrual, the ledger key of a void
// or clawback), so a pass run again enqueues the same ids (the outbox drops
// them) and the sink can dedupe a republished fact. An accrual's fact keeps
// its per-commission key although the ledger now accrues an order's
// commissions under one key (accrue-order:...): one fact per commission.
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

// flushFacts enqueues the queued facts as one outbox row (migrations 00320,
// 00370): batch holds one line per fact, "key TAB value NEWLINE", messages
// their number, event_id derived from the facts' ids. One row per batch
// instead of one per fact took a fifth of the settlement pass's CPU off, and
// bytes instead of jsonb spare Postgres parsing them (settler/README.md).
// The same facts enqueued again (a batch repeated after a failure somewhere
// the transaction did not cover) are the same row and are skipped; a single
// fact repeated in another batch is published twice, and the sink keeps one
// (it dedupes commission facts by event id).
func flushFacts(ctx context.Context, tx pgx.Tx, b *batch) error {
	if len(b.facts) == 0 {
		return nil
	}
	id, lines := factBatch(b.facts)
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (topic, event_id, key, batch, messages, created_at)
VALUES ('commissions', $1, '', $2, $3, $4) ON CONFLICT (event_id) DO NOTHING`,
		id, lines, len(b.facts), b.now); err != nil {
		return fmt.Errorf("cannot enqueue %d commission facts: %w", len(b.facts), err)
	}
	return nil
}

// factBatch returns the event id and the batch bytes of the outbox row that
// carries facts. The id is a name-based UUID of the facts' ids, in order.
func factBatch(facts []fact) (string, []byte) {
	n := 0
	for _, f := range facts {
		n += len(f.key) + len(f.payload) + 2
	}
	ids := make([]byte, 0, len(facts)*37)
	lines := make([]byte, 0, n)
	for _, f := range facts {
		// Keys are partner ids and payloads compact JSON: neither holds a
		// raw tab or newline, which would split a line.
		if strings.ContainsAny(f.key, "\t\n") || bytes.IndexByte(f.payload, '\t') >= 0 || bytes.IndexByte(f.payload, '\n') >= 0 {
			panic(fmt.Sprintf("BUG: commission fact %s holds a tab or newline", f.eventID))
		}
		lines = append(lines, f.key...)
		lines = append(lines, '\t')
		lines = append(lines, f.payload...)
		lines = append(lines, '\n')
		ids = append(append(ids, f.eventID...), '\n')
	}
	return uuid.NewSHA1(factNamespace, ids).String(), lines
}

// splitBatch returns the messages of an outbox row's batch bytes.
func splitBatch(topic string, batch []byte) ([]outboxMessage, error) {
	var out []outboxMessage
	for len(batch) > 0 {
		line, rest, ok := bytes.Cut(batch, []byte{'\n'})
		key, value, tab := bytes.Cut(line, []byte{'\t'})
		if !ok || !tab {
			return nil, fmt.Errorf("outbox batch line %d is not key TAB value NEWLINE", len(out)+1)
		}
		out = append(out, outboxMessage{Topic: topic, Key: string(key), Payload: value})
		batch = rest
	}
	return out, nil
}

// splitPayloadMessages returns the messages of a batch row in the form
// before migration 00370, payload {"messages": [{"key", "value"}, ...]}:
// rows written before the upgrade, or by a settler of the previous release
// while the upgrade rolls.
func splitPayloadMessages(topic, key string, payload []byte) ([]outboxMessage, error) {
	var p struct {
		Messages []struct {
			Key   *string         `json:"key"`
			Value json.RawMessage `json:"value"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("outbox payload.messages: %w", err)
	}
	out := make([]outboxMessage, len(p.Messages))
	for i, m := range p.Messages {
		if len(m.Value) == 0 {
			return nil, fmt.Errorf("outbox payload.messages[%d] has no value", i)
		}
		out[i] = outboxMessage{Topic: topic, Key: key, Payload: m.Value}
		if m.Key != nil { // else the row's key, as outbox_messages lists it
			out[i].Key = *m.Key
		}
	}
	return out, nil
}

type outboxMessage struct {
	Topic, Key string
	Payload    []byte
}

// Relay publishes the unpublished outbox rows, oldest first, to their topics
// (prefix + topic) and marks them published, in one transaction that holds
// them locked (a second relay skips them): rows until they carry limit
// messages (a row of a settlement batch carries many, migration 00320), and
// every message of a row it takes. A crash after the produce and before the
// commit publishes them again: consumers drop repeats by event_id. It
// returns how many messages it published; fewer than limit means the outbox
// had no more.
func (s *Settler) Relay(ctx context.Context, w *kafka.Writer, prefix string, limit int) (int, error) {
	n := 0
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH c AS (
    SELECT id, COALESCE(messages, 1) AS m FROM outbox
    WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
SELECT id FROM (SELECT id, sum(m) OVER (ORDER BY id) - m AS before FROM c) x WHERE before < $1 ORDER BY id`, limit)
		if err != nil {
			return fmt.Errorf("cannot read outbox: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil || len(ids) == 0 {
			return err
		}
		// payload (jsonb) is scanned into []byte as the text of the JSON,
		// batch (bytea) as its bytes. Never through a text-to-bytea cast:
		// bytea's input parser takes the backslashes of JSON escapes for
		// its own, and refuses `\"` or turns `\\` into `\`.
		rows, err = tx.Query(ctx, `SELECT topic, key, payload, batch, messages IS NOT NULL FROM outbox
WHERE id = ANY($1) ORDER BY id`, ids)
		if err != nil {
			return fmt.Errorf("cannot read outbox: %w", err)
		}
		var out []outboxMessage
		var topic, key string
		var payload, batch []byte
		var many bool
		_, err = pgx.ForEachRow(rows, []any{&topic, &key, &payload, &batch, &many}, func() error {
			var ms []outboxMessage
			var err error
			switch {
			case batch != nil:
				ms, err = splitBatch(topic, batch)
			case many:
				ms, err = splitPayloadMessages(topic, key, payload)
			default:
				ms = []outboxMessage{{Topic: topic, Key: key, Payload: payload}}
			}
			out = append(out, ms...)
			return err
		})
		if err != nil {
			return fmt.Errorf("cannot read outbox: %w", err)
		}
		msgs := make([]kafka.Message, len(out))
		for i, r := range out {
			msgs[i] = kafka.Message{Topic: prefix + r.Topic, Key: []byte(r.Key), Value: r.Payload}
		}
		if err := produce.Write(ctx, w, msgs...); err != nil {
			return fmt.Errorf("cannot publish %d messages of %d outbox rows: %w", len(msgs), len(ids), err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = $2 WHERE id = ANY($1)`, ids, time.Now()); err != nil {
			return fmt.Errorf("cannot mark outbox rows published: %w", err)
		}
		n = len(msgs)
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
