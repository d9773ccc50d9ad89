package settle

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/openaff/affiliate/pkg/ledger"
)

// money setup: 10 % default rate, 10 % reserve for 30 days, auto-approval
// one day after delivery.
func (f *fixture) moneyProgram() {
	f.program(`auto_approve_after = interval '1 day', reserve_period = interval '30 days'`)
}

func (f *fixture) approve(now time.Time) Counts {
	f.t.Helper()
	c, err := f.s.AutoApprove(context.Background(), now)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) release(now time.Time) int {
	f.t.Helper()
	c, err := f.s.ReleaseReserves(context.Background(), now)
	if err != nil {
		f.t.Fatal(err)
	}
	return c.Released
}

func (f *fixture) wantBalance(p int64, pending, available, reserved int64) {
	f.t.Helper()
	b := f.balance(p)
	if b.PendingMinor != pending || b.AvailableMinor != available || b.ReservedMinor != reserved {
		f.t.Fatalf("balance of %d = pending %d available %d reserved %d, want %d %d %d",
			p, b.PendingMinor, b.AvailableMinor, b.ReservedMinor, pending, available, reserved)
	}
}

// attributedOrder places order id for p through a device click and settles it.
func (f *fixture) attributedOrder(p int64, id string, at time.Time, lines ...string) {
	f.t.Helper()
	dev := "dev-" + id
	f.click(dev, p, at.Add(-time.Minute))
	f.events(placed("e-"+id, id, "cust-"+id, dev, at, lines...))
	f.watermark(at.Add(time.Minute))
	f.settle(at.Add(time.Minute))
}

func TestPartialRefundBeforeAndAfterApproval(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	p := f.partner("serdar")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 3, "100.00")) // commission 30.00
	f.wantBalance(p, 3000, 0, 0)

	// One of three units refunded before approval: a partial void.
	f.events(refund("r1", "o1", T0.Add(time.Hour), line("l1", "x", 1, "100.00")))
	if c := f.settle(T0.Add(2 * time.Hour)); c.Voids != 1 {
		t.Fatalf("counts %+v", c)
	}
	if got := f.commissions("o1"); got != fmt.Sprintf("l1:%d:3000:partially_voided:1000:0", p) {
		t.Fatalf("commissions %s", got)
	}
	f.wantBalance(p, 2000, 0, 0)

	// Delivered; not yet due a day later minus a second, approved after.
	f.events(orderEvent("d1", "order.delivered", "o1", T0.Add(24*time.Hour)))
	f.settle(T0.Add(24 * time.Hour))
	if c := f.approve(T0.Add(48*time.Hour - time.Second)); c.Approved != 0 {
		t.Fatalf("approved %d before due", c.Approved)
	}
	approvedAt := T0.Add(48 * time.Hour)
	if c := f.approve(approvedAt); c.Approved != 1 {
		t.Fatalf("approved %d, want 1", c.Approved)
	}
	f.wantBalance(p, 0, 1800, 200)

	// A second unit refunded after approval: clawback, reserve first.
	f.events(refund("r2", "o1", T0.Add(50*time.Hour), line("l1", "x", 1, "100.00")))
	if c := f.settle(T0.Add(50 * time.Hour)); c.Clawbacks != 1 {
		t.Fatalf("counts %+v", c)
	}
	if got := f.commissions("o1"); got != fmt.Sprintf("l1:%d:3000:partially_clawed_back:1000:1000", p) {
		t.Fatalf("commissions %s", got)
	}
	f.wantBalance(p, 0, 1000, 0)
	// Nothing left in the reserve to release on its date.
	if n := f.release(approvedAt.Add(31 * 24 * time.Hour)); n != 0 {
		t.Fatalf("released %d reserves, want 0", n)
	}
	// The last unit: clawed back entirely.
	f.events(refund("r3", "o1", T0.Add(60*time.Hour), line("l1", "x", 1, "100.00")))
	f.settle(T0.Add(60 * time.Hour))
	if got := f.commissions("o1"); got != fmt.Sprintf("l1:%d:3000:clawed_back:1000:2000", p) {
		t.Fatalf("commissions %s", got)
	}
	f.wantBalance(p, 0, 0, 0)
	f.verify()
}

