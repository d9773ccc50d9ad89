package api

import (
	"strconv"
	"testing"
)

// TestAnnouncementUnknownPartnerIDs: ids that are no partner's are a 400
// on partner_ids naming them, and nothing is stored; repeated ids count
// once.
func TestAnnouncementUnknownPartnerIDs(t *testing.T) {
	f := newFixture(t)
	a := strconv.FormatInt(f.partner("Deniz", "deniz"), 10)
	out := f.expect("POST", "/api/admin/announcements", `{"title":"Hi","body":"x","partner_ids":[`+a+`,999999,999998,999999]}`, 400, "partner_ids")
	if out["error"] != "partner_ids no such partners: 999998, 999999 (nothing was sent)" {
		t.Errorf("error = %v", out["error"])
	}
	var n int
	if err := f.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM announcements) + (SELECT count(*) FROM announcement_recipients)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused announcement wrote %d rows (%v)", n, err)
	}
	f.expect("POST", "/api/admin/announcements", `{"title":"Hi","body":"x","partner_ids":[0]}`, 400, "partner_ids")
	f.expect("POST", "/api/admin/announcements", `{"title":"Hi","body":"x","partner_ids":[`+a+`,`+a+`]}`, 201, "")
	if err := f.pool.QueryRow(t.Context(), `SELECT count(*) FROM announcement_recipients`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("recipients = %d (%v), want 1", n, err)
	}
	// The list names the recipients of a selected audience.
	list := f.expect("GET", "/api/admin/announcements", "", 200, "")
	items, _ := list["announcements"].([]any)
	if len(items) != 1 {
		t.Fatalf("announcements = %v", list)
	}
	got := items[0].(map[string]any)
	if ids, _ := got["partner_ids"].([]any); len(ids) != 1 || strconv.FormatFloat(ids[0].(float64), 'f', -1, 64) != a || got["recipient_count"] != float64(1) {
		t.Errorf("announcement = %v, want partner_ids [%s] and recipient_count 1", got, a)
	}
}
