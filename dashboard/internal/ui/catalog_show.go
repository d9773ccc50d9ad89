package ui

import "net/http"

type catalogShow struct{ *UI }

func (h catalogShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg := pageNumber(r)
	ps, more, err := h.Store.Products(r.Context(), r.URL.Query().Get("q"), pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "catalog", http.StatusOK, view{Title: "Catalog", Page: pg, HasMore: more, Data: map[string]any{"Products": ps, "Q": r.URL.Query().Get("q")}})
}
