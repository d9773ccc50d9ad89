package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestKeepOffRacesPartnerTurnOn: the admin "keeps off" a link the partner
// turned off while the partner turns it on. ActivateLink read the link
// without locking it, so the partner's turn-on, queued behind the admin's
// UPDATE, overwrote it: both succeeded, and the link ended up on with
// off_by_admin = false. It reads the link FOR UPDATE now and is refused.
func TestKeepOffRacesPartnerTurnOn(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	ayla := e.partner("ayla")
	l, _, err := e.s.CreateLink(ctx, Link{PartnerID: ayla, Kind: "deep", TargetURL: "https://shop.example/spam"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.DeactivateLink(ctx, ayla, l.ID, false); err != nil { // the partner's own turn-off
		t.Fatal(err)
	}
	// Hold the link's row so that both requests queue on it in a known order.
	hold, err := e.s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Exec(ctx, `SELECT 1 FROM links WHERE id = $1 FOR UPDATE`, l.ID); err != nil {
		t.Fatal(err)
	}
	waiting := func(n int) {
		t.Helper()
		for i := 0; i < 200; i++ {
			if e.count(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`) >= n {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("fewer than %d waiters", n)
	}
	adminErr, partnerErr := make(chan error, 1), make(chan error, 1)
	go func() { adminErr <- e.s.DeactivateLink(ctx, ayla, l.ID, true) }() // admin: "Keep off"
	waiting(1)
	go func() { _, err := e.s.ActivateLink(ctx, ayla, l.ID, false); partnerErr <- err }() // partner: "Turn on"
	waiting(2)
	_ = hold.Rollback(ctx)
	aErr, pErr := <-adminErr, <-partnerErr
	got, _ := e.s.LinkOf(ctx, ayla, l.ID)
	t.Logf("admin keep-off: %v; partner turn-on: %v; link now active=%v off_by_admin=%v", aErr, pErr, got.Active, got.OffByAdmin)
	if aErr != nil || !errors.Is(pErr, ErrConflict) || got.Active || !got.OffByAdmin {
		t.Errorf("the admin's keep-off (%v) and the partner's turn-on (%v, want a conflict) at once: link active=%v off_by_admin=%v, want off by the admin",
			aErr, pErr, got.Active, got.OffByAdmin)
	}
}