func TestFullCancelVoidsEverything(t *testing.T) {
	f := newFixture(t)
	p := f.partner("serdar")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"), line("l2", "y", 2, "10.00"))
	f.wantBalance(p, 1200, 0, 0)
	// The order's two commissions: one ledger transfer of two postings, a pending row
	// each, and the transfer's key on both.
	shape := `SELECT (SELECT count(*) FROM ledger_transfers) || ' ' || (SELECT count(*) FROM ledger_postings) || ' ' ||
		(SELECT string_agg(t.operation || ':' || t.reference || ':' || t.amount_minor || '>' || lp.reference || ':' || lp.amount_minor, ' ' ORDER BY lp.reference)
		 FROM ledger_pending lp JOIN ledger_transfers t ON t.id = lp.transfer_id) || ' ' ||
		(SELECT string_agg(DISTINCT accrual_transfer_key, ',') FROM commissions)`
	if got, want := queryOne[string](t, f.pool, shape), "1 2 accrue_group:o1/1:1200>o1/l1/1:1000 accrue_group:o1/1:1200>o1/l2/1:200 accrue-order:o1/1"; got != want {
		t.Fatalf("ledger after the order: %s, want %s", got, want)
	}
	f.events(orderEvent("c1", "order.cancelled", "o1", T0.Add(time.Hour)))
	if c := f.settle(T0.Add(time.Hour)); c.Voids != 2 {
		t.Fatalf("counts %+v", c)
	}
	// Each commission's void is a final resolution of the shared transfer.
	finals := `SELECT string_agg(t.operation || ':' || t.reference, ' ' ORDER BY t.reference) FROM ledger_transfers t
		JOIN ledger_transfers a ON a.id = t.pending_id WHERE t.final AND a.operation = 'accrue_group'`
	if got, want := queryOne[string](t, f.pool, finals), "partial_void:o1/l1/1 partial_void:o1/l2/1"; got != want {
		t.Fatalf("final resolutions: %s, want %s", got, want)
	}
	if got := f.commissions("o1"); got != fmt.Sprintf("l1:%d:1000:voided:1000:0 l2:%d:200:voided:200:0", p, p) {
		t.Fatalf("commissions %s", got)
	}
	f.wantBalance(p, 0, 0, 0)
	// A refund after the cancel changes nothing more.
	f.events(refund("r1", "o1", T0.Add(2*time.Hour), line("l1", "x", 1, "100.00")))
	if c := f.settle(T0.Add(2 * time.Hour)); c.Voids != 0 {
		t.Fatalf("counts %+v", c)
	}
	f.verify()
}

func TestReserveReleasedOnItsDate(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	p := f.partner("serdar")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"))
	f.events(orderEvent("d1", "order.delivered", "o1", T0))
	f.settle(T0)
	at := T0.Add(25 * time.Hour)
	f.approve(at)
	f.wantBalance(p, 0, 900, 100)
	if n := f.release(at.Add(30*24*time.Hour - time.Second)); n != 0 {
		t.Fatalf("released %d before the date", n)
	}
	if n := f.release(at.Add(30 * 24 * time.Hour)); n != 1 {
		t.Fatalf("released %d on the date, want 1", n)
	}
	f.wantBalance(p, 0, 1000, 0)
	if n := f.release(at.Add(60 * 24 * time.Hour)); n != 0 {
		t.Fatalf("released %d twice", n)
	}
	f.verify()
}

