package api

import (
	"net/http"
	"strings"
)

type storeCreditDecide struct {
	Deps
	approve bool
}

// ServeHTTP approves a store-credit request (the shop is told on the
// store_credits topic) or rejects it with {"reason"}.
func (h *storeCreditDecide) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if !h.approve && (in.Reason == "" || len(in.Reason) > 1000) {
		h.fail(w, r, bad("reason", "must be 1 to 1000 bytes"))
		return
	}
	if err := h.Store.DecideStoreCredit(r.Context(), h.Ledger, id, h.approve, in.Reason, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	status := "approved"
	if !h.approve {
		status = "rejected"
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": status})
}
