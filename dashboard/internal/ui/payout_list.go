package ui

import "net/http"

type payoutList struct{ *UI }

func (h payoutList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pg := pageNumber(r)
	pid, _ := parseID(r.URL.Query().Get("partner_id"))
	ps, more, err := h.Store.Payouts(r.Context(), pid, r.URL.Query().Get("status"), pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "payout_list", http.StatusOK, view{Title: "Payouts", Page: pg, HasMore: more, Data: map[string]any{"Payouts": ps}})
}
