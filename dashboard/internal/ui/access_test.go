package ui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The partner's login follows the partner's e-mail: after the admin changes
// it, the old address no longer logs in, the new one does with the same
// password, and "Set login password" changes that one login instead of
// making a second.
func TestPartnerLoginFollowsEmail(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	id := f.partner("ayla")
	f.partner("bora")
	a := f.client()
	if s := a.login("admin@example.com", "admin-password-1"); s != http.StatusSeeOther {
		t.Fatalf("admin login: %d", s)
	}
	page := "/admin/partners/" + strconv.FormatInt(id, 10)
	a.get(page)
	form := url.Values{"name": {"AYLA"}, "email": {"ayla.new@example.com"}, "slug": {"ayla"}, "status": {"active"}}
	if s, loc := a.post(page, form); s != http.StatusSeeOther || a.flash(loc) != "Partner saved." {
		t.Fatalf("update: %d %q", s, a.flash(loc))
	}
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusUnauthorized {
		t.Fatalf("old e-mail logs in: %d", s)
	}
	if s := f.client().login("ayla.new@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("new e-mail: %d", s)
	}
	// Another login's e-mail is a conflict: nothing is written, the
	// partner keeps its address.
	a.get(page)
	form.Set("email", "bora@example.com")
	if s, loc := a.post(page, form); s != http.StatusSeeOther || a.flash(loc) == "Partner saved." {
		t.Fatalf("taken e-mail saved: %d %q", s, a.flash(loc))
	}
	var email string
	if err := f.pool.QueryRow(context.Background(), `SELECT email FROM partners WHERE id = $1`, id).Scan(&email); err != nil || email != "ayla.new@example.com" {
		t.Fatalf("partner e-mail after the refused change: %q %v", email, err)
	}
	a.get(page)
	if s, loc := a.post(page+"/login", url.Values{"password": {"another-password-9"}}); s != http.StatusSeeOther || a.flash(loc) != "Login saved: ayla.new@example.com can log in with the new password." {
		t.Fatalf("set password: %d %q", s, a.flash(loc))
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE partner_id = $1`, id).Scan(&n); err != nil || n != 1 {
		t.Fatalf("logins of the partner: %d %v", n, err)
	}
	if s := f.client().login("ayla.new@example.com", "another-password-9"); s != http.StatusSeeOther {
		t.Fatalf("new password: %d", s)
	}
}

// A suspended partner is logged out at once, cannot log in (told so only
// when the password is right), and can again once active.
func TestSuspendedPartnerCannotLogIn(t *testing.T) {
	f := newFixture(t, false)
	id := f.partner("ayla")
	p := f.client()
	if s := p.login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("login: %d", s)
	}
	f.exec(`UPDATE partners SET status = 'suspended' WHERE id = $1`, id)
	if s, _, _ := p.get("/partner/customers"); s != http.StatusSeeOther {
		t.Fatalf("suspended partner's session still works: %d", s)
	}
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusForbidden {
		t.Fatalf("suspended login: %d, want 403", s)
	}
	if s := f.client().login("ayla@example.com", "wrong-password-1"); s != http.StatusUnauthorized {
		t.Fatalf("suspended, wrong password: %d, want 401", s)
	}
	f.exec(`UPDATE partners SET status = 'active' WHERE id = $1`, id)
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("active again: %d", s)
	}
}

// Failures for an e-mail from other addresses do not lock its owner out
// of their own address; very many from anywhere do.
func TestLoginLimitPerAddress(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	f.exec(`INSERT INTO login_attempts (email, ip_prefix, success)
		SELECT 'ayla@example.com', '203.0.' || (i % 50) || '.0/24', false FROM generate_series(1, $1::int - 1) i`, MaxFailuresPerEmailAll)
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("login after failures elsewhere: %d", s)
	}
	f.exec(`INSERT INTO login_attempts (email, ip_prefix, success) VALUES ('ayla@example.com', '198.51.100.0/24', false)`)
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusTooManyRequests {
		t.Fatalf("login after %d failures: %d, want 429", MaxFailuresPerEmailAll, s)
	}
}

// Applications from one address are bounded (each costs a bcrypt hash).
func TestApplyLimit(t *testing.T) {
	f := newFixture(t, false)
	c := f.client()
	for i := range MaxApplicationsPerIP + 1 {
		c.get("/apply")
		name := "applicant" + strconv.Itoa(i)
		s, _ := c.post("/apply", url.Values{"name": {name}, "email": {name + "@example.com"}, "slug": {name},
			"password": {"applicant-pw-1"}})
		want := http.StatusSeeOther
		if i == MaxApplicationsPerIP {
			want = http.StatusTooManyRequests
		}
		if s != want {
			t.Fatalf("application %d: %d, want %d", i, s, want)
		}
	}
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM partner_applications`).Scan(&n); err != nil || n != MaxApplicationsPerIP {
		t.Fatalf("applications stored: %d %v", n, err)
	}
}

