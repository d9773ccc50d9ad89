package ui

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/pkg/money"
)

type apiAdjustmentList struct{ *UI }

// ServeHTTP lists the logged-in partner's adjustments and shipping-fee
// penalties, newest first; amounts are signed as they move the balance.
func (h apiAdjustmentList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	es, more, err := h.Store.MoneyHistoryPage(r.Context(), s.User.PartnerID, pageNumber(r))
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	out := make([]map[string]any, len(es))
	for i, e := range es {
		cur, _ := money.ParseCurrency(e.Currency)
		m := map[string]any{"kind": e.Kind, "amount": money.Format(cur, e.AmountMinor), "currency": e.Currency,
			"reason": e.Reason, "created_at": e.At.UTC().Format(time.RFC3339)}
		if e.OrderID != "" {
			m["order_id"] = e.OrderID
		}
		out[i] = m
	}
	writeJSON(w, http.StatusOK, map[string]any{"adjustments": out, "has_more": more})
}
