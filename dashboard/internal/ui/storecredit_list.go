package ui

import "net/http"

type storeCreditList struct{ *UI }

func (h storeCreditList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg := pageNumber(r)
	status := r.URL.Query().Get("status")
	cs, more, err := h.Store.StoreCredits(r.Context(), 0, status, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "storecredit_list", http.StatusOK, view{Title: "Store-credit requests", Page: pg, HasMore: more, Data: map[string]any{"Requests": cs}})
}
