package ui

import "net/http"

type applicationList struct{ *UI }

func (h applicationList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status := r.URL.Query().Get("status")
	if status == "" {
		status = "pending"
	}
	if status == "all" {
		status = ""
	}
	pg := pageNumber(r)
	as, more, err := h.Store.Applications(r.Context(), status, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "application_list", http.StatusOK, view{Title: "Applications", Page: pg, HasMore: more,
		Data: map[string]any{"Applications": as, "Status": r.URL.Query().Get("status")}})
}
