package storage

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestLinkCap: a partner's active links are capped (every tracker keeps
// them in memory); at the cap an existing link is still returned, a new
// one is a conflict on url, and deactivating one makes room.
func TestLinkCap(t *testing.T) {
	e := newStoreEnv(t)
	ctx := context.Background()
	old := MaxActiveLinksPerPartner
	MaxActiveLinksPerPartner = 2
	t.Cleanup(func() { MaxActiveLinksPerPartner = old })
	ayla := e.partner("ayla")
	bora := e.partner("bora")
	link := func(partnerID int64, n int) (Link, bool, error) {
		return e.s.CreateLink(ctx, Link{PartnerID: partnerID, Kind: "deep", TargetURL: fmt.Sprintf("https://shop.example/p/%d", n)}, 0)
	}
	first, _, err := link(ayla, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := link(ayla, 2); err != nil {
		t.Fatal(err)
	}
	_, _, err = link(ayla, 3)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "url" || !errors.Is(err, ErrConflict) {
		t.Fatalf("link beyond the cap = %v, want a conflict on url", err)
	}
	if n := e.count(`SELECT count(*) FROM links WHERE partner_id = $1`, ayla); n != 2 {
		t.Fatalf("%d links after the refusal, want 2", n)
	}
	if l, created, err := link(ayla, 1); err != nil || created || l.ID != first.ID {
		t.Fatalf("existing link at the cap = %+v, %v, %v; want link %d returned", l, created, err, first.ID)
	}
	if _, created, err := link(bora, 1); err != nil || !created {
		t.Fatalf("another partner's link = %v, %v", created, err)
	}
	if err := e.s.DeactivateLink(ctx, ayla, first.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, created, err := link(ayla, 3); err != nil || !created {
		t.Fatalf("link after deactivating one = %v, %v", created, err)
	}
	if _, _, err := link(999999, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("link of an unknown partner = %v, want ErrNotFound", err)
	}
}
