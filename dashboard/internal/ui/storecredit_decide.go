package ui

import (
	"net/http"
	"strings"
)

type storeCreditDecide struct {
	*UI
	approve bool
}

// ServeHTTP approves (the shop is told through the outbox) or rejects with
// a reason a partner's store-credit request.
func (h storeCreditDecide) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/store-credits"
	id, ok := parseID(r.PathValue("id"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	s, _ := sessionOf(r)
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if !h.approve && (reason == "" || len(reason) > 1000) {
		h.redirect(w, r, back, "Error: give a reason to reject")
		return
	}
	if err := h.Store.DecideStoreCredit(r.Context(), h.Ledger, id, h.approve, reason, s.User.ID); err != nil {
		h.fail(w, r, back, err)
		return
	}
	h.redirect(w, r, back, "Request decided.")
}
