package api

import (
	"net/http"
	"time"
)

type storeCreditList struct{ Deps }

func (h *storeCreditList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	pid, err := partnerParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, more, err := h.Store.StoreCredits(r.Context(), pid, r.URL.Query().Get("status"), pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		out[i] = map[string]any{"id": c.ID, "partner_id": c.PartnerID, "customer_id": c.CustomerID,
			"amount": fmtMoney(c.Currency, c.AmountMinor), "currency": c.Currency, "status": c.Status,
			"reason": c.Reason, "requested_at": c.RequestedAt.UTC().Format(time.RFC3339)}
	}
	writeJSON(w, http.StatusOK, map[string]any{"store_credits": out, "has_more": more})
}
