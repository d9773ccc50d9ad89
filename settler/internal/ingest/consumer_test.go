package ingest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/kafkatopic"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/produce"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// kafkaWorld is a test's own topics on the package's broker and a
// Postgres database, for consumers of one group.
type kafkaWorld struct {
	t       *testing.T
	brokers []string
	prefix  string
	group   string
	pool    *pgxpool.Pool
}

func newKafkaWorld(t *testing.T) *kafkaWorld {
	t.Helper()
	env := testenv.Get(t)
	w := &kafkaWorld{t: t, brokers: env.KafkaBrokers(), prefix: env.TopicPrefix(t), pool: newPool(t)}
	w.group = "settler-" + w.prefix
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := kafkatopic.Ensure(ctx, w.brokers, []string{w.prefix + TopicOrders, w.prefix + TopicIdentities, w.prefix + "dlq"}); err != nil {
		t.Fatal(err)
	}
	return w
}

// produce writes bodies to the orders topic under key (one key: one
// partition, in this order).
func (w *kafkaWorld) produce(key string, bodies ...[]byte) {
	w.t.Helper()
	wr := &kafka.Writer{Addr: kafka.TCP(w.brokers...), Topic: w.prefix + TopicOrders, Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer wr.Close()
	msgs := make([]kafka.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = kafka.Message{Key: []byte(key), Value: b}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := produce.Write(ctx, wr, msgs...); err != nil {
		w.t.Fatal(err)
	}
}

func (w *kafkaWorld) consumer(dec Decoder) *Consumer {
	c := NewConsumer(w.pool, dec, Options{Brokers: w.brokers, TopicPrefix: w.prefix, GroupID: w.group}, quiet)
	w.t.Cleanup(func() { c.Close() })
	return c
}

func (w *kafkaWorld) drain(c *Consumer) {
	w.t.Helper()
	if err := c.Drain(context.Background(), time.Minute); err != nil {
		w.t.Fatalf("Drain: %v", err)
	}
}

// dlq returns the first n records of the dlq topic, each keyed by the
// full name of its topic (as the sink keys its records).
func (w *kafkaWorld) dlq(n int) []events.DLQRecord {
	w.t.Helper()
	var out []events.DLQRecord
	for _, m := range testenv.ReadMessages(w.t, w.brokers, w.prefix+"dlq", n) {
		rec, err := events.DecodeDLQRecord(m.Value)
		if err != nil {
			w.t.Fatalf("dlq record %q: %v", m.Value, err)
		}
		if string(m.Key) != rec.Topic || !strings.HasPrefix(rec.Topic, w.prefix) {
			w.t.Fatalf("dlq record of %s keyed %q, want the full topic name", rec.Topic, m.Key)
		}
		out = append(out, rec)
	}
	return out
}

func withCustomer(body []byte, customer string) []byte {
	return []byte(strings.Replace(string(body), `"customer_id":"c1"`, `"customer_id":"`+customer+`"`, 1))
}

// An order event with a lone surrogate escape once passed the decoder and
// failed the ingest's transaction in Postgres (the event's bytes go into a
// jsonb column), so the batch was retried for ever and `settler run` never
// succeeded. The decoder refuses it now: it goes to the dlq naming the
// field, and the event after it is applied.
func TestLoneSurrogateEventGoesToDLQ(t *testing.T) {
	w := newKafkaWorld(t)
	at := "2026-01-01T00:00:00Z"
	w.produce("k",
		withCustomer(placed("e1", "o1", at, line("l1", "p1", 1, "10.00")), `c\ud800`),
		placed("e2", "o2", at, line("l1", "p1", 1, "10.00")))
	c := w.consumer(EventsDecoder())
	w.drain(c)
	if got := queryOne[string](t, w.pool, `SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders`); got != "o2" {
		t.Fatalf("orders %s, want o2", got)
	}
	rec := w.dlq(1)[0]
	if !strings.Contains(rec.Reason, "customer_id") || !strings.Contains(rec.Reason, "surrogate") || rec.Topic != w.prefix+TopicOrders {
		t.Fatalf("dlq record of %s: %q (payload %s), want the orders event refused on customer_id", rec.Topic, rec.Reason, rec.Payload)
	}
	if got := c.Totals(); got.Applied != 1 || got.Rejected != 1 {
		t.Fatalf("totals %+v, want 1 applied, 1 rejected", got)
	}
}

// When Postgres refuses a batch for what one event holds (here: a decoder
// that lets a lone surrogate through, as pkg/events once did), the
// consumer finds that event by applying the batch in parts, sends it to
// the dlq with Postgres's error and applies the rest, instead of retrying
// the same batch for ever.
func TestEventPostgresRefusesGoesToDLQ(t *testing.T) {
	w := newKafkaWorld(t)
	lenient := EventsDecoder()
	lenient.Order = func(body []byte) (OrderEvent, error) {
		return decodeOrder([]byte(strings.ReplaceAll(string(body), `\ud800`, "x")))
	}
	at := "2026-01-01T00:00:00Z"
	var bodies [][]byte
	for i := range 7 {
		b := placed(fmt.Sprintf("e%d", i), fmt.Sprintf("o%d", i), at, line("l1", "p1", 1, "10.00"))
		if i == 4 {
			b = withCustomer(b, `c\ud800`)
		}
		bodies = append(bodies, b)
	}
	w.produce("k", bodies...)
	c := w.consumer(lenient)
	w.drain(c)
	if got := queryOne[string](t, w.pool, `SELECT string_agg(order_id, ',' ORDER BY order_id) FROM orders`); got != "o0,o1,o2,o3,o5,o6" {
		t.Fatalf("orders %s, want all but o4", got)
	}
	if n := queryOne[int](t, w.pool, `SELECT count(*) FROM inbox WHERE event_id = 'e4'`); n != 0 {
		t.Fatalf("the refused event is in the inbox")
	}
	rec := w.dlq(1)[0]
	if !strings.Contains(rec.Reason, "postgres refused the event") || !strings.Contains(rec.Reason, "SQLSTATE 22P02") ||
		!strings.Contains(string(rec.Payload), `"e4"`) {
		t.Fatalf("dlq record %q (payload %s), want e4 refused by postgres", rec.Reason, rec.Payload)
	}
	if got := c.Totals(); got.Applied != 6 || got.Rejected != 1 {
		t.Fatalf("totals %+v, want 6 applied, 1 rejected", got)
	}
}

// Drain (`settler run`) ends once every partition is ingested, also the
// partitions another member of its group (a `settler serve` replica) holds
// and commits: before, it waited for messages it would never read and
// failed after its maxWait.
func TestDrainEndsWhenAnotherMemberCommits(t *testing.T) {
	w := newKafkaWorld(t)
	at := "2026-01-01T00:00:00Z"
	for i := range 40 {
		w.produce(fmt.Sprint(i), placed(fmt.Sprintf("e%d", i), fmt.Sprintf("o%d", i), at, line("l1", "p1", 1, "10.00")))
	}
	// The serving member takes every partition and reads a batch, but
	// applies nothing until the draining member has joined and read the
	// high-water marks.
	fetched, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	gated := EventsDecoder()
	gated.Order = func(body []byte) (OrderEvent, error) {
		once.Do(func() { close(fetched) })
		<-release
		return decodeOrder(body)
	}
	serving := w.consumer(gated)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serving.Run(ctx) }()
	defer func() {
		cancel()
		<-served
	}()
	select {
	case <-fetched:
	case <-time.After(time.Minute):
		t.Fatal("the serving member read nothing within a minute")
	}

	draining := w.consumer(EventsDecoder())
	drained := make(chan error, 1)
	began := time.Now()
	go func() { drained <- draining.Drain(context.Background(), 40*time.Second) }()
	time.Sleep(2 * time.Second) // the draining member reads the marks and joins
	close(release)
	if err := <-drained; err != nil {
		t.Fatalf("Drain after %s: %v", time.Since(began).Round(time.Millisecond), err)
	}
	if n := queryOne[int](t, w.pool, `SELECT count(*) FROM orders`); n != 40 {
		t.Fatalf("orders %d, want 40", n)
	}
}

// unread: a partition is to be drained when messages lie past both the
// group's committed offset and the log start offset.
func TestUnread(t *testing.T) {
	f := func(committed, logStart, highWater int64, want bool) {
		t.Helper()
		if got := unread(committed, logStart, highWater); got != want {
			t.Fatalf("unread(%d, %d, %d) = %v, want %v", committed, logStart, highWater, got, want)
		}
	}
	f(-1, 0, 0, false) // empty, never consumed
	f(-1, 0, 5, true)  // never consumed
	f(3, 0, 5, true)   // partly consumed
	f(5, 0, 5, false)  // consumed
	f(7, 0, 5, false)  // committed past the mark (a topic recreated)
	// Retention deleted everything after the committed offset: nothing
	// left to read, although the committed offset lags.
	f(2, 5, 5, false)
	f(-1, 9, 9, false)
	// Retention deleted some: what is left is still to be read.
	f(2, 4, 9, true)
}
