package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/links"
)

type rateList struct{ *UI }

// ServeHTTP shows the program-wide product and category rates (every
// partner) with the forms to set and remove them.
func (h rateList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pg := pageNumber(r)
	rs, more, err := h.Store.Rates(ctx, 0, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	p, err := h.Store.Program(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, "rate_list", http.StatusOK, view{Title: "Commission rates", Page: pg, HasMore: more, Data: map[string]any{
		"Rates": rs, "DefaultRate": links.FormatRate(p.DefaultRateUPct)}})
}
