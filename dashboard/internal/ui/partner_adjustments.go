package ui

import "net/http"

type partnerAdjustments struct{ *UI }

// ServeHTTP lists the adjustments and shipping-fee penalties the admin
// made to the logged-in partner's balance, newest first. The partner is
// the session's, never one named by the request.
func (h partnerAdjustments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	es, more, err := h.Store.MoneyHistoryPage(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_adjustments", http.StatusOK, view{Title: "Adjustments and penalties", Page: pg, HasMore: more,
		Data: map[string]any{"History": es}})
}
