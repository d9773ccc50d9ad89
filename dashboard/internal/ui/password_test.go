package ui

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

// postPage posts a form with c's CSRF token and returns the status and
// the page.
func (c *client) postPage(path string, form url.Values) (int, string) {
	c.f.t.Helper()
	form.Set("csrf", c.csrf)
	resp, err := c.http.PostForm(c.f.srv.URL+path, form)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// passwordHash reads the stored password hash of the login with email.
func (f *fixture) passwordHash(email string) string {
	f.t.Helper()
	u, err := f.store.UserByEmail(f.t.Context(), email)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.PasswordHash
}

func passwordForm(current, newPassword, repeat string) url.Values {
	return url.Values{"current_password": {current}, "new_password": {newPassword}, "new_password_repeat": {repeat}}
}

// TestChangesPassword checks POST /partner/password and /admin/password:
// refused forms name the field and change nothing; a change makes the old
// password fail and the new one work, ends the user's other sessions and
// keeps this one.
func TestChangesPassword(t *testing.T) {
	for _, role := range []string{storage.RolePartner, storage.RoleAdmin} {
		t.Run(role, func(t *testing.T) {
			f := newFixture(t, false)
			email, pw := "ayla@example.com", "partner-pw-ayla"
			if role == storage.RoleAdmin {
				email, pw = "root@example.com", "admin-password-1"
				f.admin(email)
			} else {
				f.partner("ayla")
			}
			home, path := "/"+role, "/"+role+"/password"
			c, other := f.client(), f.client()
			if s := c.login(email, pw); s != http.StatusSeeOther {
				t.Fatalf("login: %d", s)
			}
			if s := other.login(email, pw); s != http.StatusSeeOther {
				t.Fatalf("second login: %d", s)
			}
			if s, page, _ := c.get(path); s != http.StatusOK || !strings.Contains(page, `name="current_password"`) ||
				!strings.Contains(page, `action="`+path+`"`) || !strings.Contains(page, `href="`+path+`"`) {
				t.Fatalf("password page: %d, want 200 with the form posting to %s and linked from the menu", s, path)
			}
			hashBefore := f.passwordHash(email)
			f1 := func(form url.Values, status int, msg, why string) {
				t.Helper()
				s, page := c.postPage(path, form)
				if s != status || !strings.Contains(page, msg) {
					t.Errorf("%s: %d, want %d with %q", why, s, status, msg)
				}
			}
			f1(passwordForm("wrong-password", "new-password-1", "new-password-1"), http.StatusBadRequest, "current password: is wrong", "wrong current password")
			f1(passwordForm("", "new-password-1", "new-password-1"), http.StatusBadRequest, "current password: enter", "no current password")
			f1(passwordForm(pw, "short", "short"), http.StatusBadRequest, "new password: must be 10 to 72 characters", "new password too short")
			f1(passwordForm(pw, strings.Repeat("x", 73), strings.Repeat("x", 73)), http.StatusBadRequest, "new password: must be 10 to 72", "new password too long")
			f1(passwordForm(pw, "new-password-1", "new-password-2"), http.StatusBadRequest, "repeat new password: does not match", "repeat differs")
			f1(passwordForm(pw, pw, pw), http.StatusBadRequest, "new password: is the current password", "same password")
			if s, _, _ := other.get(home); s != http.StatusOK {
				t.Fatalf("other session after refused changes: %d, want 200", s)
			}
			if f.passwordHash(email) != hashBefore {
				t.Fatal("a refused form changed the password")
			}

			s, loc := c.post(path, passwordForm(pw, "new-password-1", "new-password-1"))
			if loc != path {
				t.Errorf("after the change: redirected to %q, want %s", loc, path)
			}
			wantFlash(t, c, s, loc, "Password changed")
			if s, _, _ := c.get(home); s != http.StatusOK {
				t.Fatalf("this session after the change: %d, want 200", s)
			}
			if s, _, h := other.get(home); s != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
				t.Fatalf("other session after the change: %d, want 303 to /login", s)
			}
			if n := f.count(`SELECT count(*) FROM sessions`); n != 1 {
				t.Fatalf("sessions after the change = %d, want 1", n)
			}
			if s := f.client().login(email, pw); s != http.StatusUnauthorized {
				t.Fatalf("login with the old password: %d, want 401", s)
			}
			if s := f.client().login(email, "new-password-1"); s != http.StatusSeeOther {
				t.Fatalf("login with the new password: %d, want 303", s)
			}
			if cost, err := bcrypt.Cost([]byte(f.passwordHash(email))); err != nil || cost != testHasher.Cost {
				t.Fatalf("new hash cost = %d (%v), want the configured %d", cost, err, testHasher.Cost)
			}
		})
	}
}

// TestPasswordChangeRateLimit checks that wrong current passwords count
// as failed logins of the partner's e-mail: past the limit even the right
// one is refused, and so is a login.
func TestPasswordChangeRateLimit(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	c := f.client()
	if s := c.login("ayla@example.com", "partner-pw-ayla"); s != http.StatusSeeOther {
		t.Fatalf("login: %d", s)
	}
	c.get("/partner/password")
	hashBefore := f.passwordHash("ayla@example.com")
	for i := range MaxFailuresPerEmail {
		if s, _ := c.postPage("/partner/password", passwordForm("wrong-password", "new-password-1", "new-password-1")); s != http.StatusBadRequest {
			t.Fatalf("wrong current password %d: %d, want 400", i+1, s)
		}
	}
	s, page := c.postPage("/partner/password", passwordForm("partner-pw-ayla", "new-password-1", "new-password-1"))
	if s != http.StatusTooManyRequests || !strings.Contains(page, "Try again in 15 minutes") {
		t.Fatalf("right current password after %d failures: %d, want 429", MaxFailuresPerEmail, s)
	}
	if s := f.client().login("ayla@example.com", "partner-pw-ayla"); s != http.StatusTooManyRequests {
		t.Fatalf("login after %d failed password checks: %d, want 429", MaxFailuresPerEmail, s)
	}
	if f.passwordHash("ayla@example.com") != hashBefore {
		t.Fatal("the refused change took effect")
	}
}

// TestChangePasswordStaleHash checks that storage.ChangePassword changes
// nothing when the password changed since it was checked.
func TestChangePasswordStaleHash(t *testing.T) {
	f := newFixture(t, false)
	f.partner("ayla")
	c := f.client()
	c.login("ayla@example.com", "partner-pw-ayla")
	u, err := f.store.UserByEmail(t.Context(), "ayla@example.com")
	if err != nil {
		t.Fatal(err)
	}
	err = f.store.ChangePassword(t.Context(), u.ID, u.PasswordHash+"-stale", "$2a$04$new", nil)
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("ChangePassword with a stale hash = %v, want a conflict", err)
	}
	if f.passwordHash("ayla@example.com") != u.PasswordHash || f.count(`SELECT count(*) FROM sessions`) != 1 {
		t.Fatal("a refused change changed the password or ended sessions")
	}
}
