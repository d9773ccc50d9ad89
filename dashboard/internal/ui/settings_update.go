package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/api"
)

type settingsUpdate struct{ *UI }

// ServeHTTP saves the program settings through the same validation as
// PUT /api/admin/program.
func (h settingsUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/settings"
	p, err := h.Store.Program(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// An empty field keeps its setting.
	v := func(k string) *string {
		s := strings.TrimSpace(r.PostFormValue(k))
		if s == "" {
			return nil
		}
		return &s
	}
	p, err = api.ApplyProgramPatch(p, api.ProgramPatch{DefaultRate: v("default_rate"), AttributionWindow: v("attribution_window"),
		AttributionModel: v("attribution_model"), BindingWindow: v("binding_window"), ReservePercent: v("reserve_percent"),
		ReservePeriod: v("reserve_period"), AutoApproveAfter: v("auto_approve_after"), Currency: v("currency"), MinPayout: v("min_payout")})
	if err != nil {
		h.fail(w, r, back, err)
		return
	}
	if err := h.Store.UpdateProgram(r.Context(), p); err != nil {
		h.fail(w, r, back, err) // a refused currency change names the field; others are 500s
		return
	}
	h.redirect(w, r, back, "Settings saved.")
}
