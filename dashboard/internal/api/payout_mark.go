package api

import "net/http"

type payoutMark struct {
	Deps
	paid bool
}

// ServeHTTP marks a requested payout paid ({"reference"}) or failed
// ({"reason"}); the same mark twice is a no-op, the other one a 409.
func (h *payoutMark) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	note := in.Reference
	if !h.paid {
		note = in.Reason
	}
	if len(note) > 200 {
		h.fail(w, r, bad("reference", "is longer than 200 bytes"))
		return
	}
	if err := h.Store.DecidePayout(r.Context(), h.Ledger, id, h.paid, note, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	status := "paid"
	if !h.paid {
		status = "failed"
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": status})
}
