package ui

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// TestApplyDoesNotTellAccounts checks that /apply answers an e-mail that
// already has a login (or a partner) exactly as it answers a new e-mail,
// and stores nothing for it.
func TestApplyDoesNotTellAccounts(t *testing.T) {
	f := newFixture(t, false)
	f.admin("admin@example.com")
	f.partner("ayla")
	if _, err := f.store.CreatePartner(context.Background(), storage.Partner{Name: "CEM", Email: "cem@example.com", Slug: "cem", DefaultRateUPct: -1}); err != nil { // no login
		t.Fatal(err)
	}
	c := f.client()
	c.get("/apply")
	// answer is everything the applicant sees: status, headers that are
	// not dates, cookies, and the page the redirect leads to.
	answer := func(email, slug string) string {
		t.Helper()
		form := url.Values{"name": {"Someone"}, "email": {email}, "slug": {slug}, "password": {"applicant-pw-1"}, "csrf": {c.csrf}}
		req, _ := http.NewRequest("POST", f.srv.URL+"/apply", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Header.Del("Date")
		var sb strings.Builder
		_ = resp.Header.Write(&sb)
		_, page, _ := c.get(resp.Header.Get("Location"))
		return resp.Status + "\n" + sb.String() + "\n" + string(b) + "\n" + page
	}
	want := answer("new-applicant@example.com", "newbie")
	if !strings.HasPrefix(want, "303") || !strings.Contains(want, "Thank you") {
		t.Fatalf("new e-mail: %s", want)
	}
	f1 := func(email, why string) {
		t.Helper()
		if got := answer(email, "other"); got != want {
			t.Errorf("%s (%s): answer\n%s\nwant as for a new e-mail\n%s", email, why, got, want)
		}
		if n := f.count(`SELECT count(*) FROM partner_applications WHERE lower(email) = lower($1)`, email); n != 0 {
			t.Errorf("%s (%s): %d applications stored", email, why, n)
		}
	}
	f1("ayla@example.com", "a partner's login")
	f1("AYLA@example.com", "a partner's login, other case")
	f1("admin@example.com", "an admin's login")
	f1("cem@example.com", "a partner without a login")
	if n := f.count(`SELECT count(*) FROM partner_applications`); n != 1 {
		t.Fatalf("applications stored = %d, want only the new e-mail's", n)
	}
}
