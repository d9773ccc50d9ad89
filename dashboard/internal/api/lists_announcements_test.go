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
}
