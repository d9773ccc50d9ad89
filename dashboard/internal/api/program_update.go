package api

import (
	"net/http"
	"time"

	"github.com/openaff/affiliate/dashboard/internal/links"
	"github.com/openaff/affiliate/dashboard/internal/storage"
	"github.com/openaff/affiliate/pkg/money"
)

type programUpdate struct{ Deps }

// MaxSettingDuration bounds every duration setting (100 years).
const MaxSettingDuration = 100 * 365 * 24 * time.Hour

// ProgramPatch holds the settings a PUT may change; absent fields keep
// their value.
type ProgramPatch struct {
	DefaultRate       *string `json:"default_rate"`
	AttributionWindow *string `json:"attribution_window"`
	AttributionModel  *string `json:"attribution_model"`
	BindingWindow     *string `json:"binding_window"`
	ReservePercent    *string `json:"reserve_percent"`
	ReservePeriod     *string `json:"reserve_period"`
	AutoApproveAfter  *string `json:"auto_approve_after"`
	MinPayout         *string `json:"min_payout"`
	Currency          *string `json:"currency"`
}

// ApplyProgramPatch validates patch against p and returns the new
// settings; the UI's settings form uses it too.
func ApplyProgramPatch(p storage.Program, in ProgramPatch) (storage.Program, error) {
	var err error
	if in.DefaultRate != nil {
		if p.DefaultRateUPct, err = links.ParsePercent(*in.DefaultRate); err != nil {
			return p, bad("default_rate", "%v", err)
		}
	}
	if in.ReservePercent != nil {
		if p.ReserveUPct, err = links.ParsePercent(*in.ReservePercent); err != nil {
			return p, bad("reserve_percent", "%v", err)
		}
	}
	if in.AttributionModel != nil {
		if *in.AttributionModel != "last_click" && *in.AttributionModel != "first_click" {
			return p, bad("attribution_model", "must be last_click or first_click")
		}
		p.AttributionModel = *in.AttributionModel
	}
	durations := []struct {
		field string
		in    *string
		out   *time.Duration
		min   time.Duration
	}{
		{"attribution_window", in.AttributionWindow, &p.AttributionWindow, time.Second},
		{"binding_window", in.BindingWindow, &p.BindingWindow, time.Second},
		{"reserve_period", in.ReservePeriod, &p.ReservePeriod, 0},
		{"auto_approve_after", in.AutoApproveAfter, &p.AutoApproveAfter, 0},
	}
	for _, d := range durations {
		if d.in == nil {
			continue
		}
		v, err := time.ParseDuration(*d.in)
		if err != nil {
			return p, bad(d.field, "is not a duration such as \"24h\"")
		}
		if v < d.min || v > MaxSettingDuration {
			return p, bad(d.field, "must be between %s and %s", d.min, MaxSettingDuration)
		}
		*d.out = v
	}
	if in.Currency != nil {
		if _, err := money.ParseCurrency(*in.Currency); err != nil {
			return p, bad("currency", "%v", err)
		}
		p.Currency = *in.Currency
	}
	if in.MinPayout != nil {
		cur, _ := money.ParseCurrency(p.Currency)
		if p.MinPayoutMinor, err = money.Parse(cur, *in.MinPayout); err != nil {
			return p, bad("min_payout", "%v", err)
		}
	}
	return p, nil
}

// ServeHTTP applies the patch; storage refuses a currency change once
// commissions or balances exist (a 409 on currency).
func (h *programUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in ProgramPatch
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	// The patch applies to the settings as they are when the change
	// commits (locked): a concurrent change of other settings stays.
	p, err := h.Store.ModifyProgram(r.Context(), func(p *storage.Program) error {
		var err error
		*p, err = ApplyProgramPatch(*p, in)
		return err
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, programToJSON(p))
}
