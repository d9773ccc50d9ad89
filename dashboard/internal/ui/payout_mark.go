package ui

import "net/http"

type payoutMark struct {
	*UI
	paid bool
}

// ServeHTTP marks a requested payout paid (with the bank reference) or
// failed (the money returns to available).
func (h payoutMark) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/payouts"
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s, _ := sessionOf(r)
	if err := h.Store.DecidePayout(r.Context(), h.Ledger, id, h.paid, trimMax(r.PostFormValue("note"), 200), s.User.ID); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Payout updated.")
}
