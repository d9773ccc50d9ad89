package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/openaff/affiliate/dashboard/internal/storage"
)

type customerPartnerDetach struct{ Deps }

// ServeHTTP detaches the customer from the partner named in the body; 404
// when the customer is not bound to that partner.
func (h *customerPartnerDetach) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	err = h.Store.DetachCustomer(r.Context(), customerID, pid, 0)
	if errors.Is(err, storage.ErrNotFound) {
		err = &storage.FieldError{Field: "partner_id", Msg: "is not the partner this customer is bound to", Err: storage.ErrNotFound}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer_id": customerID, "partner_id": nil})
}
