package api

import (
	"context"
	"fmt"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// TestLinkUpdate: PATCH /api/admin/partners/{id}/links/{link_id} turns a
// partner's link off (for good, until the admin turns it on: the partner's
// own turn-on is refused) and on again; repeats answer the link as it is.
func TestLinkUpdate(t *testing.T) {
	f := newFixture(t)
	pid := f.partner("Ayla", "ayla")
	other := f.partner("Bora", "bora")
	ctx := context.Background()
	l, _, err := f.store.CreateLink(ctx, storage.Link{PartnerID: pid, Kind: "deep", TargetURL: "https://shop.example/x"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/api/admin/partners/%d/links/%d", pid, l.ID)
	out := f.expect("PATCH", path, `{"active":false}`, 200, "")
	if out["active"] != false || out["off_by_admin"] != true || out["code"] != l.Code {
		t.Fatalf("turned off: %v", out)
	}
	f.expect("PATCH", path, `{"active":false}`, 200, "") // a repeat
	if _, err := f.store.ActivateLink(ctx, pid, l.ID, false); err == nil {
		t.Fatal("the partner turned on a link the admin turned off")
	}
	if out := f.expect("PATCH", path, `{"active":true}`, 200, ""); out["active"] != true || out["off_by_admin"] != false {
		t.Fatalf("turned on: %v", out)
	}
	f.expect("PATCH", path, `{"active":true}`, 200, "")
	// The list: active by default, off and all on request, each with its state.
	f.expect("PATCH", path, `{"active":false}`, 200, "")
	list := fmt.Sprintf("/api/admin/partners/%d/links", pid)
	count := func(q string) int {
		t.Helper()
		ls, _ := f.expect("GET", list+q, "", 200, "")["links"].([]any)
		return len(ls)
	}
	if a, o, all := count(""), count("?state=off"), count("?state=all"); a != 0 || o != 1 || all != 1 {
		t.Errorf("links active/off/all = %d/%d/%d, want 0/1/1", a, o, all)
	}
	if ls, _ := f.expect("GET", list+"?state=off", "", 200, "")["links"].([]any); len(ls) == 1 && ls[0].(map[string]any)["off_by_admin"] != true {
		t.Errorf("off link %v, want off_by_admin", ls[0])
	}
	f.expect("GET", list+"?state=gone", "", 400, "state")
	f.expect("PATCH", path, `{}`, 400, "active")
	f.expect("PATCH", path, `{"active":"no"}`, 400, "active")
	f.expect("PATCH", fmt.Sprintf("/api/admin/partners/%d/links/%d", other, l.ID), `{"active":false}`, 404, "")
	f.expect("PATCH", fmt.Sprintf("/api/admin/partners/%d/links/x", pid), `{"active":false}`, 400, "link_id")
}
