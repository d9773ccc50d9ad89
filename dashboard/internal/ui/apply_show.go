package ui

import "net/http"

type applyShow struct{ *UI }

func (h applyShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, "apply", http.StatusOK, view{Title: "Apply", Data: map[string]any{}})
}
