package ui

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/api"
)

type commissionList struct{ *UI }

// ServeHTTP shows the commission history with filters, bulk approval and
// a CSV export of the same filter.
func (h commissionList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := api.CommissionFilterOf(r)
	if err != nil {
		msg, _ := api.BadRequestMessage(err)
		h.render(w, r, "commission_list", http.StatusBadRequest, view{Title: "Commissions", Error: msg, Data: map[string]any{"States": api.CommissionStates}})
		return
	}
	pg := pageNumber(r)
	cs, more, err := h.Store.Commissions(r.Context(), f, pg)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	q := r.URL.Query()
	q.Del("page")
	h.render(w, r, "commission_list", http.StatusOK, view{Title: "Commissions", Page: pg, HasMore: more, Data: map[string]any{
		"Commissions": cs, "States": api.CommissionStates, "F": f, "Q": q, "Export": "/admin/commissions.csv?" + q.Encode()}})
}
