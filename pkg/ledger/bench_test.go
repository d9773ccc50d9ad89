package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// benchBatch is the number of transfers per batch (and per raw COPY).
const benchBatch = 1000

// BenchmarkTransfers compares, on one database in one run, accruals (pending transfers of
// two postings) written one per transaction, 1000 per ApplyBatch transaction, and a raw
// COPY of the same transfer and posting rows (no locks, no balances, no pending state):
// the floor a batch cannot beat.
//
//	go test -run '^$' -bench BenchmarkTransfers -benchtime 3s ./ledger
func BenchmarkTransfers(b *testing.B) {
	l, pool := newLedger(b, 4)
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
	// Create the accounts first so every variant writes to existing accounts.
	warm := make([]Op, partners)
	for i := range warm {
		warm[i] = accrual("warm")
	}
	if _, err := l.Batch(ctx, warm); err != nil {
		b.Fatal(err)
	}

	b.Run("single", func(b *testing.B) {
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
	})

	b.Run("rawcopy", func(b *testing.B) {
		b.ReportAllocs()
		var accts [2]int64
		if err := pool.QueryRow(ctx, `SELECT
			(SELECT id FROM ledger_accounts WHERE owner = 'program' AND kind = 'commission_expense'),
			(SELECT id FROM ledger_accounts WHERE owner = 'partner:bench-1' AND kind = 'available')`).Scan(&accts[0], &accts[1]); err != nil {
			b.Fatal(err)
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
				transfers[i] = []any{nextID, fmt.Sprintf("raw-%d", seq), hash[:], "accrue", "bench-1", "EUR",
					fmt.Sprintf("raw-c%d", seq), amount, "", nil, false, nil}
				postings[2*i] = []any{nextID, accts[0], phasePending, -amount, int64(0)}
				postings[2*i+1] = []any{nextID, accts[1], phasePending, amount, int64(0)}
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
