package storage

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openaff/affiliate/pkg/ledger"
	"github.com/openaff/affiliate/pkg/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// storeEnv is a Storage and a Ledger over a fresh database.
type storeEnv struct {
	t *testing.T
	s *Storage
	l *ledger.Ledger
}

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), testenv.Get(t).PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return &storeEnv{t: t, s: New(pool), l: ledger.New(pool, ledger.Options{})}
}

func (e *storeEnv) exec(q string, args ...any) {
	e.t.Helper()
	if _, err := e.s.pool.Exec(context.Background(), q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
}

func (e *storeEnv) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.s.pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *storeEnv) partner(slug string) int64 {
	e.t.Helper()
	p, err := e.s.CreatePartner(context.Background(), Partner{Name: slug, Email: slug + "@example.com", Slug: slug, DefaultRateUPct: -1})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// seedPending writes a settled order with one line, its attribution to
// partnerID and a pending commission with its ledger accrual, the way the
// settler does; it returns the commission id.
func (e *storeEnv) seedPending(orderID string, partnerID, amountMinor int64) int64 {
	e.t.Helper()
	ctx := context.Background()
	e.exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ($1, 'c-'||$1, 'EUR', now())`, orderID)
	e.exec(`DELETE FROM settle_queue WHERE order_id = $1`, orderID) // settled
	e.exec(`INSERT INTO order_lines (order_id, line_id, product_id, quantity, unit_price_minor) VALUES ($1, '1', 'p1', 1, $2)`, orderID, amountMinor*10)
	e.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, click_id) VALUES ($1, 1, $2, 'device', '01890000-0000-7000-8000-000000000001')`, orderID, partnerID)
	var cid int64
	if err := e.s.pool.QueryRow(ctx, `INSERT INTO commissions (order_id, line_id, attribution_version, partner_id, currency, base_minor, rate_upct, rate_rule, amount_minor, accrual_transfer_key, ledger_ref)
		VALUES ($1, '1', 1, $2, 'EUR', $3, 100000, 'program_default', $4, 'accrue:'||$1||'/1/1', $1||'/1/1') RETURNING id`, orderID, partnerID, amountMinor*10, amountMinor).Scan(&cid); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.l.Accrue(ctx, ledger.AccrueParams{Key: "accrue:" + orderID + "/1/1", PartnerID: strconv.FormatInt(partnerID, 10),
		Currency: "EUR", AmountMinor: amountMinor, CommissionID: orderID + "/1/1"}); err != nil {
		e.t.Fatal(err)
	}
	return cid
}

func (e *storeEnv) balance(partnerID int64) ledger.Balance {
	e.t.Helper()
	b, err := e.l.Balance(context.Background(), strconv.FormatInt(partnerID, 10), "EUR")
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}
