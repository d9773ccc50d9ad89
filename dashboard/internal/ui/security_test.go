package ui

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func fillPath(pattern string, id int64) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{id}", strconv.FormatInt(id, 10), "{order_id}", "o-1", "{$}", "").Replace(path)
	return method, path
}

// TestRoles checks every panel route: admin routes refuse partners and
// anonymous visitors, partner routes refuse admins and anonymous visitors.
func TestRoles(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	pid := f.partner("ayla")
	f.seedOrder("o-1", pid, 1000)
	var u UI
	anon, part, adm := f.client(), f.client(), f.client()
	anon.get("/login")
	if s := part.login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("partner login: %d", s)
	}
	if s := adm.login("admin@example.com", "admin-password-1"); s != http.StatusSeeOther {
		t.Fatalf("admin login: %d", s)
	}
	for _, r := range u.routes() {
		if r.role == "" {
			continue
		}
		method, path := fillPath(r.pattern, pid)
		wrong := part
		if r.role == partner {
			wrong = adm
		}
		if method == "GET" {
			if s, _, _ := wrong.get(path); s != http.StatusForbidden {
				t.Errorf("%s %s as the wrong role: %d, want 403", method, path, s)
			}
			s, _, h := anon.get(path)
			if s != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
				t.Errorf("%s %s anonymous: %d %q, want 303 to /login", method, path, s, h.Get("Location"))
			}
			continue
		}
		if s, _ := wrong.post(path, url.Values{"amount": {"1.00"}, "reason": {"x"}}); s != http.StatusForbidden {
			t.Errorf("%s %s as the wrong role: %d, want 403", method, path, s)
		}
		if s, _ := anon.post(path, url.Values{"amount": {"1.00"}}); s != http.StatusUnauthorized {
			t.Errorf("%s %s anonymous: %d, want 401", method, path, s)
		}
	}
	// Nothing the refused requests carried was written.
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM adjustments) + (SELECT count(*) FROM penalties) + (SELECT count(*) FROM payouts)`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused requests wrote %d rows (%v)", n, err)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, false)
	a := f.partner("ayla")
	f.partner("bora")
	ca, cb := f.client(), f.client()
	ca.login("ayla@example.com", "partner-pw-ayla")
	cb.login("bora@example.com", "partner-pw-bora")
	iban := url.Values{"holder": {"Ayla"}, "iban": {"DE89370400440532013000"}}
	// No token, a made-up token and another session's token are refused.
	for _, tok := range []string{"", "forged", cb.csrf} {
		form := url.Values{"holder": iban["holder"], "iban": iban["iban"], "csrf": {tok}}
		if s, _ := ca.post("/partner/bank", form); s != http.StatusForbidden {
			t.Errorf("POST with csrf %q: %d, want 403", tok, s)
		}
	}
	if _, err := f.store.BankAccount(context.Background(), a); err == nil {
		t.Fatal("a refused form saved bank details")
	}
	if s, _ := ca.post("/partner/bank", iban); s != http.StatusSeeOther {
		t.Fatalf("POST with the right token: %d", s)
	}
	// The login form needs the anonymous double-submit token too.
	anon := f.client()
	if s, _ := anon.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"partner-pw-ayla"}}); s != http.StatusForbidden {
		t.Errorf("login without csrf: %d, want 403", s)
	}
}

func TestLoginAndSessions(t *testing.T) {
	f := newFixture(t, true)
	f.partner("ayla")
	c := f.client()
	c.get("/login")
	s, _ := c.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"wrong-password"}})
	if s != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", s)
	}
	// Secure, HttpOnly, SameSite session cookie on success.
	resp, err := c.http.PostForm(f.srv.URL+"/login", url.Values{"email": {"AYLA@example.com"}, "password": {"partner-pw-ayla"}, "csrf": {c.csrf}, "next": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/partner" {
		t.Fatalf("login: %d to %q, want 303 to /partner (no open redirect)", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || len(cookie.Value) < 40 {
		t.Fatalf("session cookie = %+v", cookie)
	}
	var stored int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("sessions = %d, %v", stored, err)
	}
	// The cookie jar drops Secure cookies on http://; send it by hand.
	req, _ := http.NewRequest("GET", f.srv.URL+"/partner/bank", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie.Value})
	r2, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("page with session: %d", r2.StatusCode)
	}
	// A forged cookie is no session.
	req, _ = http.NewRequest("GET", f.srv.URL+"/partner/bank", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie.Value + "x"})
	r3, _ := c.http.Do(req)
	r3.Body.Close()
	if r3.StatusCode != http.StatusSeeOther {
		t.Fatalf("forged session: %d, want 303 to login", r3.StatusCode)
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	if s, _ := c.post("/logout", nil); s != http.StatusSeeOther {
		t.Fatalf("logout: %d", s)
	}
	if s, _, _ := c.get("/partner"); s != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want redirect to login", s)
	}
	var n int
	_ = f.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n)
	if n != 0 {
		t.Fatalf("sessions after logout = %d", n)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	c := f.client()
	c.get("/login")
	for i := 0; i < MaxFailuresPerEmail; i++ {
		if s, _ := c.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"guess-" + strconv.Itoa(i)}}); s != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, s)
		}
	}
	// Even the right password is refused while the limit holds.
	if s, _ := c.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"partner-pw-ayla"}}); s != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", MaxFailuresPerEmail, s)
	}
	// Another account from the same address is still allowed (per-IP limit is higher).
	f.partner("bora")
	if s, _ := c.post("/login", url.Values{"email": {"bora@example.com"}, "password": {"partner-pw-bora"}}); s != http.StatusSeeOther {
		t.Fatalf("other account: %d", s)
	}
}
