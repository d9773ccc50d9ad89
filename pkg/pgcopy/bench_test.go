package pgcopy_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openaff/affiliate/pkg/pgcopy"
	"github.com/openaff/affiliate/pkg/testenv"
)

// BenchmarkCopy writes 1500 ledger-posting-like rows (five integers, a
// time and a text) per COPY, as a settlement batch of 500 orders does, with pgx's CopyFrom and
// with pgcopy, into a temp table. Besides ns/op (client and server), it
// reports the client's own CPU per row (getrusage), which is what pgcopy
// changes.
func BenchmarkCopy(b *testing.B) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.Get(b).PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE p (transfer_id bigint, account_id bigint, phase smallint, amount_minor bigint, posted_after bigint, at timestamptz, ref text)`); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	rows := make([][]any, 1500)
	for i := range rows {
		rows[i] = []any{int64(1e9 + i), int64(i % 200), int16(i % 3), int64(i*37 - 5000), int64(i * 1000), now, "order-123456/line-2/1"}
	}
	tab := pgcopy.NewTable("p", pgcopy.Col("transfer_id", pgcopy.Int8), pgcopy.Col("account_id", pgcopy.Int8),
		pgcopy.Col("phase", pgcopy.Int2), pgcopy.Col("amount_minor", pgcopy.Int8), pgcopy.Col("posted_after", pgcopy.Int8),
		pgcopy.Col("at", pgcopy.Timestamptz), pgcopy.Col("ref", pgcopy.Text))
	for _, bc := range []struct {
		name string
		copy func() error
	}{
		{"pgx", func() error {
			_, err := conn.CopyFrom(ctx, pgx.Identifier{"p"}, tab.Columns(), pgx.CopyFromRows(rows))
			return err
		}},
		{"pgcopy", func() error {
			_, err := tab.CopyConn(ctx, conn.PgConn(), rows)
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				if err := bc.copy(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*len(rows)), "client-cpu-ns/row")
			if _, err := conn.Exec(ctx, `TRUNCATE p`); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// cpuTime is this process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
