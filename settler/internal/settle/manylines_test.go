package settle

import (
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/ledger"
)

// A batch whose orders hold more commissions than one ledger call takes
// (ledger.MaxBatchOps, a group accrual counting its commissions) is
// settled in several calls inside its transaction, not refused for good.
func TestBatchWithMoreCommissionsThanOneLedgerCall(t *testing.T) {
	f := newFixture(t)
	// One batch for all the orders (the fixture's batches hold 3).
	f.s = New(f.pool, f.ch, f.ledger, Options{ClickHouseDB: f.chDB, BatchSize: 100}, slog.New(slog.DiscardHandler))
	p := f.partner("ayla")
	const perOrder = 1000 // the most lines an order event may have
	orders := ledger.MaxBatchOps/perOrder + 1
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	lines := make([]string, perOrder)
	for i := range lines {
		lines[i] = line(strconv.Itoa(i+1), "sku-"+strconv.Itoa(i%7), 1, "10.00")
	}
	var evs []string
	for i := range orders {
		id := "big-" + strconv.Itoa(i)
		dev := "dev-" + id
		f.click(dev, p, at.Add(-time.Minute))
		evs = append(evs, placed("e-"+id, id, "cust-"+id, dev, at, lines...))
	}
	f.events(evs...)
	f.watermark(at.Add(time.Minute))
	c := f.settle(at.Add(time.Minute))
	if c.Orders != orders || c.Commissions != orders*perOrder {
		t.Fatalf("settled %d orders, %d commissions; want %d, %d", c.Orders, c.Commissions, orders, orders*perOrder)
	}
	// 10 % program default of 10.00 EUR per line.
	if b := f.balance(p); b.PendingMinor != int64(orders*perOrder)*100 {
		t.Fatalf("pending %d, want %d", b.PendingMinor, orders*perOrder*100)
	}
	if got := f.commissions("big-0"); strings.Count(got, ":pending:") != perOrder {
		t.Fatalf("big-0's commissions: %d pending", strings.Count(got, ":pending:"))
	}
	f.verify()
}
