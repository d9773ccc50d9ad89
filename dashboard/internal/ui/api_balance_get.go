package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/pkg/money"
)

type apiBalanceGet struct{ *UI }

// ServeHTTP answers the logged-in partner's balance, like the admin API's
// GET /api/admin/partners/{id}/balance.
func (h apiBalanceGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	b, cur, err := api.PartnerBalance(r.Context(), h.Store, h.Ledger, s.User.PartnerID)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, api.BalanceJSON{Currency: cur.Code(), Pending: money.Format(cur, b.PendingMinor),
		Available: money.Format(cur, b.AvailableMinor), Reserved: money.Format(cur, b.ReservedMinor),
		PaidOut: money.Format(cur, b.PaidOutMinor), InFlight: money.Format(cur, b.InFlightMinor)})
}
