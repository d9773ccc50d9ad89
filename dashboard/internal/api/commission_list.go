package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type commissionList struct{ Deps }

// CommissionStates are the states a commission filter accepts.
var CommissionStates = []string{"pending", "partially_voided", "voided", "approved", "partially_clawed_back", "clawed_back"}

// CommissionFilterOf parses the commission filter query parameters.
func CommissionFilterOf(r *http.Request) (storage.CommissionFilter, error) {
	var f storage.CommissionFilter
	var err error
	if f.PartnerID, err = partnerParam(r); err != nil {
		return f, err
	}
	if f.From, err = dateParam(r, "from"); err != nil {
		return f, err
	}
	if f.To, err = dateParam(r, "to"); err != nil {
		return f, err
	}
	f.OrderID = r.URL.Query().Get("order_id")
	f.State = r.URL.Query().Get("state")
	if f.State != "" {
		ok := false
		for _, s := range CommissionStates {
			ok = ok || s == f.State
		}
		if !ok {
			return f, bad("state", "is not a commission state")
		}
	}
	return f, nil
}

func (h *commissionList) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, err := CommissionFilterOf(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cs, more, err := h.Store.Commissions(r.Context(), f, pageOf(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]commissionJSON, len(cs))
	for i, c := range cs {
		out[i] = commissionToJSON(c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"commissions": out, "has_more": more})
}
