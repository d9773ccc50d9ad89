package settle

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/migrate"
	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/chtest"
	"github.com/openaff/affiliate/settler/internal/ingest"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// T0 is the test's reference time; every event is relative to it.
var T0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	t      testing.TB
	pool   *pgxpool.Pool
	ch     driver.Conn
	chDB   string
	ledger *ledger.Ledger
	s      *Settler
	off    int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := testenv.Get(t)
	pool, err := pgxpool.New(context.Background(), env.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return newFixtureOn(t, pool, chtest.DB(t))
}

func newFixtureOn(t testing.TB, pool *pgxpool.Pool, chDB string) *fixture {
	t.Helper()
	conn, err := migrate.Open(context.Background(), testenv.Get(t).ClickHouseAddr(), chDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	l := ledger.New(pool, ledger.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{t: t, pool: pool, ch: conn, chDB: chDB, ledger: l,
		s: New(pool, conn, l, Options{ClickHouseDB: chDB, BatchSize: 3}, log)}
	return f
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(context.Background(), sql, args...); err != nil {
		f.t.Fatalf("%s: %v", sql, err)
	}
}

func queryOne[T any](t testing.TB, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// partner creates a partner and returns its id.
func (f *fixture) partner(slug string) int64 {
	f.t.Helper()
	return queryOne[int64](f.t, f.pool, `INSERT INTO partners (name, email, slug) VALUES ($1, $1 || '@example.com', $1) RETURNING id`, slug)
}

func (f *fixture) watermark(at time.Time) {
	f.t.Helper()
	f.exec(`INSERT INTO sink_watermarks (topic, watermark) VALUES ('clicks', $1)
ON CONFLICT (topic) DO UPDATE SET watermark = GREATEST(sink_watermarks.watermark, EXCLUDED.watermark)`, at)
}

// click records a non-bot click of partner on device at at.
func (f *fixture) click(device string, partner int64, at time.Time) string {
	f.t.Helper()
	id, _ := uuid.NewV7()
	batch, err := f.ch.PrepareBatch(context.Background(), "INSERT INTO "+f.chDB+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		f.t.Fatal(err)
	}
	if err := batch.Append(id.String(), at, device, fmt.Sprint(partner), "l1", uint8(0)); err != nil {
		f.t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		f.t.Fatal(err)
	}
	return id.String()
}

// events ingests event bodies through the real ingest path.
func (f *fixture) events(bodies ...string) {
	f.t.Helper()
	msgs := make([]ingest.Message, len(bodies))
	for i, b := range bodies {
		topic := ingest.TopicOrders
		if !strings.Contains(b, `"type"`) {
			topic = ingest.TopicIdentities
		}
		msgs[i] = ingest.Message{Topic: topic, Offset: f.off, Value: []byte(b)}
		f.off++
	}
	err := pgx.BeginTxFunc(context.Background(), f.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		rej, _, err := ingest.ApplyBatch(context.Background(), tx, ingest.EventsDecoder(), msgs)
		if len(rej) > 0 {
			return fmt.Errorf("rejected: %s", rej[0].Reason)
		}
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) settle(now time.Time) Counts {
	f.t.Helper()
	c, err := f.s.Settle(context.Background(), now)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func placed(id, order, customer, device string, at time.Time, lines ...string) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":"order.placed","order_id":%q,"at":%q,"customer_id":%q,"device_token":%q,"currency":"EUR","lines":[%s],"shipping_fee":"4.90"}`,
		id, order, ts(at), customer, device, strings.Join(lines, ","))
}

func line(id, product string, qty int, price string) string {
	return fmt.Sprintf(`{"line_id":%q,"product_id":%q,"quantity":%d,"unit_price":%q}`, id, product, qty, price)
}

func refund(id, order string, at time.Time, lines ...string) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":"order.refunded","order_id":%q,"at":%q,"currency":"EUR","lines":[%s]}`,
		id, order, ts(at), strings.Join(lines, ","))
}

func orderEvent(id, typ, order string, at time.Time) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"type":%q,"order_id":%q,"at":%q,"currency":"EUR"}`, id, typ, order, ts(at))
}

func identity(id, customer, device string, at time.Time) string {
	return fmt.Sprintf(`{"v":1,"event_id":%q,"at":%q,"device_token":%q,"customer_id":%q}`, id, ts(at), device, customer)
}

type attr struct {
	PartnerID *int64
	Rule      string
	Forced    bool
	SelfRef   bool
}

func (f *fixture) attribution(order string) attr {
	f.t.Helper()
	var a attr
	err := f.pool.QueryRow(context.Background(), `SELECT partner_id, rule, watermark_forced, self_referral FROM attributions
WHERE order_id = $1 AND superseded_at IS NULL`, order).Scan(&a.PartnerID, &a.Rule, &a.Forced, &a.SelfRef)
	if err != nil {
		f.t.Fatalf("attribution of %s: %v", order, err)
	}
	return a
}

// commissions returns "line:amount:state" of the order's current commissions.
func (f *fixture) commissions(order string) string {
	f.t.Helper()
	rows, _ := f.pool.Query(context.Background(), `SELECT c.line_id || ':' || c.partner_id || ':' || c.amount_minor || ':' || c.state
	|| ':' || c.voided_amount_minor || ':' || c.clawed_back_amount_minor
FROM commissions c JOIN attributions a ON a.order_id = c.order_id AND a.version = c.attribution_version AND a.superseded_at IS NULL
WHERE c.order_id = $1 ORDER BY c.line_id`, order)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func (f *fixture) balance(partner int64) ledger.Balance {
	f.t.Helper()
	b, err := f.ledger.Balance(context.Background(), fmt.Sprint(partner), "EUR")
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) verify() {
	f.t.Helper()
	r, err := f.ledger.Verify(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if !r.OK() {
		f.t.Fatalf("ledger Verify: %s", r)
	}
}

func (f *fixture) program(set string, args ...any) {
	f.t.Helper()
	f.exec(`UPDATE program_settings SET `+set, args...)
}
