package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/pkg/money"
)

type settingsShow struct{ *UI }

func (h settingsShow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	cur, _ := money.ParseCurrency(p.Currency)
	h.render(w, r, "settings", http.StatusOK, view{Title: "Program settings", Data: map[string]any{
		"P": p, "DefaultRate": links.FormatRate(p.DefaultRateUPct), "Reserve": links.FormatRate(p.ReserveUPct),
		"MinPayout": money.Format(cur, p.MinPayoutMinor)}})
}
