package ui

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// postConcurrently posts every form to path at once (after all are ready)
// with c's cookies and returns the statuses by form index.
func postConcurrently(t *testing.T, c *client, path string, forms []url.Values) []int {
	t.Helper()
	statuses := make([]int, len(forms))
	errs := make([]error, len(forms))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, form := range forms {
		form.Set("csrf", c.csrf)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.http.PostForm(c.f.srv.URL+path, form)
			if err != nil {
				errs[i] = err
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return statuses
}

// TestLoginRateLimitConcurrent checks that the login rate limit holds for
// attempts that arrive together: each is counted before its password is
// checked, so no more than the limit are checked, whatever their timing.
func TestLoginRateLimitConcurrent(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	f.partner("bora")
	const n = 20
	c := f.client()
	c.get("/login")
	count := func(statuses []int) map[int]int {
		m := map[int]int{}
		for _, s := range statuses {
			m[s]++
		}
		return m
	}

	// n wrong guesses at once: at most the limit are checked (401), the
	// rest refused (429) unchecked; then the right password is refused too.
	var forms []url.Values
	for i := range n {
		forms = append(forms, url.Values{"email": {"ayla@example.com"}, "password": {"guess-" + strconv.Itoa(i)}})
	}
	got := count(postConcurrently(t, c, "/login", forms))
	if got[http.StatusUnauthorized] > MaxFailuresPerEmail || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != n {
		t.Fatalf("%d concurrent wrong logins: statuses %v, want at most %d 401 and the rest 429", n, got, MaxFailuresPerEmail)
	}
	// Refused attempts are not stored: only checked passwords count.
	if k := f.count(`SELECT count(*) FROM login_attempts WHERE email = 'ayla@example.com' AND NOT success`); k != got[http.StatusUnauthorized] {
		t.Fatalf("failed attempts stored = %d, want the %d checked", k, got[http.StatusUnauthorized])
	}
	// Attempts that meet at the limit may refuse each other, so the burst
	// may have left room: use it up one by one.
	for i := got[http.StatusUnauthorized]; i < MaxFailuresPerEmail; i++ {
		if s, _ := c.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"late-guess"}}); s != http.StatusUnauthorized {
			t.Fatalf("failure %d after the burst: %d, want 401", i+1, s)
		}
	}
	if s, _ := c.post("/login", url.Values{"email": {"ayla@example.com"}, "password": {"partner-pw-ayla"}}); s != http.StatusTooManyRequests {
		t.Fatalf("right password after %d failures: %d, want 429", MaxFailuresPerEmail, s)
	}

	// n-1 wrong guesses and the right password at once: still at most the
	// limit of wrong ones checked; the right one logs in only if it was
	// checked within the limit.
	forms = nil
	for i := range n - 1 {
		forms = append(forms, url.Values{"email": {"bora@example.com"}, "password": {"guess-" + strconv.Itoa(i)}})
	}
	forms = append(forms, url.Values{"email": {"bora@example.com"}, "password": {"partner-pw-bora"}})
	got = count(postConcurrently(t, f.client().withCSRF(t), "/login", forms))
	if got[http.StatusUnauthorized] > MaxFailuresPerEmail || got[http.StatusSeeOther] > 1 ||
		got[http.StatusUnauthorized]+got[http.StatusSeeOther]+got[http.StatusTooManyRequests] != n {
		t.Fatalf("%d concurrent logins, one right: statuses %v, want at most %d 401, at most one 303, the rest 429", n, got, MaxFailuresPerEmail)
	}
}

// withCSRF fetches the login page so that c has an anonymous CSRF token.
func (c *client) withCSRF(t *testing.T) *client {
	t.Helper()
	c.get("/login")
	return c
}
