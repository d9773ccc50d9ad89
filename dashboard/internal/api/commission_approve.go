package api

import (
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type commissionApprove struct{ Deps }

// ServeHTTP approves the pending commissions of {"order_id"} or the listed
// {"ids"}. Already approved or voided commissions are left alone, so a
// repeat answers {"approved": 0}. An unknown order or id is a 404. An order
// with unsettled changes (cancelled, queued for the settlement pass,
// re-attributed) is a 409; listed commissions of such orders stay pending
// and are counted in "skipped".
func (h *commissionApprove) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in struct {
		OrderID string  `json:"order_id"`
		IDs     []int64 `json:"ids"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if (in.OrderID == "") == (len(in.IDs) == 0) {
		h.fail(w, r, bad("order_id", "and ids: give exactly one of the two"))
		return
	}
	if len(in.IDs) > storage.MaxApproveBatch {
		h.fail(w, r, bad("ids", "at most %d per request", storage.MaxApproveBatch))
		return
	}
	if in.OrderID != "" {
		if _, err := h.Store.Order(r.Context(), in.OrderID); err != nil {
			h.fail(w, r, err)
			return
		}
	} else {
		found, err := h.Store.ExistingCommissionIDs(r.Context(), in.IDs)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, id := range in.IDs {
			if !found[id] {
				writeError(w, http.StatusNotFound, "no commission "+itoa(id), "ids")
				return
			}
		}
	}
	a, err := h.Store.Approve(r.Context(), h.Ledger, in.OrderID, in.IDs, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"approved": a.Approved, "skipped": a.Skipped})
}
