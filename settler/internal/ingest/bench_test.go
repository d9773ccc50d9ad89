package ingest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/testenv"
)

// BenchmarkApplyBatch measures ingest of new order.placed events (3 lines
// each, 1000 per transaction) against the baseline of the same events
// again, which the inbox skips.
func BenchmarkApplyBatch(b *testing.B) {
	const perBatch = 1000
	pool, err := pgxpool.New(context.Background(), testenv.Get(b).PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	ctx := context.Background()
	next := 0
	mk := func(from int) []Message {
		msgs := make([]Message, perBatch)
		for i := range msgs {
			n := from + i
			msgs[i] = orderMsg(int64(n), placed(fmt.Sprintf("e%d", n), fmt.Sprintf("o%d", n), "2026-01-01T00:00:00Z",
				line("1", fmt.Sprintf("p%d", n%100), 1, "10.00"), line("2", "b", 2, "5.00"), line("3", "c", 1, "1.99")))
		}
		return msgs
	}
	apply := func(b *testing.B, msgs []Message, want func(Counts) bool) {
		err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
			_, c, err := ApplyBatch(ctx, tx, EventsDecoder(), msgs)
			if err == nil && !want(c) {
				err = fmt.Errorf("counts %+v", c)
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	var last []Message
	b.Run("new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			last = mk(next)
			next += perBatch
			b.StartTimer()
			apply(b, last, func(c Counts) bool { return c.Applied == perBatch })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/event")
	})
	b.Run("repeats", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			apply(b, last, func(c Counts) bool { return c.Duplicates == perBatch })
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/event")
	})
}
