package storage

import (
	"context"
	"errors"
	"testing"
)

// TestApproveWaitsForSettlement: a manual approval leaves alone, like the
// automatic one, commissions whose order has changes the settlement pass
// has not applied (cancelled, queued, attributed anew). Approving them
// would credit money the pass then claws back into a negative balance.
func TestApproveWaitsForSettlement(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	other := e.partner("bora")

	// 10.00 pending; the shop cancels: the order is queued for the pass.
	cancelled := e.seedPending("o-cancelled", pid, 1000)
	e.exec(`UPDATE orders SET cancelled_at = now(), status = 'cancelled', revision = revision + 1 WHERE order_id = 'o-cancelled'`)
	if n := e.count(`SELECT count(*) FROM settle_queue WHERE order_id = 'o-cancelled'`); n != 1 {
		t.Fatalf("cancelled order queued %d times, want 1", n)
	}
	before := e.balance(pid)

	_, err := e.s.Approve(ctx, e.l, "o-cancelled", nil, 0)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "order_id" || !errors.Is(err, ErrConflict) {
		t.Fatalf("Approve(order o-cancelled) = %v, want a conflict on order_id", err)
	}
	a, err := e.s.Approve(ctx, e.l, "", []int64{cancelled}, 0)
	if err != nil || a != (Approval{Approved: 0, Skipped: 1}) {
		t.Fatalf("Approve(ids of o-cancelled) = %+v, %v, want 0 approved, 1 skipped", a, err)
	}
	if n, err := e.s.ApproveCommissions(ctx, e.l, "", []int64{cancelled}, 0); err != nil || n != 0 {
		t.Fatalf("ApproveCommissions(ids of o-cancelled) = %d, %v, want 0", n, err)
	}
	if after := e.balance(pid); after != before || after.AvailableMinor != 0 || after.PendingMinor != 1000 {
		t.Fatalf("balance after refused approvals = %+v, want %+v", after, before)
	}
	if n := e.count(`SELECT count(*) FROM commissions WHERE id = $1 AND state = 'pending'`, cancelled); n != 1 {
		t.Fatal("the commission of the cancelled order is no longer pending")
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE topic = 'commissions'`); n != 0 {
		t.Fatalf("%d commission facts enqueued for refused approvals", n)
	}

	// Queued without a cancellation (e.g. an admin override waiting for the
	// pass): held until the pass has run.
	queued := e.seedPending("o-queued", pid, 500)
	if err := e.s.SetOrderPartner(ctx, "o-queued", other, 0, "ticket 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Approve(ctx, e.l, "o-queued", nil, 0); !errors.Is(err, ErrOrderUnsettled) {
		t.Fatalf("Approve(order o-queued) = %v, want ErrOrderUnsettled", err)
	}

	// Attributed anew: the commission's attribution is superseded.
	stale := e.seedPending("o-stale", pid, 300)
	e.exec(`UPDATE attributions SET superseded_at = now() WHERE order_id = 'o-stale'`)
	e.exec(`INSERT INTO attributions (order_id, version, partner_id, rule, click_id) VALUES ('o-stale', 2, $1, 'device', '01890000-0000-7000-8000-000000000002')`, other)
	if a, err := e.s.Approve(ctx, e.l, "o-stale", nil, 0); err != nil || a != (Approval{Approved: 0, Skipped: 1}) {
		t.Fatalf("Approve(order o-stale) = %+v, %v, want 0 approved, 1 skipped", a, err)
	}

	// Bulk: only the settled order's commission is approved.
	ok := e.seedPending("o-ok", pid, 200)
	a, err = e.s.Approve(ctx, e.l, "", []int64{cancelled, queued, stale, ok}, 0)
	if err != nil || a != (Approval{Approved: 1, Skipped: 3}) {
		t.Fatalf("Approve(bulk) = %+v, %v, want 1 approved, 3 skipped", a, err)
	}
	if b := e.balance(pid); b.AvailableMinor+b.ReservedMinor != 200 {
		t.Fatalf("balance after bulk approval = %+v, want 2.00 credited", b)
	}

	// Once the pass has settled the order, it can be approved.
	e.exec(`DELETE FROM settle_queue WHERE order_id = 'o-queued'`)
	if a, err := e.s.Approve(ctx, e.l, "o-queued", nil, 0); err != nil || a != (Approval{Approved: 1}) {
		t.Fatalf("Approve(order o-queued, settled) = %+v, %v, want 1 approved", a, err)
	}
	// A repeat finds nothing pending: {"approved": 0}, even with a change
	// queued meanwhile (a refund after approval is the pass's clawback).
	e.exec(`UPDATE orders SET revision = revision + 1 WHERE order_id = 'o-queued'`)
	if n := e.count(`SELECT count(*) FROM settle_queue WHERE order_id = 'o-queued'`); n != 1 {
		t.Fatalf("o-queued not queued again (%d rows)", n)
	}
	if a, err := e.s.Approve(ctx, e.l, "o-queued", nil, 0); err != nil || a != (Approval{}) {
		t.Fatalf("repeat Approve(order o-queued) = %+v, %v, want 0 approved and no error", a, err)
	}
	// An order the pass has not decided yet (queued, no commission at
	// all) is unsettled, not "0 approved".
	e.exec(`INSERT INTO orders (order_id, customer_id, currency, placed_at) VALUES ('o-new', 'c-new', 'EUR', now())`)
	if _, err := e.s.Approve(ctx, e.l, "o-new", nil, 0); !errors.Is(err, ErrOrderUnsettled) {
		t.Fatalf("Approve(order o-new, undecided) = %v, want ErrOrderUnsettled", err)
	}
}

// Approving by order a cancelled order the pass has settled (its
// commissions voided) says it is cancelled: it answered "wait for the next
// settlement pass" forever.
func TestApproveCancelledSettledOrder(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	pid := e.partner("ayla")
	e.seedPending("o-c", pid, 1000)
	e.exec(`UPDATE orders SET cancelled_at = now(), status = 'cancelled', revision = revision + 1 WHERE order_id = 'o-c'`)
	if _, err := e.s.Approve(ctx, e.l, "o-c", nil, 0); !errors.Is(err, ErrOrderUnsettled) {
		t.Fatalf("Approve(cancelled, queued) = %v, want ErrOrderUnsettled", err)
	}
	// The pass voids the commission and takes the order off the queue.
	e.exec(`UPDATE commissions SET state = 'voided', voided_amount_minor = amount_minor WHERE order_id = 'o-c'`)
	e.exec(`DELETE FROM settle_queue WHERE order_id = 'o-c'`)
	_, err := e.s.Approve(ctx, e.l, "o-c", nil, 0)
	var fe *FieldError
	if !errors.Is(err, ErrOrderCancelled) || !errors.As(err, &fe) || fe.Field != "order_id" {
		t.Fatalf("Approve(cancelled, settled) = %v, want ErrOrderCancelled on order_id", err)
	}
}
