package settle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
	"github.com/openaff/affiliate/settler/internal/chtest"
	"github.com/openaff/affiliate/settler/internal/ingest"
)

// benchOrders ingests n orders of 3 lines, each attributed by a device
// click, starting at order number from.
func benchOrders(b *testing.B, f *fixture, from, n int, partner int64) {
	b.Helper()
	ctx := context.Background()
	batch, err := f.ch.PrepareBatch(ctx, "INSERT INTO "+f.chDB+".clicks (click_id, at, device_token, partner_id, link_id, bot)")
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]ingest.Message, 0, n)
	for i := from; i < from+n; i++ {
		at := T0.Add(time.Duration(i) * time.Second)
		if err := batch.Append(fmt.Sprintf("00000000-0000-7000-8000-%012d", i), at.Add(-time.Minute), fmt.Sprintf("dev%d", i), fmt.Sprint(partner), "l", uint8(0)); err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, ingest.Message{Topic: ingest.TopicOrders, Offset: int64(i), Value: []byte(placed(fmt.Sprintf("e%d", i), fmt.Sprintf("o%08d", i),
			fmt.Sprintf("c%d", i), fmt.Sprintf("dev%d", i), at, line("1", "a", 1, "10.00"), line("2", "b", 2, "5.00"), line("3", "c", 1, "1.99")))})
	}
	if err := batch.Send(); err != nil {
		b.Fatal(err)
	}
	for len(msgs) > 0 {
		k := min(len(msgs), 1000)
		if err := pgx.BeginTxFunc(ctx, f.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			_, _, err := ingest.ApplyBatch(ctx, tx, ingest.EventsDecoder(), msgs[:k])
			return err
		}); err != nil {
			b.Fatal(err)
		}
		msgs = msgs[k:]
	}
	f.watermark(T0.Add(time.Duration(from+n) * time.Second))
}

// BenchmarkSettlePass measures a pass over new orders (ns/op per order)
// against the baseline of an incremental pass that finds nothing new on the
// same history: the second must not grow with history.
func BenchmarkSettlePass(b *testing.B) {
	const orders = 2000
	env := testenv.Get(b)
	pool, err := pgxpool.New(context.Background(), env.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	f := newFixtureOn(b, pool, chtest.DB(b))
	f.s.opts.BatchSize = 500
	var p int64
	if err := pool.QueryRow(context.Background(), `INSERT INTO partners (name, email, slug) VALUES ('b', 'b@example.com', 'b') RETURNING id`).Scan(&p); err != nil {
		b.Fatal(err)
	}
	next := 0
	b.Run("new_orders", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			benchOrders(b, f, next, orders, p)
			next += orders
			b.StartTimer()
			c, err := f.s.Settle(context.Background(), T0.Add(time.Duration(next)*time.Second))
			if err != nil || c.Orders != orders {
				b.Fatalf("settled %+v, %v", c, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*orders), "ns/order")
	})
	b.Run("nothing_new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c, err := f.s.Settle(context.Background(), T0.Add(time.Duration(next)*time.Second)); err != nil || c.Orders != 0 {
				b.Fatalf("settled %+v, %v", c, err)
			}
		}
	})
}
