package app

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

// outageEvents are the order and identity events of the outage test, in
// two parts: a backlog that is in Kafka when the settler starts, and what
// arrives after the outage.
type outageEvents struct {
	orders, identities [2][]string
	distinct           int // distinct event ids
}

const outageOrders = 1500

// newOutageEvents: 1,500 orders of two lines on devices dev0..dev1499,
// each customer logging in on its device 30 s after ordering; 1,000 orders
// and their logins in the backlog, the other 500 after the outage, with
// partial refunds of every tenth backlog order.
func newOutageEvents(t0 time.Time) outageEvents {
	var e outageEvents
	for i := range outageOrders {
		part := 0
		if i >= 1000 {
			part = 1
		}
		at := t0.Add(time.Duration(i) * time.Second)
		e.orders[part] = append(e.orders[part], fmt.Sprintf(`{"v":1,"event_id":"e%d","type":"order.placed","order_id":"o%d","at":%q,"customer_id":"c%d","device_token":"dev%d","currency":"EUR","lines":[{"line_id":"1","product_id":"p1","quantity":1,"unit_price":"10.00"},{"line_id":"2","product_id":"p2","quantity":3,"unit_price":"8.50","discount":"1.00"}]}`,
			i, i, at.Format(time.RFC3339), i, i))
		e.identities[part] = append(e.identities[part], fmt.Sprintf(`{"v":1,"event_id":"i%d","at":%q,"device_token":"dev%d","customer_id":"c%d"}`,
			i, at.Add(30*time.Second).Format(time.RFC3339), i, i))
		e.distinct += 2
		if i < 1000 && i%10 == 0 {
			e.orders[1] = append(e.orders[1], fmt.Sprintf(`{"v":1,"event_id":"r%d","type":"order.refunded","order_id":"o%d","at":%q,"currency":"EUR","amount":"5.00"}`,
				i, i, at.Add(time.Hour).Format(time.RFC3339)))
			e.distinct++
		}
	}
	return e
}

// seedOutageWorld creates partners serdar, ana and ali and one click per
// device dev0..dev1499 for them in turn, and lets the sink watermark pass
// every event.
func seedOutageWorld(t *testing.T, w *world, t0 time.Time) {
	t.Helper()
	var ids []int64
	for _, slug := range []string{"serdar", "ana", "ali"} {
		ids = append(ids, w.one(`INSERT INTO partners (name, email, slug) VALUES ($1, $1 || '@example.com', $1) RETURNING id`, slug))
	}
	var clicks []landedClick
	for i := range outageOrders {
		// Click ids derived from the device: both worlds hold the same clicks.
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "click-%d", i)).String()
		clicks = append(clicks, landedClick{id, t0.Add(-time.Minute), fmt.Sprintf("dev%d", i), ids[i%3]})
	}
	w.landClicks(clicks)
}

