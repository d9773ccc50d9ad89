package storage

import (
	"context"
	"errors"
	"testing"
)

// TestLinkOffByAdmin: a link the admin turned off stays off until the admin
// turns it on; the partner's own turn-on is refused on field link. The
// admin may also keep off a link the partner turned off. The partner's own
// turn-off leaves the link the partner's to turn on.
func TestLinkOffByAdmin(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	ayla := e.partner("ayla")
	mk := func(target string) Link {
		t.Helper()
		l, _, err := e.s.CreateLink(ctx, Link{PartnerID: ayla, Kind: "deep", TargetURL: target}, 0)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a, b := mk("https://shop.example/a"), mk("https://shop.example/b")
	if err := e.s.DeactivateLink(ctx, ayla, a.ID, true); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.ActivateLink(ctx, ayla, a.ID, false)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "link" || !errors.Is(err, ErrConflict) {
		t.Fatalf("partner turning on an admin's turned-off link: %v, want a conflict on link", err)
	}
	if l, _ := e.s.LinkOf(ctx, ayla, a.ID); l.Active || !l.OffByAdmin {
		t.Fatalf("link after the refused turn-on: %+v", l)
	}
	l, err := e.s.ActivateLink(ctx, ayla, a.ID, true)
	if err != nil || !l.Active || l.OffByAdmin {
		t.Fatalf("admin turning it on: %+v, %v", l, err)
	}
	// The partner turns b off; the admin keeps it off.
	if err := e.s.DeactivateLink(ctx, ayla, b.ID, false); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.s.LinkOf(ctx, ayla, b.ID); l.OffByAdmin {
		t.Fatal("the partner's own turn-off marked the link as the admin's")
	}
	if err := e.s.DeactivateLink(ctx, ayla, b.ID, true); err != nil {
		t.Fatalf("admin keeping off a link the partner turned off: %v", err)
	}
	if _, err := e.s.ActivateLink(ctx, ayla, b.ID, false); !errors.Is(err, ErrConflict) {
		t.Fatalf("partner turning on a link the admin keeps off: %v", err)
	}
	if err := e.s.DeactivateLink(ctx, ayla, b.ID, true); err != nil {
		t.Fatalf("the admin turning it off again: %v, want no error (a repeat)", err)
	}
	if err := e.s.DeactivateLink(ctx, ayla, b.ID, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the partner turning off a link already off: %v, want not found (nothing to change)", err)
	}
	if err := e.s.DeactivateLink(ctx, ayla, 999999, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the admin turning off no link: %v, want not found", err)
	}
	all, _, err := e.s.AllLinks(ctx, ayla, Page{})
	if err != nil || len(all) != 2 {
		t.Fatalf("AllLinks = %+v, %v; want both", all, err)
	}
}
