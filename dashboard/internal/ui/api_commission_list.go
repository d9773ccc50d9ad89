package ui

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type apiCommissionList struct{ *UI }

// ServeHTTP lists the logged-in partner's commissions, newest first.
func (h apiCommissionList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s, _ := sessionOf(r)
	pg := pageNumber(r)
	cs, more, err := h.Store.Commissions(r.Context(), storage.CommissionFilter{PartnerID: s.User.PartnerID, State: r.URL.Query().Get("state")}, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	out := make([]map[string]any, len(cs))
	for i, c := range cs {
		cur, _ := money.ParseCurrency(c.Currency)
		m := map[string]any{"id": c.ID, "order_id": c.OrderID, "line_id": c.LineID, "currency": c.Currency,
			"base": money.Format(cur, c.BaseMinor), "rate": links.FormatRate(c.RateUPct), "amount": money.Format(cur, c.AmountMinor),
			"voided": money.Format(cur, c.VoidedAmountMinor), "clawed_back": money.Format(cur, c.ClawedBackAmountMinor),
			"kept": money.Format(cur, c.KeptMinor()), "state": c.State, "created_at": c.CreatedAt.UTC().Format(time.RFC3339)}
		if c.ApprovedAt != nil {
			m["approved_at"] = c.ApprovedAt.UTC().Format(time.RFC3339)
		}
		out[i] = m
	}
	writeJSON(w, http.StatusOK, map[string]any{"commissions": out, "has_more": more})
}
