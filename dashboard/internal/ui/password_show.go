package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/auth"
)

// passwordShow is the password page of the logged-in admin or partner.
type passwordShow struct{ *UI }

func (h passwordShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "password", http.StatusOK, passwordView(r, ""))
}

// passwordPath is the password page of the session's role: /admin/password
// or /partner/password.
func passwordPath(r *http.Request) string {
	s, _ := sessionOf(r)
	return "/" + s.User.Role + "/password"
}

// passwordView is the password page, with an error message or none.
func passwordView(r *http.Request, msg string) view {
	return view{Title: "Password", Error: msg, Data: map[string]any{"Min": auth.MinPasswordLen, "Max": auth.MaxPasswordLen,
		"Action": passwordPath(r)}}
}
