package ui

import (
	"net/http"
	"strings"

	"github.com/openaff/affiliate/dashboard/internal/api"
	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type settingsUpdate struct{ *UI }

// ServeHTTP saves the program settings through the same validation as
// PUT /api/admin/program.
func (h settingsUpdate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const back = "/admin/settings"
	// An empty field keeps its setting.
	v := func(k string) *string {
		s := strings.TrimSpace(r.PostFormValue(k))
		if s == "" {
			return nil
		}
		return &s
	}
	patch := api.ProgramPatch{DefaultRate: v("default_rate"), AttributionWindow: v("attribution_window"),
		AttributionModel: v("attribution_model"), BindingWindow: v("binding_window"), ReservePercent: v("reserve_percent"),
		ReservePeriod: v("reserve_period"), AutoApproveAfter: v("auto_approve_after"), Currency: v("currency"), MinPayout: v("min_payout")}
	_, err := h.Store.ModifyProgram(r.Context(), func(p *storage.Program) error {
		// The form holds every setting: saved over a change made since the
		// page was loaded, it would put the old values back. Refused.
		if ver := r.PostFormValue("version"); ver != "" && ver != p.Version() {
			return storage.ErrProgramChanged
		}
		var err error
		*p, err = api.ApplyProgramPatch(*p, patch)
		return err
	})
	if err != nil {
		h.fail(w, r, back, err) // refusals name the field; others are 500s
		return
	}
	h.redirect(w, r, back, "Settings saved.")
}
