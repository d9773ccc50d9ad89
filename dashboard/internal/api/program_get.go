package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type programGet struct{ Deps }

// programJSON is the wire form of the program settings.
type programJSON struct {
	DefaultRate       string `json:"default_rate"`
	AttributionWindow string `json:"attribution_window"`
	AttributionModel  string `json:"attribution_model"`
	BindingWindow     string `json:"binding_window"`
	ReservePercent    string `json:"reserve_percent"`
	ReservePeriod     string `json:"reserve_period"`
	AutoApproveAfter  string `json:"auto_approve_after"`
	MinPayout         string `json:"min_payout"`
	Currency          string `json:"currency"`
}

func programToJSON(p storage.Program) programJSON {
	cur, err := money.ParseCurrency(p.Currency)
	minPayout := ""
	if err == nil {
		minPayout = money.Format(cur, p.MinPayoutMinor)
	}
	return programJSON{
		DefaultRate:       links.FormatRate(p.DefaultRateUPct),
		AttributionWindow: p.AttributionWindow.String(),
		AttributionModel:  p.AttributionModel,
		BindingWindow:     p.BindingWindow.String(),
		ReservePercent:    links.FormatRate(p.ReserveUPct),
		ReservePeriod:     p.ReservePeriod.String(),
		AutoApproveAfter:  p.AutoApproveAfter.String(),
		MinPayout:         minPayout,
		Currency:          p.Currency,
	}
}

func (h *programGet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, programToJSON(p))
}
