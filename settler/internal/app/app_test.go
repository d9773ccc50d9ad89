package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/openaff/affiliate/pkg/config"
	"github.com/openaff/affiliate/pkg/events"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/chtest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type world struct {
	t    *testing.T
	cfg  *config.Config
	pool *pgxpool.Pool
}

func newWorld(t *testing.T) *world {
	t.Helper()
	env := testenv.Get(t)
	cfg := &config.Config{
		KafkaBrokers: env.KafkaBrokers(), KafkaTopicPrefix: env.TopicPrefix(t),
		PostgresURL: env.PostgresURL(t), ClickHouseAddr: env.ClickHouseAddr(), ClickHouseDB: chtest.DB(t),
	}
	pool, err := pgxpool.New(context.Background(), cfg.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &world{t: t, cfg: cfg, pool: pool}
}

func (w *world) produce(topic string, bodies ...string) {
	w.t.Helper()
	wr := &kafka.Writer{Addr: kafka.TCP(w.cfg.KafkaBrokers...), Topic: w.cfg.Topic(topic), Balancer: &kafka.Hash{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond, AllowAutoTopicCreation: true}
	defer wr.Close()
	msgs := make([]kafka.Message, len(bodies))
	for i, b := range bodies {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(b)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for range 20 { // a fresh topic may need a moment for its leader
		if err = wr.WriteMessages(ctx, msgs...); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	w.t.Fatalf("produce to %s: %v", topic, err)
}

func (w *world) consumeAll(topic string, want int) [][]byte {
	w.t.Helper()
	var out [][]byte
	for _, m := range testenv.ReadMessages(w.t, w.cfg.KafkaBrokers, w.cfg.Topic(topic), want) {
		out = append(out, m.Value)
	}
	return out
}

// landedClick is a click as the sink lands it in ClickHouse (link l1, no bot).
type landedClick struct {
	id      string
	at      time.Time
	device  string
	partner int64
}

// landClicks inserts clicks into ClickHouse and moves the sink watermark
// past them, as the sink would.
func (w *world) landClicks(clicks []landedClick) {
	w.t.Helper()
	ctx := context.Background()
	ch, err := migrate.Open(ctx, w.cfg.ClickHouseAddr, w.cfg.ClickHouseDB)
	if err != nil {
		w.t.Fatal(err)
	}
	defer ch.Close()
	b, err := ch.PrepareBatch(ctx, "INSERT INTO "+w.cfg.ClickHouseDB+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range clicks {
		if err := b.Append(c.id, c.at, c.device, fmt.Sprint(c.partner), "l1", uint8(0)); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.pool.Exec(ctx, `INSERT INTO sink_watermarks (topic, watermark) VALUES ('clicks', now())`); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) one(sql string, args ...any) int64 {
	w.t.Helper()
	var v int64
	if err := w.pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func (w *world) run() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := DefaultOptions()
	opts.GroupID = "settler-" + w.cfg.KafkaTopicPrefix
	if err := RunOnceWith(ctx, w.cfg, opts, quiet); err != nil {
		w.t.Fatal(err)
	}
}

func TestRunIngestsEverythingOnceAndSettles(t *testing.T) {
	w := newWorld(t)
	p := w.one(`INSERT INTO partners (name, email, slug) VALUES ('Serdar', 's@example.com', 'serdar') RETURNING id`)
	t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var clicks []landedClick
	for i := range 20 {
		clicks = append(clicks, landedClick{uuid.Must(uuid.NewV7()).String(), t0, fmt.Sprintf("dev%d", i), p})
	}
	w.landClicks(clicks)
	var orders, identities []string
	for i := range 20 {
		at := t0.Add(time.Duration(i+1) * time.Minute).Format(time.RFC3339)
		orders = append(orders, fmt.Sprintf(`{"v":1,"event_id":"e%d","type":"order.placed","order_id":"o%d","at":%q,"customer_id":"c%d","device_token":"dev%d","currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"10.00"}]}`, i, i, at, i, i))
		// The customer logs in after ordering: the order is the device's.
		later := t0.Add(time.Duration(i+1)*time.Minute + 30*time.Second).Format(time.RFC3339)
		identities = append(identities, fmt.Sprintf(`{"v":1,"event_id":"i%d","at":%q,"device_token":"dev%d","customer_id":"c%d"}`, i, later, i, i))
	}
	// A refund that arrives before its order, and a bad event.
	early := fmt.Sprintf(`{"v":1,"event_id":"r0","type":"order.refunded","order_id":"o0","at":%q,"currency":"EUR","amount":"5.00"}`, t0.Add(30*time.Minute).Format(time.RFC3339))
	bad := `{"v":1,"event_id":"bad","type":"order.placed","order_id":"ox","at":"yesterday","currency":"EUR","lines":[]}`
	// Every event twice (Kafka is at-least-once).
	w.produce("orders", append([]string{early, bad, early}, append(orders, orders...)...)...)
	w.produce("identities", append(identities, identities...)...)

	w.run()
	if n := w.one(`SELECT count(*) FROM orders`); n != 20 {
		t.Fatalf("orders %d, want 20", n)
	}
	if n := w.one(`SELECT count(*) FROM attributions WHERE rule = 'device' AND partner_id = $1`, p); n != 20 {
		t.Fatalf("device attributions %d, want 20", n)
	}
	// 20 × 1.00, minus half of o0's for the early refund.
	if n := w.one(`SELECT sum(amount_minor - voided_amount_minor) FROM commissions`); n != 1950 {
		t.Fatalf("commission total %d, want 1950", n)
	}
	if n := w.one(`SELECT count(*) FROM customer_bindings WHERE partner_id = $1`, p); n != 20 {
		t.Fatalf("bindings %d, want 20", n)
	}
	if n := w.one(`SELECT count(*) FROM settlement_runs WHERE finished_at IS NOT NULL AND error IS NULL`); n != 4 {
		t.Fatalf("recorded runs %d, want 4", n)
	}
	// The bad event is in the dlq with its reason; the facts were published.
	dlq := w.consumeAll("dlq", 1)
	rec, err := events.DecodeDLQRecord(dlq[0])
	if err != nil || !strings.Contains(rec.Reason, "at") || rec.Topic != w.cfg.Topic("orders") {
		t.Fatalf("dlq record %+v, %v", rec, err)
	}
	facts := w.one(`SELECT count(*) FROM outbox_messages WHERE published_at IS NOT NULL AND topic = 'commissions'`)
	if facts != 21 || w.one(`SELECT count(*) FROM outbox WHERE published_at IS NULL`) != 0 {
		t.Fatalf("published facts %d, want 21 (20 accruals, 1 void)", facts)
	}
	// Each fact of a batch's outbox row arrives as its own message, as the
	// contract's commission event.
	var ids []string
	for _, v := range w.consumeAll("commissions", int(facts)) {
		c, err := events.DecodeCommission(v)
		if err != nil {
			t.Fatalf("commission message %s: %v", v, err)
		}
		ids = append(ids, c.EventID)
	}
	slices.Sort(ids)
	var want string
	if err := w.pool.QueryRow(context.Background(), `SELECT string_agg(event_id, ',' ORDER BY event_id) FROM outbox_messages WHERE topic = 'commissions'`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, ","); got != want {
		t.Fatalf("commission messages in Kafka\n%s\nwant the outbox's\n%s", got, want)
	}

	// A second run finds nothing new and changes nothing.
	before := w.one(`SELECT count(*) FROM ledger_transfers`)
	w.run()
	if after := w.one(`SELECT count(*) FROM ledger_transfers`); after != before {
		t.Fatalf("second run wrote %d transfers", after-before)
	}
	if n := w.one(`SELECT count(*) FROM inbox`); n != 41 {
		t.Fatalf("inbox %d, want 41", n)
	}
}

func TestTwoServeReplicasNeverRunAJobTwiceAtOnce(t *testing.T) {
	w := newWorld(t)
	w.one(`INSERT INTO partners (name, email, slug) VALUES ('Serdar', 's@example.com', 'serdar') RETURNING id`)
	at := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	var orders []string
	for i := range 50 {
		orders = append(orders, fmt.Sprintf(`{"v":1,"event_id":"e%d","type":"order.placed","order_id":"o%d","at":%q,"currency":"EUR","lines":[{"line_id":"1","product_id":"p","quantity":1,"unit_price":"10.00"}]}`,
			i, i, at.Format(time.RFC3339)))
	}
	if _, err := w.pool.Exec(context.Background(), `INSERT INTO sink_watermarks (topic, watermark) VALUES ('clicks', now())`); err != nil {
		t.Fatal(err)
	}
	w.produce("orders", orders...)
	opts := DefaultOptions()
	opts.GroupID = "settler-" + w.cfg.KafkaTopicPrefix
	opts.SettleSchedule, opts.ApproveSchedule, opts.ReleaseSchedule, opts.RelaySchedule = "@every 1s", "@every 1s", "@every 1s", "@every 1s"
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- ServeWith(ctx, w.cfg, opts, quiet) }()
	}
	deadline := time.Now().Add(60 * time.Second)
	for w.one(`SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id)`) < 50 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve settled %d of 50 orders (%d ingested) in time", w.one(`SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id)`), w.one(`SELECT count(*) FROM orders`))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a few more ticks on both replicas
	cancel()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := w.one(`SELECT count(DISTINCT host) FROM settlement_runs`); n < 1 {
		t.Fatalf("runs recorded by %d hosts", n)
	}
	overlaps := w.one(`SELECT count(*) FROM settlement_runs a JOIN settlement_runs b
ON a.job = b.job AND a.id < b.id AND a.started_at < b.finished_at AND b.started_at < a.finished_at`)
	if overlaps != 0 {
		t.Fatalf("%d overlapping runs of the same job", overlaps)
	}
	if n := w.one(`SELECT count(*) FROM settlement_runs WHERE finished_at IS NULL OR error IS NOT NULL`); n != 0 {
		t.Fatalf("%d runs unfinished or failed", n)
	}
	if n := w.one(`SELECT count(*) FROM attributions WHERE rule = 'none'`); n != 50 {
		t.Fatalf("attributions %d, want 50 (no clicks: none)", n)
	}
}
