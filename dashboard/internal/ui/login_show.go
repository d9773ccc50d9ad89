package ui

import "net/http"

type loginShow struct{ *UI }

func (h loginShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s, ok := sessionOf(r); ok {
		http.Redirect(w, r, homeOf(s.User.Role), http.StatusSeeOther)
		return
	}
	h.render(w, r, "login", http.StatusOK, view{Title: "Log in", Data: map[string]any{"Next": safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps only local paths as the after-login target (no open
// redirect through ?next=).
func safeNext(next string) string {
	if len(next) > 1 && len(next) < 500 && next[0] == '/' && next[1] != '/' && next[1] != '\\' {
		return next
	}
	return ""
}

func homeOf(role string) string {
	if role == "admin" {
		return "/admin"
	}
	return "/partner"
}
