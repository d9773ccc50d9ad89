package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestAccrueGroup: the commissions of one order accrued as one transfer of two postings,
// then each approved, voided or clawed back on its own, as if accrued alone.
func TestAccrueGroup(t *testing.T) {
	l, pool := newLedger(t, 4)
	ctx := context.Background()
	group := AccrueGroupParams{Key: "accrue:o1", PartnerID: "p", Currency: "EUR", GroupID: "o1",
		Commissions: []GroupAccrual{{CommissionID: "o1/1", AmountMinor: 100}, {CommissionID: "o1/2", AmountMinor: 50}, {CommissionID: "o1/3", AmountMinor: 7}}}
	tr, err := l.AccrueGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	if n, m, k := count(t, pool, "ledger_transfers"), count(t, pool, "ledger_postings"), count(t, pool, "ledger_pending"); n != 1 || m != 2 || k != 3 {
		t.Fatalf("a group of 3 wrote %d transfers, %d postings, %d pending rows; want 1, 2, 3", n, m, k)
	}
	var shared int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_pending WHERE transfer_id = $1`, tr.ID).Scan(&shared); err != nil || shared != 3 {
		t.Fatalf("pending rows on transfer %d: %d, %v; want 3", tr.ID, shared, err)
	}
	mustBalance(t, l, "p", Balance{Currency: "EUR", PendingMinor: 157})
	mustVerify(t, l)

	// A replay returns the transfer; the same key with another body is a conflict.
	again, err := l.AccrueGroup(ctx, group)
	if err != nil || !again.Replayed || again.ID != tr.ID {
		t.Fatalf("replay = %+v, %v; want transfer %d replayed", again, err, tr.ID)
	}
	other := group
	other.Commissions = slices.Clone(group.Commissions)
	other.Commissions[2].AmountMinor = 8
	if _, err := l.AccrueGroup(ctx, other); !errors.Is(err, ErrIdempotencyConflict) {
		t.Fatalf("same key, other amounts: %v; want ErrIdempotencyConflict", err)
	}

	// Each commission is resolved on its own: a partial void, an approval, a void, the
	// approval of what remains, a clawback.
	release := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		op   Op
		want Balance
	}{
		{PartialVoidParams{Key: "pv:o1/2", CommissionID: "o1/2", AmountMinor: 20}, Balance{PendingMinor: 137}},
		{ApproveParams{Key: "ap:o1/1", CommissionID: "o1/1", ReserveBasisPoints: 1000, ReleaseAt: release}, Balance{PendingMinor: 37, AvailableMinor: 90, ReservedMinor: 10}},
		{VoidParams{Key: "v:o1/3", CommissionID: "o1/3"}, Balance{PendingMinor: 30, AvailableMinor: 90, ReservedMinor: 10}},
		{ApproveParams{Key: "ap:o1/2", CommissionID: "o1/2", ReserveBasisPoints: 1000, ReleaseAt: release}, Balance{AvailableMinor: 117, ReservedMinor: 13}},
		{ClawbackParams{Key: "cb:o1/1", CommissionID: "o1/1", AmountMinor: 15}, Balance{AvailableMinor: 112, ReservedMinor: 3}},
	}
	for _, s := range steps {
		if _, err := l.Batch(ctx, []Op{s.op}); err != nil {
			t.Fatalf("%+v: %v", s.op, err)
		}
		s.want.Currency = "EUR"
		mustBalance(t, l, "p", s.want)
		mustVerify(t, l)
	}
	// Three final resolutions of one pending transfer, one per commission.
	var finals int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM ledger_transfers WHERE pending_id = $1 AND final`, tr.ID).Scan(&finals); err != nil || finals != 3 {
		t.Fatalf("final resolutions of transfer %d: %d, %v; want 3", tr.ID, finals, err)
	}
	// A resolved commission stays resolved.
	for _, op := range []Op{
		VoidParams{Key: "v2:o1/1", CommissionID: "o1/1"},
		ApproveParams{Key: "ap2:o1/3", CommissionID: "o1/3", ReserveBasisPoints: 0, ReleaseAt: release},
	} {
		if _, err := l.Batch(ctx, []Op{op}); !errors.Is(err, ErrPendingResolved) {
			t.Fatalf("%+v: %v; want ErrPendingResolved", op, err)
		}
	}

	// A group naming a commission that already exists, alone or in another group, is
	// refused as a whole.
	for _, op := range []Op{
		AccrueGroupParams{Key: "accrue:o2", PartnerID: "p", Currency: "EUR", GroupID: "o2",
			Commissions: []GroupAccrual{{CommissionID: "o2/1", AmountMinor: 5}, {CommissionID: "o1/2", AmountMinor: 5}}},
		AccrueParams{Key: "accrue:o1/1", PartnerID: "p", Currency: "EUR", AmountMinor: 5, CommissionID: "o1/1"},
	} {
		_, err := l.Batch(ctx, []Op{op})
		if !errors.Is(err, ErrDuplicateReference) {
			t.Fatalf("%+v: %v; want ErrDuplicateReference", op, err)
		}
	}
	if n := count(t, pool, "ledger_pending"); n != 3 {
		t.Fatalf("refused groups left %d pending rows, want 3", n)
	}
}

