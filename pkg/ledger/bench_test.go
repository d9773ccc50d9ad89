package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// benchBatch is the number of transfers per batch (and per raw COPY).
const benchBatch = 1000

// benchPartners is how many partners the benchmark's accruals are spread over.
const benchPartners = 200

// benchEnv generates the benchmark's accruals and the equivalent raw rows.
type benchEnv struct {
	seq int
}

func (e *benchEnv) accrual(prefix string) AccrueParams {
	e.seq++
	return AccrueParams{
		Key:          fmt.Sprintf("%s-%d", prefix, e.seq),
		PartnerID:    fmt.Sprintf("bench-%d", e.seq%benchPartners),
		Currency:     "EUR",
		AmountMinor:  int64(100 + e.seq%1000),
		CommissionID: fmt.Sprintf("%s-c%d", prefix, e.seq),
	}
}

// setup gives a variant its own fresh database (same server) with the accounts already
// created, so that no variant pays for the rows another one left behind.
func (e *benchEnv) setup(b *testing.B) (*Ledger, *pgxpool.Pool) {
	l, pool := newLedger(b, 4)
	warm := make([]Op, benchPartners)
	for i := range warm {
		warm[i] = e.accrual("warm")
	}
	if _, err := l.Batch(context.Background(), warm); err != nil {
		b.Fatal(err)
	}
	return l, pool
}

func (e *benchEnv) batch(prefix string) []Op {
	ops := make([]Op, benchBatch)
	for i := range ops {
		ops[i] = e.accrual(prefix)
	}
	return ops
}

// rawCopier writes, with two plain COPYs, the transfer and posting rows a batch of
// accruals writes: same columns, same partners and accounts.
type rawCopier struct {
	pool      *pgxpool.Pool
	expense   int64
	available map[string]int64
	nextID    int64
	transfers [][]any
	postings  [][]any
}

func newRawCopier(b *testing.B, pool *pgxpool.Pool) *rawCopier {
	c := &rawCopier{pool: pool, available: map[string]int64{}, nextID: 1 << 40} // ids far above the ledger's
	rows, err := pool.Query(context.Background(), `SELECT id, owner, kind FROM ledger_accounts`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var owner, kind string
		if err := rows.Scan(&id, &owner, &kind); err != nil {
			b.Fatal(err)
		}
		switch kind {
		case KindCommissionExpense:
			c.expense = id
		case KindAvailable:
			c.available[strings.TrimPrefix(owner, "partner:")] = id
		}
	}
	if rows.Err() != nil || c.expense == 0 || len(c.available) != benchPartners {
		b.Fatalf("accounts: %v, expense %d, %d partners", rows.Err(), c.expense, len(c.available))
	}
	return c
}

// prepare builds the rows of ops (outside the timed part).
func (c *rawCopier) prepare(ops []Op) {
	hash := sha256.Sum256([]byte("x"))
	c.transfers, c.postings = c.transfers[:0], c.postings[:0]
	for _, op := range ops {
		p := op.(AccrueParams)
		c.nextID++
		c.transfers = append(c.transfers, []any{c.nextID, "raw-" + p.Key, hash[:], "accrue", p.PartnerID, p.Currency,
			p.CommissionID, p.AmountMinor, "", nil, false, nil})
		c.postings = append(c.postings,
			[]any{c.nextID, c.expense, phasePending, -p.AmountMinor, int64(0)},
			[]any{c.nextID, c.available[p.PartnerID], phasePending, p.AmountMinor, int64(0)})
	}
}

func (c *rawCopier) copy(ctx context.Context) error {
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_transfers"}, transferColumns, pgx.CopyFromRows(c.transfers)); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_postings"}, postingColumns, pgx.CopyFromRows(c.postings))
		return err
	})
}

// BenchmarkTransfers compares, on one server in one run, accruals (pending transfers of
// two postings) written one per transaction, 1000 per Batch transaction, and a raw COPY of
// the same transfer and posting rows (no locks, no idempotency lookup, no balances, no
// pending state): the floor a batch cannot beat. "interleaved" alternates a ledger batch
// and a raw COPY of the same shape in every iteration, so that both see the same load on
// a shared machine, and reports their ratio.
//
//	go test -run '^$' -bench BenchmarkTransfers -benchtime 3s ./ledger
func BenchmarkTransfers(b *testing.B) {
	ctx := context.Background()
	env := &benchEnv{}

	b.Run("single", func(b *testing.B) {
		l, _ := env.setup(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Batch(ctx, []Op{env.accrual("single")}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "postings/s")
	})

	b.Run("batch", func(b *testing.B) {
		l, _ := env.setup(b)
		stages := map[string]time.Duration{}
		stageHook = func(name string, d time.Duration) { stages[name] += d }
		defer func() { stageHook = nil }()
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			ops := env.batch("batch")
			b.StartTimer()
			if _, err := l.Batch(ctx, ops); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N*benchBatch)/b.Elapsed().Seconds(), "postings/s")
		// Where a batch spends its time (ms per batch of 1000).
		for name, d := range stages {
			b.ReportMetric(float64(d.Microseconds())/1000/float64(b.N), name+"_ms")
		}
	})

	b.Run("rawcopy", func(b *testing.B) {
		_, pool := env.setup(b)
		raw := newRawCopier(b, pool)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			raw.prepare(env.batch("raw"))
			b.StartTimer()
			if err := raw.copy(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N*benchBatch)/b.Elapsed().Seconds(), "postings/s")
	})

	b.Run("interleaved", func(b *testing.B) {
		l, _ := env.setup(b)
		_, rawPool := env.setup(b)
		raw := newRawCopier(b, rawPool)
		var ledgerTime, rawTime time.Duration
		for b.Loop() {
			ops := env.batch("mix")
			raw.prepare(env.batch("mixraw"))
			t0 := time.Now()
			if _, err := l.Batch(ctx, ops); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := raw.copy(ctx); err != nil {
				b.Fatal(err)
			}
			ledgerTime += t1.Sub(t0)
			rawTime += time.Since(t1)
		}
		b.ReportMetric(float64(b.N*benchBatch)/ledgerTime.Seconds(), "ledger_transfers/s")
		b.ReportMetric(float64(b.N*benchBatch)/rawTime.Seconds(), "rawcopy_transfers/s")
		b.ReportMetric(rawTime.Seconds()/ledgerTime.Seconds(), "ledger/rawcopy")
	})
}