// The partner form holds every field: saved after another admin changed
// the partner (a suspension, here), it would put the old values back. It
// is refused naming the reload, and the change stays; the form of the
// page loaded after it saves. The settings form is the same.
func TestStaleFormsRefused(t *testing.T) {
	f := newFixture(t, false)
	a := adminClient(t, f)
	id := f.partner("ayla")
	version := func(path string) string {
		t.Helper()
		_, body, _ := a.get(path)
		m := regexp.MustCompile(`name="version" value="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("%s has no version field", path)
		}
		return m[1]
	}
	page := "/admin/partners/" + strconv.FormatInt(id, 10)
	form := url.Values{"name": {"AYLA"}, "email": {"ayla@example.com"}, "slug": {"ayla"}, "status": {"active"}, "default_rate": {"7"}}
	form.Set("version", version(page))
	f.exec(`UPDATE partners SET status = 'suspended', updated_at = clock_timestamp() WHERE id = $1`, id)
	if s, loc := a.post(page, form); s != http.StatusSeeOther || !strings.Contains(a.flash(loc), "changed by someone else since this page was loaded") {
		t.Fatalf("stale partner form: %d %q", s, a.flash(loc))
	}
	var status string
	if err := f.pool.QueryRow(context.Background(), `SELECT status FROM partners WHERE id = $1`, id).Scan(&status); err != nil || status != "suspended" {
		t.Fatalf("status after the stale form = %q %v, want suspended", status, err)
	}
	form.Set("version", version(page))
	form.Set("status", "suspended")
	if s, loc := a.post(page, form); s != http.StatusSeeOther || a.flash(loc) != "Partner saved." {
		t.Fatalf("fresh partner form: %d %q", s, a.flash(loc))
	}

	settings := url.Values{"default_rate": {"10"}, "attribution_window": {"720h"}, "attribution_model": {"last_click"},
		"binding_window": {"720h"}, "reserve_percent": {"10"}, "reserve_period": {"720h"}, "auto_approve_after": {"0s"},
		"currency": {"EUR"}, "min_payout": {"50.00"}}
	settings.Set("version", version("/admin/settings"))
	f.exec(`UPDATE program_settings SET reserve_upct = 200000, updated_at = clock_timestamp()`)
	if s, loc := a.post("/admin/settings", settings); s != http.StatusSeeOther || !strings.Contains(a.flash(loc), "changed by someone else since this page was loaded") {
		t.Fatalf("stale settings form: %d %q", s, a.flash(loc))
	}
	var reserve int64
	if err := f.pool.QueryRow(context.Background(), `SELECT reserve_upct FROM program_settings`).Scan(&reserve); err != nil || reserve != 200000 {
		t.Fatalf("reserve after the stale form = %d %v, want 200000", reserve, err)
	}
	settings.Set("version", version("/admin/settings"))
	if s, loc := a.post("/admin/settings", settings); s != http.StatusSeeOther || a.flash(loc) != "Settings saved." {
		t.Fatalf("fresh settings form: %d %q", s, a.flash(loc))
	}
}
