package ui

import "net/http"

type partnerCustomers struct{ *UI }

// ServeHTTP lists the customers bound to the logged-in partner.
func (h partnerCustomers) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	cs, more, err := h.Store.BoundCustomers(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_customers", http.StatusOK, view{Title: "Customers", Page: pg, HasMore: more, Data: map[string]any{"Customers": cs}})
}
