package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/auth"
)

type passwordShow struct{ *UI }

func (h passwordShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "partner_password", http.StatusOK, passwordView(""))
}

// passwordView is the password page, with an error message or none.
func passwordView(msg string) view {
	return view{Title: "Password", Error: msg, Data: map[string]any{"Min": auth.MinPasswordLen, "Max": auth.MaxPasswordLen}}
}
