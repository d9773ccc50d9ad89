package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type partnerCommissions struct{ *UI }

// ServeHTTP lists the partner's own commissions with state and dates; the
// partner filter is forced to the session's partner.
func (h partnerCommissions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	f := storage.CommissionFilter{PartnerID: s.User.PartnerID, State: r.URL.Query().Get("state")}
	cs, more, err := h.Store.Commissions(r.Context(), f, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "partner_commissions", http.StatusOK, view{Title: "Commissions", Page: pg, HasMore: more, Data: map[string]any{"Commissions": cs}})
}
