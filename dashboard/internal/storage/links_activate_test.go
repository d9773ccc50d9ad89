package storage

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestActivateLink: a turned-off link is listed by InactiveLinks and can be
// turned on again by its own partner only; turning on respects the
// active-link cap and the one-active-link-per-target rule, and tells the
// tracker (updated_at moves).
func TestActivateLink(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	old := MaxActiveLinksPerPartner
	MaxActiveLinksPerPartner = 2
	t.Cleanup(func() { MaxActiveLinksPerPartner = old })
	ayla, bora := e.partner("ayla"), e.partner("bora")
	mk := func(partnerID int64, target string) Link {
		t.Helper()
		l, _, err := e.s.CreateLink(ctx, Link{PartnerID: partnerID, Kind: "deep", TargetURL: target}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	first := mk(ayla, "https://shop.example/1")
	if err := e.s.DeactivateLink(ctx, ayla, first.ID, false); err != nil {
		t.Fatal(err)
	}
	off, _, err := e.s.InactiveLinks(ctx, ayla, Page{})
	if err != nil || len(off) != 1 || off[0].ID != first.ID || off[0].Active {
		t.Fatalf("InactiveLinks(ayla) = %+v, %v; want link %d", off, err, first.ID)
	}
	if off, _, _ := e.s.InactiveLinks(ctx, bora, Page{}); len(off) != 0 {
		t.Fatalf("InactiveLinks(bora) = %+v, want none", off)
	}
	if _, err := e.s.ActivateLink(ctx, bora, first.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another partner turning the link on = %v, want ErrNotFound", err)
	}
	if _, err := e.s.ActivateLink(ctx, 999999, first.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown partner = %v, want ErrNotFound", err)
	}
	e.exec(`UPDATE links SET updated_at = now() - interval '1 hour' WHERE id = $1`, first.ID)
	l, err := e.s.ActivateLink(ctx, ayla, first.ID, false)
	if err != nil || !l.Active || l.Code != first.Code {
		t.Fatalf("ActivateLink = %+v, %v; want the link active again", l, err)
	}
	if n := e.count(`SELECT count(*) FROM links WHERE id = $1 AND active AND updated_at > now() - interval '1 minute'`, first.ID); n != 1 {
		t.Fatal("updated_at not moved: the tracker's poll would miss the change")
	}
	if l, err := e.s.ActivateLink(ctx, ayla, first.ID, false); err != nil || !l.Active { // a repeat is fine
		t.Fatalf("ActivateLink of an active link = %+v, %v", l, err)
	}
	if off, _, _ := e.s.InactiveLinks(ctx, ayla, Page{}); len(off) != 0 {
		t.Fatalf("InactiveLinks after turning on = %+v, want none", off)
	}

	// One active link per target: a new link to the same page made while
	// this one was off keeps it off.
	if err := e.s.DeactivateLink(ctx, ayla, first.ID, false); err != nil {
		t.Fatal(err)
	}
	again := mk(ayla, "https://shop.example/1")
	_, err = e.s.ActivateLink(ctx, ayla, first.ID, false)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "url" || !errors.Is(err, ErrConflict) || !strings.Contains(fe.Msg, again.Code) {
		t.Fatalf("turning on a link whose page has another active link = %v, want a conflict on url naming %s", err, again.Code)
	}

	// The cap: at MaxActiveLinksPerPartner active links nothing turns on.
	mk(ayla, "https://shop.example/2")
	mk(bora, "https://shop.example/3") // bora's links do not count
	if err := e.s.DeactivateLink(ctx, ayla, again.ID, false); err != nil {
		t.Fatal(err)
	}
	mk(ayla, "https://shop.example/4")
	_, err = e.s.ActivateLink(ctx, ayla, first.ID, false)
	if !errors.As(err, &fe) || fe.Field != "url" || !errors.Is(err, ErrConflict) || !strings.Contains(fe.Msg, "most allowed") {
		t.Fatalf("turning on beyond the cap = %v, want a conflict on url", err)
	}
	if n := e.count(`SELECT count(*) FROM links WHERE partner_id = $1 AND active`, ayla); n != 2 {
		t.Fatalf("%d active links after the refusal, want 2", n)
	}
}
