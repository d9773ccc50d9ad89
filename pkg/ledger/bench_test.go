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

// BenchmarkTransfers compares, on one server in one run, accruals (pending transfers of
// two postings) written one per transaction, 1000 per ApplyBatch transaction, and a raw
// COPY of the same transfer and posting rows (no locks, no balances, no pending state):
// the floor a batch cannot beat.
//
//	go test -run '^$' -bench BenchmarkTransfers -benchtime 3s ./ledger
func BenchmarkTransfers(b *testing.B) {
	ctx := context.Background()
	const partners = 200
	seq := 0
	accrual := func(prefix string) Op {
		seq++
		return AccrueParams{
			Key:          fmt.Sprintf("%s-%d", prefix, seq),
			PartnerID:    fmt.Sprintf("bench-%d", seq%partners),
			Currency:     "EUR",
			AmountMinor:  int64(100 + seq%1000),
			CommissionID: fmt.Sprintf("%s-c%d", prefix, seq),
		}
	}
	// setup gives each variant its own fresh database (same server) with the accounts
	// already created, so that no variant pays for the rows another one left behind.
	setup := func(b *testing.B) (*Ledger, *pgxpool.Pool) {
		l, pool := newLedger(b, 4)
		warm := make([]Op, partners)
		for i := range warm {
			warm[i] = accrual("warm")
		}
		if _, err := l.Batch(ctx, warm); err != nil {
			b.Fatal(err)
		}
		return l, pool
	}

	b.Run("single", func(b *testing.B) {
		l, _ := setup(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Batch(ctx, []Op{accrual("single")}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N)/b.Elapsed().Seconds(), "postings/s")
	})

	b.Run("batch", func(b *testing.B) {
		l, _ := setup(b)
		stages := map[string]time.Duration{}
		stageHook = func(name string, d time.Duration) { stages[name] += d }
		defer func() { stageHook = nil }()
		b.ReportAllocs()
		ops := make([]Op, benchBatch)
		for b.Loop() {
			b.StopTimer()
			for i := range ops {
				ops[i] = accrual("batch")
			}
			b.StartTimer()
			if _, err := l.Batch(ctx, ops); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N*benchBatch)/b.Elapsed().Seconds(), "postings/s")
		// Where a batch spends its time (ms per batch of 1000).
		for name, d := range stages {
			b.ReportMetric(float64(d.Milliseconds())/float64(b.N), name+"_ms")
		}
	})

	b.Run("rawcopy", func(b *testing.B) {
		_, pool := setup(b)
		b.ReportAllocs()
		// The same rows as the batch: the same 200 partners' available accounts.
		var expense int64
		available := make(map[string]int64)
		rows, err := pool.Query(ctx, `SELECT id, owner, kind FROM ledger_accounts`)
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
				expense = id
			case KindAvailable:
				available[strings.TrimPrefix(owner, "partner:")] = id
			}
		}
		if rows.Err() != nil || expense == 0 || len(available) != partners {
			b.Fatalf("accounts: %v, expense %d, %d partners", rows.Err(), expense, len(available))
		}
		nextID := int64(1) << 40 // far above the ids the ledger allocates
		hash := sha256.Sum256([]byte("x"))
		transfers := make([][]any, benchBatch)
		postings := make([][]any, 2*benchBatch)
		for b.Loop() {
			b.StopTimer()
			for i := range transfers {
				seq++
				nextID++
				amount := int64(100 + seq%1000)
				partner := fmt.Sprintf("bench-%d", seq%partners)
				transfers[i] = []any{nextID, fmt.Sprintf("raw-%d", seq), hash[:], "accrue", partner, "EUR",
					fmt.Sprintf("raw-c%d", seq), amount, "", nil, false, nil}
				postings[2*i] = []any{nextID, expense, phasePending, -amount, int64(0)}
				postings[2*i+1] = []any{nextID, available[partner], phasePending, amount, int64(0)}
			}
			b.StartTimer()
			err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_transfers"}, transferColumns, pgx.CopyFromRows(transfers)); err != nil {
					return err
				}
				_, err := tx.CopyFrom(ctx, pgx.Identifier{"ledger_postings"}, postingColumns, pgx.CopyFromRows(postings))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "transfers/s")
		b.ReportMetric(float64(2*b.N*benchBatch)/b.Elapsed().Seconds(), "postings/s")
	})
}
