package ui

import "net/http"

type runList struct{ *UI }

func (h runList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg := pageNumber(r)
	rs, more, err := h.Store.SettlementRuns(r.Context(), pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "run_list", http.StatusOK, view{Title: "Settlement runs", Page: pg, HasMore: more, Data: map[string]any{"Runs": rs}})
}