func TestClawbackIntoNegativeIsNettedByNextCommission(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	ctx := context.Background()
	p := f.partner("serdar")
	pid := fmt.Sprint(p)
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"))
	f.events(orderEvent("d1", "order.delivered", "o1", T0))
	f.settle(T0)
	f.approve(T0.Add(25 * time.Hour))
	f.wantBalance(p, 0, 900, 100)
	// The partner withdraws everything available.
	if _, err := f.ledger.PayoutRequest(ctx, ledger.PayoutRequestParams{Key: "po1", PartnerID: pid, Currency: "EUR", AmountMinor: 900, PayoutID: "po1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.PayoutPaid(ctx, ledger.PayoutPaidParams{Key: "po1:paid", PayoutID: "po1"}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(p, 0, 0, 100)
	// Then the order is refunded: 1.00 from the reserve, 9.00 into negative.
	f.events(refund("r1", "o1", T0.Add(30*time.Hour), line("l1", "x", 1, "100.00")))
	f.settle(T0.Add(30 * time.Hour))
	f.wantBalance(p, 0, -900, 0)
	// A payout is refused while available is negative.
	_, err := f.ledger.PayoutRequest(ctx, ledger.PayoutRequestParams{Key: "po2", PartnerID: pid, Currency: "EUR", AmountMinor: 1, PayoutID: "po2"})
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("payout with negative balance: %v", err)
	}
	// The next commission (20.00, 18.00 available) nets it.
	f.attributedOrder(p, "o2", T0.Add(40*time.Hour), line("l1", "x", 2, "100.00"))
	f.events(orderEvent("d2", "order.delivered", "o2", T0.Add(40*time.Hour)))
	f.settle(T0.Add(41 * time.Hour))
	f.approve(T0.Add(70 * time.Hour))
	f.wantBalance(p, 0, 900, 200)
	f.verify()
}

func TestPenaltyAdjustmentAndPayoutLimit(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	ctx := context.Background()
	p := f.partner("serdar")
	pid := fmt.Sprint(p)
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"))
	f.events(orderEvent("d1", "order.delivered", "o1", T0))
	f.settle(T0)
	f.approve(T0.Add(25 * time.Hour))
	// A shipping-fee penalty of 4.90 and an adjustment of +2.00.
	if _, err := f.ledger.Penalty(ctx, ledger.PenaltyParams{Key: "pen1", PartnerID: pid, Currency: "EUR", AmountMinor: 490, OrderID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.Adjustment(ctx, ledger.AdjustmentParams{Key: "adj1", PartnerID: pid, Currency: "EUR", AmountMinor: 200, Reason: "goodwill"}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(p, 0, 900-490+200, 100)
	// A payout above available is refused; exactly available is fine.
	_, err := f.ledger.PayoutRequest(ctx, ledger.PayoutRequestParams{Key: "po1", PartnerID: pid, Currency: "EUR", AmountMinor: 611, PayoutID: "po1"})
	if !errors.Is(err, ledger.ErrInsufficientFunds) {
		t.Fatalf("payout above available: %v", err)
	}
	if _, err := f.ledger.PayoutRequest(ctx, ledger.PayoutRequestParams{Key: "po2", PartnerID: pid, Currency: "EUR", AmountMinor: 610, PayoutID: "po2"}); err != nil {
		t.Fatal(err)
	}
	f.wantBalance(p, 0, 0, 100)
	f.verify()
}

// override attaches partner (nil: removes any partner) as the admin does:
// an order_overrides row and a revision bump in one statement.
func (f *fixture) override(order string, partner *int64) {
	f.t.Helper()
	f.exec(`WITH o AS (INSERT INTO order_overrides (order_id, partner_id) VALUES ($1, $2))
UPDATE orders SET revision = revision + 1 WHERE order_id = $1`, order, partner)
}

func TestOverrideAfterSettlementMovesTheCommission(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	p := f.partner("first")
	q := f.partner("second")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 1, "100.00"))
	f.wantBalance(p, 1000, 0, 0)
	// Attach the other partner: p's pending commission is voided, q accrues.
	f.override("o1", &q)
	if c := f.settle(T0.Add(time.Hour)); c.Reattributed != 1 || c.Voids != 1 || c.Commissions != 1 {
		t.Fatalf("counts %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleOverride || *a.PartnerID != q {
		t.Fatalf("attribution %+v", a)
	}
	f.wantBalance(p, 0, 0, 0)
	f.wantBalance(q, 1000, 0, 0)
	// Approved, then the admin removes the partner: clawed back.
	f.events(orderEvent("d1", "order.delivered", "o1", T0))
	f.settle(T0.Add(time.Hour))
	f.approve(T0.Add(25 * time.Hour))
	f.wantBalance(q, 0, 900, 100)
	f.override("o1", nil)
	if c := f.settle(T0.Add(26 * time.Hour)); c.Clawbacks != 1 {
		t.Fatalf("counts %+v", c)
	}
	if a := f.attribution("o1"); a.Rule != RuleOverride || a.PartnerID != nil {
		t.Fatalf("attribution %+v", a)
	}
	f.wantBalance(q, 0, 0, 0)
	if n := queryOne[int](t, f.pool, `SELECT count(*) FROM attributions WHERE order_id = 'o1'`); n != 3 {
		t.Fatalf("attribution versions %d, want 3", n)
	}
	f.verify()
}

// A refund settled while an approval of the same commission is in flight
// (the admin's, not yet committed) waits for it and claws back; before,
// the pass read the commission as pending, voided part of it, and failed
// on the approved row.
func TestRefundWaitsForAnApprovalInFlight(t *testing.T) {
	f := newFixture(t)
	f.moneyProgram()
	ctx := context.Background()
	p := f.partner("serdar")
	f.attributedOrder(p, "o1", T0, line("l1", "x", 3, "100.00")) // commission 30.00

	tx, err := f.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	var (
		id  int64
		ref string
	)
	if err := tx.QueryRow(ctx, `SELECT id, ledger_ref FROM commissions WHERE order_id = 'o1' FOR UPDATE`).Scan(&id, &ref); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE commissions SET state = 'approved', approved_at = $2, updated_at = $2 WHERE id = $1`, id, T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ledger.ApplyBatch(ctx, tx, []ledger.Op{ledger.ApproveParams{Key: "approve:" + ref, CommissionID: ref,
		ReserveBasisPoints: 1000, ReleaseAt: T0.Add(31 * 24 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	f.events(refund("r1", "o1", T0.Add(2*time.Hour), line("l1", "x", 1, "100.00")))
	done := make(chan error, 1)
	go func() {
		_, err := f.s.Settle(ctx, T0.Add(3*time.Hour))
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for queryOne[int64](t, f.pool, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the pass never waited for the approval's locks")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("pass after the approval: %v", err)
	}
	if got := f.commissions("o1"); got != fmt.Sprintf("l1:%d:3000:partially_clawed_back:0:1000", p) {
		t.Fatalf("commissions %s", got)
	}
	// 27.00 available and 3.00 reserved, then 10.00 clawed back, reserve first.
	f.wantBalance(p, 0, 2000, 0)
	f.verify()
}
