package ui

import "net/http"

type partnerProducts struct{ *UI }

// ServeHTTP lists the products in orders of the partner's linked customers.
func (h partnerProducts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	ls, more, err := h.Store.OrderProducts(r.Context(), s.User.PartnerID, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_products", http.StatusOK, view{Title: "Products", Page: pg, HasMore: more, Data: map[string]any{"Lines": ls}})
}
