package ui

import (
	"encoding/json"
	"net/http"
)

// The partner JSON API (/api/partner/…) uses the partner's session cookie;
// writes also need the X-CSRF-Token header (the token of the panel's forms).
// Answers and errors have the admin API's shape: {"error", "field"}.

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, msg, field string) {
	writeJSON(w, status, map[string]string{"error": msg, "field": field})
}

// requireJSONPartner refuses, in JSON, requests without a partner session.
func (u *UI) requireJSONPartner(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := sessionOf(r)
		switch {
		case !ok:
			jsonError(w, http.StatusUnauthorized, "log in first", "")
		case s.User.Role != partner:
			jsonError(w, http.StatusForbidden, "the partner API needs a partner login", "")
		default:
			next.ServeHTTP(w, r)
		}
	})
}
