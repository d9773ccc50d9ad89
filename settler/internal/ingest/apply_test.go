package ingest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func placed(eventID, orderID, at string, lines ...string) []byte {
	return fmt.Appendf(nil, `{"v":1,"event_id":%q,"type":"order.placed","order_id":%q,"at":%q,"customer_id":"c1","device_token":"d1","currency":"EUR","lines":[%s],"shipping_fee":"4.90"}`,
		eventID, orderID, at, strings.Join(lines, ","))
}

func line(id, product string, qty int, price string) string {
	return fmt.Sprintf(`{"line_id":%q,"product_id":%q,"quantity":%d,"unit_price":%q}`, id, product, qty, price)
}

func refundLines(eventID, orderID, at string, lines ...string) []byte {
	return fmt.Appendf(nil, `{"v":1,"event_id":%q,"type":"order.refunded","order_id":%q,"at":%q,"currency":"EUR","lines":[%s]}`,
		eventID, orderID, at, strings.Join(lines, ","))
}

func refundAmount(eventID, orderID, at, amount string) []byte {
	return fmt.Appendf(nil, `{"v":1,"event_id":%q,"type":"order.refunded","order_id":%q,"at":%q,"currency":"EUR","amount":%q}`,
		eventID, orderID, at, amount)
}

func simple(eventID, typ, orderID, at string) []byte {
	return fmt.Appendf(nil, `{"v":1,"event_id":%q,"type":%q,"order_id":%q,"at":%q,"currency":"EUR"}`, eventID, typ, orderID, at)
}

func apply(t *testing.T, pool *pgxpool.Pool, msgs ...Message) ([]Rejected, Counts) {
	t.Helper()
	var (
		rej    []Rejected
		counts Counts
	)
	err := pgx.BeginTxFunc(context.Background(), pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var err error
		rej, counts, err = ApplyBatch(context.Background(), tx, EventsDecoder(), msgs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return rej, counts
}

func orderMsg(off int64, body []byte) Message {
	return Message{Topic: TopicOrders, Partition: 0, Offset: off, Value: body}
}

type lineRow struct {
	ID             string
	RefQty, RefAmt int64
}

func lines(t *testing.T, pool *pgxpool.Pool, orderID string) []lineRow {
	t.Helper()
	rows, _ := pool.Query(context.Background(), `SELECT line_id, refunded_quantity, refunded_amount_minor FROM order_lines WHERE order_id = $1 ORDER BY line_id`, orderID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[lineRow])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func queryOne[T any](t *testing.T, pool *pgxpool.Pool, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func TestRefundBeforeOrderIsAppliedWhenOrderArrives(t *testing.T) {
	pool := newPool(t)
	// The refund arrives first: stored, waiting.
	_, c := apply(t, pool, orderMsg(0, refundLines("e2", "o1", "2026-01-02T00:00:00Z", line("l1", "p1", 1, "10.00"))))
	if c.Applied != 1 || queryOne[int](t, pool, `SELECT count(*) FROM orders`) != 0 {
		t.Fatalf("early refund: counts %+v", c)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM order_events WHERE applied_at IS NULL AND ignored_reason IS NULL`); n != 1 {
		t.Fatalf("waiting events = %d, want 1", n)
	}
	// The order arrives: the refund is replayed.
	apply(t, pool, orderMsg(1, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 3, "10.00"), line("l2", "p2", 1, "5.00"))))
	got := lines(t, pool, "o1")
	want := []lineRow{{"l1", 1, 0}, {"l2", 0, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("lines = %v, want %v", got, want)
	}
	if s := queryOne[string](t, pool, `SELECT status FROM orders WHERE order_id = 'o1'`); s != "partially_refunded" {
		t.Fatalf("status = %q, want partially_refunded", s)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM order_events WHERE applied_at IS NULL`); n != 0 {
		t.Fatalf("unapplied events = %d, want 0", n)
	}
}

func TestRepeatsChangeNothing(t *testing.T) {
	pool := newPool(t)
	msgs := []Message{
		orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 3, "10.00"))),
		orderMsg(1, refundLines("e2", "o1", "2026-01-02T00:00:00Z", line("l1", "p1", 1, "10.00"))),
		{Topic: TopicIdentities, Offset: 0, Value: []byte(`{"v":1,"event_id":"i1","at":"2026-01-01T00:00:00Z","device_token":"d1","customer_id":"c1","email":"a@b.c"}`)},
	}
	_, first := apply(t, pool, msgs...)
	rev := queryOne[int64](t, pool, `SELECT revision FROM orders WHERE order_id = 'o1'`)
	// The same events again, in one batch and in another.
	_, second := apply(t, pool, append(msgs, msgs...)...)
	if first.Applied != 3 || second.Duplicates != 6 || second.Applied != 0 {
		t.Fatalf("counts first %+v, second %+v", first, second)
	}
	if got := lines(t, pool, "o1"); got[0].RefQty != 1 {
		t.Fatalf("refunded quantity = %d after repeats, want 1", got[0].RefQty)
	}
	if r := queryOne[int64](t, pool, `SELECT revision FROM orders WHERE order_id = 'o1'`); r != rev {
		t.Fatalf("revision moved from %d to %d on repeats", rev, r)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM identities`); n != 1 {
		t.Fatalf("identities = %d, want 1", n)
	}
	if e := queryOne[string](t, pool, `SELECT email FROM customers WHERE customer_id = 'c1'`); e != "a@b.c" {
		t.Fatalf("customer email = %q", e)
	}
}

func TestSecondPlacedIsIgnoredAndRecorded(t *testing.T) {
	pool := newPool(t)
	apply(t, pool, orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 3, "10.00"))))
	_, c := apply(t, pool, orderMsg(1, placed("e9", "o1", "2026-01-01T00:05:00Z", line("l1", "p1", 99, "99.00"))))
	if c.Ignored != 1 {
		t.Fatalf("counts %+v, want 1 ignored", c)
	}
	if q := queryOne[int64](t, pool, `SELECT quantity FROM order_lines WHERE order_id = 'o1'`); q != 3 {
		t.Fatalf("quantity = %d, want the first order.placed's 3", q)
	}
	if r := queryOne[string](t, pool, `SELECT ignored_reason FROM order_events WHERE event_id = 'e9'`); !strings.Contains(r, "already placed") {
		t.Fatalf("ignored_reason = %q", r)
	}
}

func TestInvalidAndReusedIdsAreRejected(t *testing.T) {
	pool := newPool(t)
	apply(t, pool, orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 3, "10.00"))))
	rej, c := apply(t, pool,
		// Bad amount: rejected naming the field, nothing written.
		orderMsg(1, placed("e2", "o2", "2026-01-01T00:00:00Z", line("l1", "p1", 1, "1.001"))),
		// Same id as e1 with another body.
		orderMsg(2, placed("e1", "o3", "2026-01-01T00:00:00Z", line("l1", "p1", 1, "1.00"))),
		orderMsg(3, []byte(`not json`)),
	)
	if c.Rejected != 3 || len(rej) != 3 {
		t.Fatalf("counts %+v, rejected %v", c, rej)
	}
	if !strings.Contains(rej[0].Reason, "lines[0].unit_price") || !strings.Contains(rej[1].Reason, "another body") {
		t.Fatalf("reasons %q, %q", rej[0].Reason, rej[1].Reason)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM orders`); n != 1 {
		t.Fatalf("orders = %d, want 1", n)
	}
}

func TestAmountRefundSpreadsOverLinesAndCaps(t *testing.T) {
	pool := newPool(t)
	apply(t, pool,
		orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 1, "30.00"), line("l2", "p2", 1, "10.00"))),
		// 20.00 of 40.00: 15.00 and 5.00.
		orderMsg(1, refundAmount("e2", "o1", "2026-01-02T00:00:00Z", "20.00")),
	)
	if got, want := fmt.Sprint(lines(t, pool, "o1")), fmt.Sprint([]lineRow{{"l1", 0, 1500}, {"l2", 0, 500}}); got != want {
		t.Fatalf("lines = %s, want %s", got, want)
	}
	// More than is left: capped at the bases, order fully refunded.
	apply(t, pool, orderMsg(2, refundAmount("e3", "o1", "2026-01-03T00:00:00Z", "100.00")))
	if got, want := fmt.Sprint(lines(t, pool, "o1")), fmt.Sprint([]lineRow{{"l1", 0, 3000}, {"l2", 0, 1000}}); got != want {
		t.Fatalf("lines = %s, want %s", got, want)
	}
	if s := queryOne[string](t, pool, `SELECT status FROM orders WHERE order_id = 'o1'`); s != "refunded" {
		t.Fatalf("status = %q, want refunded", s)
	}
}

