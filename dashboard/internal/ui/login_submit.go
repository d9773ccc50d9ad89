package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/auth"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type loginSubmit struct{ *UI }

// ServeHTTP checks the password (rate-limited per e-mail and address
// prefix, per prefix, and per e-mail: ui.go, login_limit.go), then starts
// a session in Postgres and sets its cookie. A disabled login or a
// suspended partner's is refused.
func (h loginSubmit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	ip := auth.IPPrefix(r.RemoteAddr)
	again := func(status int, msg string) {
		h.render(w, r, "login", status, view{Title: "Log in", Error: msg, Data: map[string]any{"Next": next, "Email": email}})
	}
	if email == "" || password == "" || len(email) > 320 || len(password) > auth.MaxPasswordLen {
		again(http.StatusBadRequest, "Enter your e-mail and password.")
		return
	}
	u, err := h.Store.UserByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, err)
		return
	}
	var match bool
	ok, err := h.limitedCheck(r.Context(), email, ip, func() bool {
		match = h.Hasher.Check(u.PasswordHash, password)
		return match && !u.Disabled
	})
	if errors.Is(err, errTooManyFailures) {
		again(http.StatusTooManyRequests, tooManyFailures(w))
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if match && u.Disabled {
		// Only someone who knows the password learns the account exists.
		again(http.StatusForbidden, "This account is suspended. Contact the program's administrator.")
		return
	}
	if !ok {
		again(http.StatusUnauthorized, "Wrong e-mail or password.")
		return
	}
	token := auth.NewToken()
	if err := h.Store.CreateSession(r.Context(), auth.TokenHash(token), u.ID, auth.RandomBytes(32), SessionTTL); err != nil {
		h.serverError(w, r, err)
		return
	}
	if err := h.Store.TouchLogin(r.Context(), u.ID); err != nil {
		h.serverError(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: h.CookieSecure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(SessionTTL.Seconds())})
	if next == "" || !strings.HasPrefix(next, homeOf(u.Role)) {
		next = homeOf(u.Role)
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}
