package server

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// TestPhoneOtherPages: the pages the browser journey does not measure on a
// phone (the admin's partner page with links on and off and long URLs,
// announcements with a long text, the partner's other pages) fit the
// screen too.
func TestPhoneOtherPages(t *testing.T) {
	e := startE2E(t)
	ctx := context.Background()
	hash, _ := auth.Hasher{Cost: 4}.Hash("admin-password-1")
	adm, err := e.store.CreateAdmin(ctx, "admin@example.com", hash)
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.store.CreatePartner(ctx, storage.Partner{Name: "Serdar", Email: "serdar@example.com", Slug: "serdar", DefaultRateUPct: -1})
	if err != nil {
		t.Fatal(err)
	}
	ph, _ := auth.Hasher{Cost: 4}.Hash("serdar-secret-pw")
	if _, err := e.store.CreatePartnerUser(ctx, p.ID, "serdar@example.com", ph); err != nil {
		t.Fatal(err)
	}
	long := e.plat.shop.srv.URL + "/p/" + strings.Repeat("very-long-product-slug-", 6)
	for i, u := range []string{long, long + "x", e.plat.shop.srv.URL + "/c?category=" + strings.Repeat("z", 80)} {
		l, _, err := e.store.CreateLink(ctx, storage.Link{PartnerID: p.ID, Kind: "deep", TargetURL: u}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := e.store.DeactivateLink(ctx, p.ID, l.ID, i == 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.store.CreateAnnouncement(ctx, "Hello", "Text with a long URL "+long+"\nand more", nil, adm.ID); err != nil {
		t.Fatal(err)
	}
	e.phone()
	e.login("serdar@example.com", "serdar-secret-pw")
	e.fitsPhone("/partner/links/off", "/partner/announcements", "/partner/bank", "/partner/store-credit", "/partner/adjustments", "/partner/password")
	e.logout()
	e.login("admin@example.com", "admin-password-1")
	e.fitsPhone("/admin/partners/"+strconv.FormatInt(p.ID, 10), "/admin/announcements", "/admin/applications", "/admin/settings",
		"/admin/store-credits", "/admin/catalog", "/admin/customers", "/admin/password")
}
