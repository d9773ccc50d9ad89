package api

import (
	"net/http"
	"strings"
)

type applicationReject struct{ Deps }

// ServeHTTP rejects a pending application with a reason.
func (h *applicationReject) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decode(r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || len(reason) > 2000 {
		h.fail(w, r, bad("reason", "must be 1 to 2000 bytes"))
		return
	}
	if err := h.Store.RejectApplication(r.Context(), id, 0, reason); err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.Store.Application(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, applicationToJSON(a))
}
