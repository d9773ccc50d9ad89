package ui

import "net/http"

type homeShow struct{ *UI }

func (h homeShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if s, ok := sessionOf(r); ok {
		http.Redirect(w, r, homeOf(s.User.Role), http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