// TestAccrueGroupInBatch: a group and the resolution of its commissions in one batch;
// a group refused inside a batch by a commission accrued earlier in the same batch.
func TestAccrueGroupInBatch(t *testing.T) {
	l, _ := newLedger(t, 4)
	ctx := context.Background()
	release := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	out, err := l.Batch(ctx, []Op{
		AccrueGroupParams{Key: "g", PartnerID: "p", Currency: "USD", GroupID: "o",
			Commissions: []GroupAccrual{{CommissionID: "a", AmountMinor: 1000}, {CommissionID: "b", AmountMinor: 300}}},
		ApproveParams{Key: "ap:a", CommissionID: "a", ReserveBasisPoints: 2500, ReleaseAt: release},
		PartialVoidParams{Key: "pv:b", CommissionID: "b", AmountMinor: 300},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[1].ID == out[0].ID {
		t.Fatalf("results %+v", out)
	}
	mustBalance(t, l, "p", Balance{Currency: "USD", AvailableMinor: 750, ReservedMinor: 250})
	mustVerify(t, l)

	// Enough pending rows for COPY: a group of 40, half approved and a quarter voided in
	// the same batch.
	big := AccrueGroupParams{Key: "big", PartnerID: "q", Currency: "USD", GroupID: "big"}
	ops := []Op{big}
	for i := range 2 * copyThreshold {
		id := fmt.Sprintf("big/%d", i)
		big.Commissions = append(big.Commissions, GroupAccrual{CommissionID: id, AmountMinor: 100})
		switch i % 4 {
		case 0, 1:
			ops = append(ops, ApproveParams{Key: "ap:" + id, CommissionID: id, ReserveBasisPoints: 1000, ReleaseAt: release})
		case 2:
			ops = append(ops, VoidParams{Key: "v:" + id, CommissionID: id})
		}
	}
	ops[0] = big
	if _, err := l.Batch(ctx, ops); err != nil {
		t.Fatal(err)
	}
	mustBalance(t, l, "q", Balance{Currency: "USD", PendingMinor: 1600, AvailableMinor: 2880, ReservedMinor: 320})
	mustVerify(t, l)

	_, err = l.Batch(ctx, []Op{
		AccrueParams{Key: "c", PartnerID: "p", Currency: "USD", AmountMinor: 1, CommissionID: "c"},
		AccrueGroupParams{Key: "g2", PartnerID: "p", Currency: "USD", GroupID: "o2",
			Commissions: []GroupAccrual{{CommissionID: "d", AmountMinor: 1}, {CommissionID: "c", AmountMinor: 1}}},
	})
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || !errors.Is(err, ErrDuplicateReference) {
		t.Fatalf("group repeating a commission of the batch: %v; want ErrDuplicateReference at 1", err)
	}
	mustBalance(t, l, "p", Balance{Currency: "USD", AvailableMinor: 750, ReservedMinor: 250})
}

// TestVerifyFindsGroupDamage: a pending row of a group edited by hand is named by its
// commission, even when the group's totals still match.
func TestVerifyFindsGroupDamage(t *testing.T) {
	l, pool := newLedger(t, 2)
	ctx := context.Background()
	tr, err := l.AccrueGroup(ctx, AccrueGroupParams{Key: "g", PartnerID: "p", Currency: "EUR", GroupID: "o",
		Commissions: []GroupAccrual{{CommissionID: "a", AmountMinor: 100}, {CommissionID: "b", AmountMinor: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PartialVoid(ctx, PartialVoidParams{Key: "pv", CommissionID: "a", AmountMinor: 40}); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, l)
	for _, tc := range []struct {
		name, edit string
		want       []PendingDiff
	}{
		{"the void moved from a to b", `UPDATE ledger_pending SET voided_minor = CASE reference WHEN 'a' THEN 0 ELSE 40 END`,
			[]PendingDiff{{TransferID: tr.ID, Reference: "a", Quantity: "resolved", Stored: 0, Derived: 40},
				{TransferID: tr.ID, Reference: "b", Quantity: "resolved", Stored: 40, Derived: 0}}},
		{"30 of a's amount moved to b", `UPDATE ledger_pending SET amount_minor = amount_minor + CASE reference WHEN 'a' THEN -30 ELSE 30 END`,
			[]PendingDiff{{TransferID: tr.ID, Reference: "a", Quantity: "amount", Stored: 70, Derived: 100},
				{TransferID: tr.ID, Reference: "b", Quantity: "amount", Stored: 130, Derived: 100}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, tc.edit); err != nil {
				t.Fatal(err)
			}
			// Verify reads its own snapshot: commit the damage, undo it afterwards.
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			r, err := l.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Pending, tc.want) || r.OK() {
				t.Errorf("Pending = %+v, want %+v", r.Pending, tc.want)
			}
			t.Logf("report:\n%s", r)
			if _, err := pool.Exec(ctx, `UPDATE ledger_pending SET amount_minor = 100, voided_minor = CASE reference WHEN 'a' THEN 40 ELSE 0 END`); err != nil {
				t.Fatal(err)
			}
			mustVerify(t, l)
		})
	}
}

// OpSize: a group accrual counts its commissions (by value or pointer), anything else 1.
func TestOpSize(t *testing.T) {
	g := AccrueGroupParams{Commissions: make([]GroupAccrual, 3)}
	if OpSize(g) != 3 || OpSize(&g) != 3 || OpSize(VoidParams{}) != 1 || OpSize(AccrueGroupParams{}) != 1 {
		t.Fatalf("OpSize: %d %d %d %d", OpSize(g), OpSize(&g), OpSize(VoidParams{}), OpSize(AccrueGroupParams{}))
	}
}
