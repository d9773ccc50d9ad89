package api

import (
	"encoding/json"
	"net/http"
)

type orderPartnerAttach struct{ Deps }

// ServeHTTP records an admin override attaching a partner to the order;
// the next settlement pass re-attributes it (202: queued).
func (h *orderPartnerAttach) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	orderID, err := pathText(r, "order_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		PartnerID json.RawMessage `json:"partner_id"`
		Reason    string          `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	pid, err := parseID("partner_id", in.PartnerID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(in.Reason) > 1000 {
		h.fail(w, r, bad("reason", "is longer than 1000 bytes"))
		return
	}
	if err := h.Store.SetOrderPartner(r.Context(), orderID, pid, 0, in.Reason); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"order_id": orderID, "partner_id": pid, "status": "queued"})
}
