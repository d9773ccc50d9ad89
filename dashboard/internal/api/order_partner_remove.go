package api

import (
	"encoding/json"
	"net/http"
)

type orderPartnerRemove struct{ Deps }

// ServeHTTP records an override removing any partner from the order. With
// a body {"partner_id"} it only removes that partner: another partner on
// the order is a 409.
func (h *orderPartnerRemove) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	orderID, err := pathText(r, "order_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		PartnerID json.RawMessage `json:"partner_id"`
		Reason    string          `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(r, &in); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	o, err := h.Store.Order(r.Context(), orderID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(in.PartnerID) > 0 {
		pid, err := parseID("partner_id", in.PartnerID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		cur := o.PartnerID
		if ov, ok, err := h.Store.OrderOverridePartner(r.Context(), orderID); err != nil {
			h.fail(w, r, err)
			return
		} else if ok {
			cur = ov
		}
		if cur != pid {
			writeError(w, http.StatusConflict, "the order is not attributed to that partner", "partner_id")
			return
		}
	}
	if err := h.Store.SetOrderPartner(r.Context(), orderID, 0, 0, in.Reason); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"order_id": orderID, "partner_id": nil, "status": "queued"})
}