// TestServeSurvivesKafkaOutage: `settler serve` consumes a backlog of
// orders and identities (every event twice, as at-least-once delivery may
// give it) when the broker (the real Apache broker unless
// AFF_TEST_KAFKA=kfake) is stopped for 15 s in the middle of the
// consumption, and started again; more events, refunds among them, arrive
// after it. The settler resumes from its committed offsets: nothing is
// lost and nothing doubled in the inbox, the orders, the attributions or
// the commissions, the ledger verifies clean, and everything equals a
// `settler run` over the same events with no outage.
func TestServeSurvivesKafkaOutage(t *testing.T) {
	kind := testenv.Apache
	if os.Getenv(testenv.KafkaEnv) == testenv.Kfake {
		kind = testenv.Kfake
	}
	k := testenv.StartKafka(t, kind)
	w := newWorld(t)
	w.cfg.KafkaBrokers = k.Brokers()
	t0 := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	seedOutageWorld(t, w, t0)
	ev := newOutageEvents(t0)
	twice := func(s []string) []string { return append(append([]string{}, s...), s...) }
	w.produce("orders", twice(ev.orders[0])...)
	w.produce("identities", twice(ev.identities[0])...)
	backlog := int64(len(ev.orders[0]) + len(ev.identities[0]))

	opts := DefaultOptions()
	opts.GroupID = "settler-" + w.cfg.KafkaTopicPrefix
	opts.IngestBatchSize = 50 // many batches and commits: the outage falls between them
	opts.SettleSchedule, opts.RelaySchedule = "@every 1s", "@every 1s"
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- ServeWith(ctx, w.cfg, opts, quiet) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-served; err != nil {
				t.Errorf("serve: %v", err)
			}
		}
	}
	t.Cleanup(stop)

	deadline := time.Now().Add(60 * time.Second)
	for w.one(`SELECT count(*) FROM inbox`) < backlog/6 {
		if time.Now().After(deadline) {
			t.Fatalf("serve ingested %d of %d backlog events in 60 s", w.one(`SELECT count(*) FROM inbox`), backlog)
		}
		time.Sleep(5 * time.Millisecond)
	}
	atStop := w.one(`SELECT count(*) FROM inbox`)
	k.Stop()
	if atStop >= backlog {
		t.Fatalf("serve had ingested all %d backlog events when the broker stopped: the outage was not mid-consumption", backlog)
	}
	t.Logf("broker stopped with %d of %d backlog events in the inbox (%d after the stop)", atStop, backlog, w.one(`SELECT count(*) FROM inbox`))
	time.Sleep(15 * time.Second)
	k.Start()
	restarted := time.Now()
	w.produce("orders", twice(ev.orders[1])...)
	w.produce("identities", twice(ev.identities[1])...)

	// Caught up: every event in the inbox, every order settled at its
	// latest revision, every fact published.
	deadline = time.Now().Add(3 * time.Minute)
	for {
		inbox := w.one(`SELECT count(*) FROM inbox`)
		settled := w.one(`SELECT count(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM settle_queue q WHERE q.order_id = o.order_id)`)
		unpublished := w.one(`SELECT count(*) FROM outbox WHERE published_at IS NULL`)
		if inbox == int64(ev.distinct) && settled == outageOrders && unpublished == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 min after the restart: inbox %d of %d events, %d of %d orders settled, %d facts unpublished",
				inbox, ev.distinct, settled, outageOrders, unpublished)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("caught up %v after the broker restarted", time.Since(restarted).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // a few more settle passes: they must change nothing
	stop()
	if n := w.one(`SELECT count(*) FROM settlement_runs WHERE job = 'settle' AND error IS NOT NULL`); n != 0 {
		t.Fatalf("%d settle passes failed (they need no Kafka)", n)
	}

	// The reference: the same events, each once, ingested and settled in
	// one `settler run` with the broker up all along.
	ref := newWorld(t)
	ref.cfg.KafkaBrokers = k.Brokers()
	seedOutageWorld(t, ref, t0)
	ref.produce("orders", append(ev.orders[0], ev.orders[1]...)...)
	ref.produce("identities", append(ev.identities[0], ev.identities[1]...)...)
	ref.run()

	f := func(what, sql string) {
		t.Helper()
		got, want := w.rows(sql), ref.rows(sql)
		if len(want) == 0 {
			t.Fatalf("%s: no rows without the outage either; it proves nothing", what)
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("%s after the outage (%d rows) differs from the run without (%d rows):\n%s", what, len(got), len(want), diff(got, want))
		}
	}
	f("inbox", `SELECT count(*) || ' events, ' || count(DISTINCT event_id) || ' ids' FROM inbox`)
	f("orders", `SELECT count(*) || ' orders, ' || count(DISTINCT order_id) || ' ids' FROM orders`)
	f("attributions", `SELECT a.order_id || ' ' || coalesce(p.slug, '-') || ' ' || a.rule FROM attributions a
		LEFT JOIN partners p ON p.id = a.partner_id WHERE a.superseded_at IS NULL ORDER BY a.order_id`)
	f("bindings", `SELECT b.customer_id || ' ' || p.slug FROM customer_bindings b JOIN partners p ON p.id = b.partner_id ORDER BY 1`)
	f("commissions", `SELECT c.order_id || '/' || c.line_id || ' ' || p.slug || ' ' || c.amount_minor || ' voided ' || c.voided_amount_minor
		|| ' clawed ' || c.clawed_back_amount_minor || ' ' || c.state FROM commissions c JOIN partners p ON p.id = c.partner_id ORDER BY c.order_id, c.line_id`)
	f("commission totals", `SELECT p.slug || ' ' || sum(c.amount_minor - c.voided_amount_minor - c.clawed_back_amount_minor) FROM commissions c
		JOIN partners p ON p.id = c.partner_id GROUP BY p.slug ORDER BY p.slug`)
	for _, x := range []*world{w, ref} {
		l := ledger.New(x.pool, ledger.Options{})
		r, err := l.Verify(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !r.OK() {
			t.Fatalf("ledger Verify found differences:\n%s", r)
		}
	}
	for _, slug := range []string{"serdar", "ana", "ali"} {
		got, want := w.balance(slug), ref.balance(slug)
		if got != want {
			t.Fatalf("balance of %s after the outage %+v, without %+v", slug, got, want)
		}
		if want.PendingMinor <= 0 {
			t.Fatalf("balance of %s %+v: no pending commission; it proves nothing", slug, want)
		}
	}
}

// rows returns the first column of every row of sql as text.
func (w *world) rows(sql string) []string {
	w.t.Helper()
	rows, err := w.pool.Query(context.Background(), sql)
	if err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			w.t.Fatalf("%s: %v", sql, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatalf("%s: %v", sql, err)
	}
	return out
}

// balance returns the EUR ledger balance of the partner with slug.
func (w *world) balance(slug string) ledger.Balance {
	w.t.Helper()
	id := w.one(`SELECT id FROM partners WHERE slug = $1`, slug)
	b, err := ledger.New(w.pool, ledger.Options{}).Balance(context.Background(), fmt.Sprint(id), "EUR")
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// diff lists the first rows that differ between got and want.
func diff(got, want []string) string {
	var b strings.Builder
	shown := 0
	for i := 0; i < max(len(got), len(want)) && shown < 10; i++ {
		var g, w string
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if g != w {
			fmt.Fprintf(&b, "row %d: got %q, want %q\n", i, g, w)
			shown++
		}
	}
	return b.String()
}
