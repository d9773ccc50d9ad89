package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/auth"
)

type storeCreditShow struct{ *UI }

// ServeHTTP lists the partner's store-credit requests with the request form.
func (h storeCreditShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	cs, more, err := h.Store.StoreCredits(r.Context(), s.User.PartnerID, "", pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_storecredit", http.StatusOK, view{Title: "Store credit", Page: pg, HasMore: more, Data: map[string]any{
		"Requests": cs, "Currency": p.Currency, "RequestID": auth.NewToken()}})
}
