package ui

import (
	"net/http"
	"strings"
	"testing"
)

// Commission lists show what the partner keeps, not only the amount the
// order earned when placed: a partly refunded commission showed its full
// amount, so the list did not add up to the balance (635.88 EUR apart for
// one demo partner). The partner page, the partner API, the admin list
// and the order page show the refunded part and what is kept.
func TestCommissionListsShowKept(t *testing.T) {
	f := newFixture(t, false)
	a := adminClient(t, f)
	pid := f.partner("ayla")
	f.seedOrder("o-part", pid, 4293) // 42.93 EUR
	f.exec(`UPDATE commissions SET state = 'partially_voided', voided_amount_minor = 859 WHERE order_id = 'o-part'`)
	p := f.client()
	if s := p.login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("partner login: %d", s)
	}
	_, page, _ := p.get("/partner/commissions")
	if !strings.Contains(page, "42.93") || !strings.Contains(page, "−8.59") || !strings.Contains(page, "34.34") {
		t.Errorf("partner commissions page does not show amount 42.93, refunded −8.59 and kept 34.34:\n%s", page)
	}
	if _, page, _ := p.get("/partner/commissions?state=partially_voided"); !strings.Contains(page, "o-part") {
		t.Error("the partner cannot list partly refunded commissions")
	}
	s, out := p.callJSON("GET", "/api/partner/commissions", "", false)
	list, _ := out["commissions"].([]any)
	if s != 200 || len(list) != 1 {
		t.Fatalf("partner API: %d %v", s, out)
	}
	if c := list[0].(map[string]any); c["kept"] != "34.34" || c["voided"] != "8.59" || c["clawed_back"] != "0.00" {
		t.Errorf("partner API commission = %v, want kept 34.34, voided 8.59, clawed_back 0.00", c)
	}
	for _, path := range []string{"/admin/commissions", "/admin/orders/o-part"} {
		if _, page, _ := a.get(path); !strings.Contains(page, "−8.59") || !strings.Contains(page, "34.34") {
			t.Errorf("%s does not show refunded −8.59 and kept 34.34", path)
		}
	}
}