func TestCancelAndDeliver(t *testing.T) {
	pool := newPool(t)
	apply(t, pool,
		orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 1, "30.00"))),
		orderMsg(1, simple("e2", "order.delivered", "o1", "2026-01-03T00:00:00Z")),
		orderMsg(2, placed("e3", "o2", "2026-01-01T00:00:00Z", line("l1", "p1", 1, "30.00"))),
		orderMsg(3, simple("e4", "order.cancelled", "o2", "2026-01-02T00:00:00Z")),
	)
	if s := queryOne[string](t, pool, `SELECT status || ' ' || delivered_at::date FROM orders WHERE order_id = 'o1'`); s != "delivered 2026-01-03" {
		t.Fatalf("o1 = %q", s)
	}
	if s := queryOne[string](t, pool, `SELECT status FROM orders WHERE order_id = 'o2'`); s != "cancelled" {
		t.Fatalf("o2 = %q", s)
	}
	if r := queryOne[int64](t, pool, `SELECT revision FROM orders WHERE order_id = 'o2'`); r != 2 {
		t.Fatalf("o2 revision = %d, want 2", r)
	}
}

// Two consumers storing an order.placed and its refund at the same time
// (events of one order on two partitions after the topic grew): the refund's
// transaction waits for the order's and then applies the refund. Before,
// each saw no trace of the other, and the refund stayed unapplied for good.
func TestConcurrentOrderAndRefundMeet(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = txA.Rollback(ctx) }()
	if _, _, err := ApplyBatch(ctx, txA, EventsDecoder(), []Message{orderMsg(0, placed("e1", "o1", "2026-01-01T00:00:00Z", line("l1", "p1", 3, "10.00")))}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			_, _, err := ApplyBatch(ctx, tx, EventsDecoder(), []Message{{Topic: TopicOrders, Partition: 1, Offset: 0,
				Value: refundLines("e2", "o1", "2026-01-02T00:00:00Z", line("l1", "p1", 1, "10.00"))}})
			return err
		})
	}()
	// Give the refund's transaction time to wait for the order's (or, as
	// before, to finish without it).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && len(done) == 0 &&
		queryOne[int](t, pool, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := lines(t, pool, "o1"); fmt.Sprint(got) != fmt.Sprint([]lineRow{{"l1", 1, 0}}) {
		t.Fatalf("lines = %v: the refund was not applied", got)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM order_events WHERE applied_at IS NULL AND ignored_reason IS NULL`); n != 0 {
		t.Fatalf("waiting events = %d, want 0", n)
	}
}
