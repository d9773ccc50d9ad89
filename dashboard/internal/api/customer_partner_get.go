package api

import (
	"net/http"
	"time"
)

type customerPartnerGet struct{ Deps }

// ServeHTTP answers the customer's current binding; 404 when unbound.
func (h *customerPartnerGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	customerID, err := pathText(r, "customer_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := h.Store.CurrentBinding(r.Context(), customerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": b.CustomerID, "partner_id": b.PartnerID,
		"source": b.Source, "bound_at": b.BoundAt.UTC().Format(time.RFC3339)})
}
