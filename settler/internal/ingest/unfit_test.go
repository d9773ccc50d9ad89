package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func refundIn(currency string, body []byte) []byte {
	return []byte(strings.Replace(string(body), `"currency":"EUR"`, `"currency":"`+currency+`"`, 1))
}

// nothingRefunded checks that order o1 (lines L1 and L2) holds no refund and
// no trace of the refused event.
func nothingRefunded(t *testing.T, pool *pgxpool.Pool, refundID string) {
	t.Helper()
	if got, want := fmt.Sprint(lines(t, pool, "o1")), fmt.Sprint([]lineRow{{"L1", 0, 0}, {"L2", 0, 0}}); got != want {
		t.Fatalf("lines = %s, want nothing refunded %s", got, want)
	}
	if s := queryOne[string](t, pool, `SELECT status FROM orders WHERE order_id = 'o1'`); s != "placed" {
		t.Fatalf("status = %q, want placed", s)
	}
	if n := queryOne[int](t, pool, `SELECT (SELECT count(*) FROM order_events WHERE event_id = $1) + (SELECT count(*) FROM inbox WHERE event_id = $1)`, refundID); n != 0 {
		t.Fatalf("the refused refund %s left %d rows in order_events and inbox", refundID, n)
	}
}

// A refund the settler cannot apply to its order was stored as ignored: the
// shop had its 202, nothing went to the dlq, and the commission was paid. It
// is refused whole now, to the dlq with a reason naming the field.
func TestUnfitRefundGoesToDLQ(t *testing.T) {
	at1, at2 := "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
	order := placed("e1", "o1", at1, line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00"))
	f := func(refund []byte, wantReason ...string) {
		t.Helper()
		pool := newPool(t)
		rej, c := apply(t, pool, orderMsg(0, order), orderMsg(1, refund))
		if len(rej) != 1 || c.Rejected != 1 || c.Applied != 1 {
			t.Fatalf("rejected %v, counts %+v; want the refund rejected", rej, c)
		}
		for _, w := range wantReason {
			if !strings.Contains(rej[0].Reason, w) {
				t.Errorf("reason %q, want it to contain %q", rej[0].Reason, w)
			}
		}
		if rej[0].Message.Offset != 1 || string(rej[0].Message.Value) != string(refund) {
			t.Errorf("rejected message %+v, want the refund at offset 1", rej[0].Message)
		}
		nothingRefunded(t, pool, "e2")
	}
	// A line the order lacks: L1 is not refunded either (all or nothing).
	f(refundLines("e2", "o1", at2, line("L1", "p1", 1, "100.00"), line("L9", "p1", 1, "100.00")), "lines[1].line_id", `"L9"`)
	// Another currency.
	f(refundIn("USD", refundLines("e2", "o1", at2, line("L1", "p1", 1, "100.00"))), "currency", "USD", "EUR")
	f(refundIn("USD", refundAmount("e2", "o1", at2, "1.00")), "currency", "USD")
}

// Refund lines are matched by line_id and refund by quantity, as they
// always did: a shop may send the unit at its net price or under another
// product id, and the line's quantity is refunded all the same.
func TestRefundLinesMatchByID(t *testing.T) {
	pool := newPool(t)
	at1, at2 := "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
	apply(t, pool, orderMsg(0, placed("e1", "o1", at1, line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00"))))
	rej, c := apply(t, pool, orderMsg(1, refundLines("e2", "o1", at2, line("L1", "p1", 1, "95.00"))),
		orderMsg(2, refundLines("e3", "o1", at2, line("L2", "other", 1, "5.00"))))
	if len(rej) != 0 || c.Applied != 2 {
		t.Fatalf("rejected %v, counts %+v; want both refunds applied", rej, c)
	}
	if got, want := fmt.Sprint(lines(t, pool, "o1")), fmt.Sprint([]lineRow{{"L1", 1, 0}, {"L2", 1, 0}}); got != want {
		t.Fatalf("lines = %s, want %s", got, want)
	}
}

// A refund that waited for its order (it came first) is refused when the
// order arrives, reported with its own place in the log.
func TestWaitingUnfitRefundGoesToDLQ(t *testing.T) {
	pool := newPool(t)
	refund := refundLines("e2", "o1", "2026-01-02T00:00:00Z", line("L9", "p1", 1, "100.00"))
	if rej, c := apply(t, pool, Message{Topic: TopicOrders, Partition: 2, Offset: 7, Value: refund}); len(rej) != 0 || c.Applied != 1 {
		t.Fatalf("early refund: rejected %v, counts %+v; want it stored, waiting", rej, c)
	}
	rej, c := apply(t, pool, orderMsg(8, placed("e1", "o1", "2026-01-01T00:00:00Z", line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00"))))
	if len(rej) != 1 || c.Rejected != 1 || c.Applied != 1 {
		t.Fatalf("rejected %v, counts %+v; want the waiting refund rejected", rej, c)
	}
	m := rej[0].Message
	if m.Topic != TopicOrders || m.Partition != 2 || m.Offset != 7 || !strings.Contains(string(m.Value), `"L9"`) || !strings.Contains(rej[0].Reason, `"L9"`) {
		t.Fatalf("rejected %+v (%s), want the refund from partition 2 offset 7", m, rej[0].Reason)
	}
	nothingRefunded(t, pool, "e2")
}

// An order whose amounts the ledger could not post stopped every
// settlement pass; it is refused at ingest, naming the field.
func TestRefusedOrdersGoToDLQ(t *testing.T) {
	pool := newPool(t)
	at := "2026-01-01T00:00:00Z"
	huge := placed("e3", "o2", at, line("L1", "p1", 1000, "5629499534.22"))
	total := placed("e4", "o3", at, line("L1", "p1", 1, "5629499534213.12"), line("L2", "p1", 1, "0.01"))
	rej, c := apply(t, pool, orderMsg(2, huge), orderMsg(3, total))
	if len(rej) != 2 || c.Rejected != 2 {
		t.Fatalf("rejected %v, counts %+v; want 2", rej, c)
	}
	for i, want := range []string{"lines[0].quantity: unit_price × quantity above the largest amount", "lines: the lines' total"} {
		if !strings.Contains(rej[i].Reason, want) {
			t.Errorf("reason %d = %q, want %q", i, rej[i].Reason, want)
		}
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM orders`); n != 0 {
		t.Fatalf("orders = %d, want 0", n)
	}
}

// The tracker's /v1 refuses lines on an order.cancelled now; from Kafka,
// and stored while it waited for its order, such a cancel is read as the
// releases before read it: it cancels the whole order (its lines are
// dropped), and is not lost.
func TestCancelWithLinesFromKafkaCancelsTheOrder(t *testing.T) {
	pool := newPool(t)
	at := "2026-01-01T00:00:00Z"
	withLines := func(id, order string) []byte {
		return []byte(strings.Replace(string(simple(id, "order.cancelled", order, at)), `"currency":"EUR"`,
			`"currency":"EUR","lines":[`+line("L1", "p1", 1, "100.00")+`]`, 1))
	}
	// o2's cancel comes first and waits for its order.
	if rej, _ := apply(t, pool, orderMsg(0, withLines("c2", "o2"))); len(rej) != 0 {
		t.Fatalf("waiting cancel rejected: %v", rej)
	}
	rej, c := apply(t, pool, orderMsg(1, placed("e1", "o1", at, line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00"))),
		orderMsg(2, withLines("c1", "o1")), orderMsg(3, placed("e2", "o2", at, line("L1", "p1", 2, "100.00"))))
	if len(rej) != 0 || c.Rejected != 0 {
		t.Fatalf("rejected %v, counts %+v; want none", rej, c)
	}
	for _, o := range []string{"o1", "o2"} {
		if s := queryOne[string](t, pool, `SELECT status FROM orders WHERE order_id = $1`, o); s != "cancelled" {
			t.Fatalf("%s status = %q, want cancelled", o, s)
		}
	}
}

// A refund stored while it waited for its order, which the decoder refuses
// now (an amount above the ledger's bound, which a release before
// accepted), goes to the dlq when the order arrives instead of failing the
// batch for good.
func TestStoredEventNoLongerValidGoesToDLQ(t *testing.T) {
	pool := newPool(t)
	const huge, small = `"amount":"5629499534213.13"`, `"amount":"1.00"`
	older := EventsDecoder()
	older.Order = func(body []byte) (OrderEvent, error) {
		return decodeOrder([]byte(strings.ReplaceAll(string(body), huge, small)))
	}
	refund := []byte(strings.Replace(string(refundAmount("e2", "o1", "2026-01-02T00:00:00Z", "1.00")), small, huge, 1))
	if _, _, err := applyWith(t, pool, older, orderMsg(0, refund)); err != nil {
		t.Fatal(err)
	}
	rej, c := apply(t, pool, orderMsg(1, placed("e1", "o1", "2026-01-01T00:00:00Z", line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00"))))
	if len(rej) != 1 || c.Rejected != 1 || !strings.Contains(rej[0].Reason, "amount") {
		t.Fatalf("rejected %v, counts %+v; want the stored refund rejected on amount", rej, c)
	}
	nothingRefunded(t, pool, "e2")
}

// The consumer writes a refused waiting refund to the dlq.
func TestConsumerSendsUnfitRefundToDLQ(t *testing.T) {
	w := newKafkaWorld(t)
	w.produce("o1", refundLines("e2", "o1", "2026-01-02T00:00:00Z", line("L1", "p1", 1, "100.00"), line("L9", "p1", 1, "100.00")))
	c := w.consumer(EventsDecoder())
	w.drain(c)
	w.produce("o1", placed("e1", "o1", "2026-01-01T00:00:00Z", line("L1", "p1", 2, "100.00"), line("L2", "p2", 1, "5.00")))
	w.drain(c)
	recs := w.dlq(1)
	if len(recs) != 1 || !strings.Contains(recs[0].Reason, `"L9"`) || recs[0].Offset != 0 || !strings.Contains(string(recs[0].Payload), `"e2"`) {
		t.Fatalf("dlq %+v, want the refund at offset 0 naming L9", recs)
	}
	nothingRefunded(t, w.pool, "e2")
}

func applyWith(t *testing.T, pool *pgxpool.Pool, dec Decoder, msgs ...Message) ([]Rejected, Counts, error) {
	t.Helper()
	var (
		rej    []Rejected
		counts Counts
	)
	err := pgx.BeginTxFunc(context.Background(), pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		var err error
		rej, counts, err = ApplyBatch(context.Background(), tx, dec, msgs)
		return err
	})
	return rej, counts, err
}

// An order in another currency than the program's would earn its partner
// money that no balance, payout or store credit shows (they are all in the
// program currency): refused to the dlq naming the field, nothing stored.
func TestOrderInAnotherCurrencyGoesToDLQ(t *testing.T) {
	pool := newPool(t)
	prog := queryOne[string](t, pool, `SELECT currency FROM program_settings WHERE id`)
	if prog != "EUR" {
		t.Fatalf("program currency %q, want the test's EUR", prog)
	}
	usd := refundIn("USD", placed("e1", "o1", "2026-01-01T00:00:00Z", line("L1", "p1", 2, "100.00")))
	eur := placed("e2", "o2", "2026-01-01T00:00:00Z", line("L1", "p1", 2, "100.00"))
	rej, c := apply(t, pool, orderMsg(0, usd), orderMsg(1, eur))
	if len(rej) != 1 || c.Rejected != 1 || c.Applied != 1 || rej[0].Message.Offset != 0 {
		t.Fatalf("rejected %v, counts %+v; want the USD order rejected", rej, c)
	}
	if r := rej[0].Reason; !strings.Contains(r, "currency") || !strings.Contains(r, "USD") || !strings.Contains(r, "EUR") {
		t.Fatalf("reason %q, want it to name the field and both currencies", r)
	}
	if n := queryOne[int](t, pool, `SELECT (SELECT count(*) FROM orders WHERE order_id = 'o1') + (SELECT count(*) FROM inbox WHERE event_id = 'e1')`); n != 0 {
		t.Fatalf("the refused order left %d rows", n)
	}
	if n := queryOne[int](t, pool, `SELECT count(*) FROM orders WHERE order_id = 'o2'`); n != 1 {
		t.Fatal("the EUR order was not stored")
	}
}
