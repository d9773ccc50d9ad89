package ledger

import (
	"context"
	"testing"
)

// TestStaleAccountCacheIsRetryable: a transaction making two ApplyBatch calls
// (the settler splits a large batch so) creates a partner's accounts in the
// first; the second sees them and remembers them as committed; the
// transaction rolls back. The next use of the partner finds the cache stale:
// a retryable error that forgets the cache, after which it succeeds.
func TestStaleAccountCacheIsRetryable(t *testing.T) {
	l, pool := newLedger(t, 4)
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, ref := range []string{"o1/1", "o2/1"} {
		if _, err := l.ApplyBatch(ctx, tx, []Op{AccrueParams{Key: "accrue:" + ref, PartnerID: "new-partner", Currency: "EUR",
			AmountMinor: 100, CommissionID: ref}}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	accrue := AccrueParams{Key: "accrue:o3/1", PartnerID: "new-partner", Currency: "EUR", AmountMinor: 100, CommissionID: "o3/1"}
	_, err = l.Accrue(ctx, accrue)
	if err != nil && !IsRetryable(err) {
		t.Fatalf("after the rollback: %v, not retryable", err)
	}
	if err != nil {
		if _, err := l.Accrue(ctx, accrue); err != nil {
			t.Fatalf("retry: %v", err)
		}
	}
	mustBalance(t, l, "new-partner", Balance{Currency: "EUR", PendingMinor: 100})
	mustVerify(t, l)
}
