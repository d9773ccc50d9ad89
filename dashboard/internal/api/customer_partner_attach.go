package api

import (
	"encoding/json"
	"net/http"
)

type customerPartnerAttach struct{ Deps }

func (h *customerPartnerAttach) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	customerID, err := pathText(r, "customer_id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		PartnerID json.RawMessage `json:"partner_id"`
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
	if err := h.Store.AttachCustomer(r.Context(), customerID, pid, 0); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": customerID, "partner_id": pid})
}
